// `vmcp validate` and the command line: exit codes, the summary, every error listed, clear one-line
// errors for unreadable files and invalid YAML.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "cli/commands.h"

namespace vmcp::cli {
namespace {

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome RunCli(std::vector<std::string> args) {
  args.insert(args.begin(), "vmcp");
  std::ostringstream out, err;
  const int code = Run(args, out, err);
  return {code, out.str(), err.str()};
}

std::string WriteTemp(const std::string& name, const std::string& content) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::ofstream(path) << content;
  return path;
}

TEST(ValidateCommand, ValidConfigPrintsSummaryAndExitsZero) {
  const Outcome o = RunCli({"validate", "--config=config/examples/demo.yaml"});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("config config/examples/demo.yaml is valid"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("everything      proxy   streamable-http  http://127.0.0.1:4601/mcp  ca=system  auth=unauthenticated"),
            std::string::npos)
      << o.out;
  EXPECT_NE(o.out.find("everything-sse  proxy   sse              http://127.0.0.1:4602/sse"), std::string::npos) << o.out;
  EXPECT_EQ(o.err, "");
}

TEST(ValidateCommand, SpaceSeparatedFlagValueWorks) {
  EXPECT_EQ(RunCli({"validate", "--config", "config/examples/demo.yaml"}).code, 0);
}

TEST(ValidateCommand, InvalidConfigListsEveryErrorAndExitsOne) {
  const std::string path = WriteTemp("bad.yaml",
                                     "name: x\n"
                                     "backends:\n"
                                     "  - name: a\n"
                                     "    url: ftp://a\n"
                                     "    transport: grpc\n"
                                     "incomingAuth: {type: anonymous}\n"
                                     "outgoingAuth: {source: inline}\n"
                                     "aggregation: {conflictResolution: prefix, conflictResolutionConfig: {prefixFormt: x}}\n");
  const Outcome o = RunCli({"validate", "--config=" + path});
  EXPECT_EQ(o.code, 1);
  EXPECT_EQ(o.out, "");
  EXPECT_NE(o.err.find("is invalid: 5 errors"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("  - backends[0].url: must be an absolute http:// or https:// URL (line 4, column 10)"), std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("  - backends[0].transport: must be one of: streamable-http, streamable, sse (got \"grpc\") (line 5, "
                       "column 16)"),
            std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("  - aggregation.conflictResolutionConfig.prefixFormt: unknown key (line 8, column 70)"),
            std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("  - aggregation.conflictResolutionConfig.prefixFormat: is required for the prefix strategy"),
            std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("  - groupRef: is required"), std::string::npos) << o.err;
}

TEST(ValidateCommand, UnreadableFileIsOneLine) {
  const Outcome o = RunCli({"validate", "--config=/no/such/config.yaml"});
  EXPECT_EQ(o.code, 1);
  EXPECT_EQ(o.err,
            "config /no/such/config.yaml is invalid: 1 error\n"
            "  - cannot read config file /no/such/config.yaml: No such file or directory\n");
}

TEST(ValidateCommand, InvalidYamlHasLineAndColumn) {
  const std::string path = WriteTemp("broken.yaml", "name: x\ngroupRef: [a, b\n");
  const Outcome o = RunCli({"validate", "--config=" + path});
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.err.find("invalid YAML"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("(line 3, column 1)"), std::string::npos) << o.err;
}

TEST(ValidateCommand, WarningsGoToStderrOnSuccess) {
  const std::string path = WriteTemp("warn.yaml",
                                     "name: x\ngroupRef: g\nbackends:\n  - name: a\n    url: https://r.example.com/mcp\n"
                                     "    transport: streamable-http\n    caBundlePath: /etc/toolhive/ca-bundles/a/ca.crt\n"
                                     "incomingAuth: {type: anonymous}\noutgoingAuth: {source: inline}\n"
                                     "aggregation: {conflictResolution: prefix, conflictResolutionConfig: {prefixFormat: '{workload}_'}}\n");
  const Outcome o = RunCli({"validate", "--config=" + path});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("a  direct  streamable-http  https://r.example.com/mcp  ca=system+/etc/toolhive/ca-bundles/a/ca.crt"),
            std::string::npos)
      << o.out;
  EXPECT_NE(o.err.find("warning: backends[0].caBundlePath: set without `type`"), std::string::npos) << o.err;
}

TEST(CommandLine, UsageErrors) {
  EXPECT_EQ(RunCli({}).code, 2);
  EXPECT_EQ(RunCli({"frobnicate"}).code, 2);
  EXPECT_EQ(RunCli({"validate"}).code, 2);
  const Outcome unknown_flag = RunCli({"validate", "--confg=x"});
  EXPECT_EQ(unknown_flag.code, 2);
  EXPECT_NE(unknown_flag.err.find("unknown flag --confg"), std::string::npos);
  EXPECT_EQ(RunCli({"validate", "--config"}).code, 2);
  EXPECT_EQ(RunCli({"serve", "--config=config/examples/demo.yaml", "--port=70000"}).code, 2);
  EXPECT_EQ(RunCli({"help"}).code, 0);
  const Outcome version = RunCli({"version"});
  EXPECT_EQ(version.code, 0);
  EXPECT_EQ(version.out, "vmcp 0.1.0\n");
}

}  // namespace
}  // namespace vmcp::cli
