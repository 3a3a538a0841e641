#include "cli/commands.h"

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <map>
#include <optional>
#include <ostream>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "config/loader.h"
#include "config/summary.h"
#include "discovery/config_watcher.h"
#include "gateway/gateway.h"
#include "gateway/log.h"

namespace vmcp::cli {
namespace {

constexpr char kVersion[] = "0.1.0";

constexpr char kUsage[] =
    "usage: vmcp <command> [flags]\n"
    "\n"
    "commands:\n"
    "  serve     --config=PATH [--host=127.0.0.1] [--port=4483] [--debug]   run the virtual MCP server\n"
    "            [--allowed-hosts=H1,H2] [--allowed-origins=O1,O2]           DNS-rebinding allow-lists\n"
    "            (also $VMCP_ALLOWED_HOSTS, $VMCP_ALLOWED_ORIGINS)\n"
    "            [--threads=N]                                             I/O threads (default: one per core)\n"
    "            [--busy-poll-us=N]                                        poll N us for work before sleeping\n"
    "                                                                      (default 50; 0: sleep at once)\n"
    "  validate  --config=PATH                                               check a config.yaml and summarize it\n"
    "  version                                                               print the version\n";

struct Flags {
  std::map<std::string, std::string> values;
  std::map<std::string, bool> switches;
};

// Parses `--name=value`, `--name value` and bare `--switch`. Returns an error text or "".
std::string ParseFlags(const std::vector<std::string>& args, size_t first, const std::map<std::string, bool>& known,
                       Flags& flags) {
  for (size_t i = first; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 && a.rfind("-", 0) != 0) return "unexpected argument \"" + a + "\"";
    std::string body = a.substr(a.rfind("--", 0) == 0 ? 2 : 1);
    std::optional<std::string> value;
    if (const size_t eq = body.find('='); eq != std::string::npos) {
      value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    auto it = known.find(body);
    if (it == known.end()) return "unknown flag --" + body;
    const bool takes_value = it->second;
    if (!takes_value) {
      if (value && *value != "true" && *value != "false") return "--" + body + " takes no value";
      flags.switches[body] = !value || *value == "true";
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) return "--" + body + " needs a value";
      value = args[++i];
    }
    flags.values[body] = *value;
  }
  return "";
}

// A comma-separated allow-list of Host values (name or name:port) or Origins (scheme://authority, or
// "*"). Returns an error text naming the flag and the bad entry, or "".
std::string ParseAllowList(const std::string& flag, const std::string& text, bool origins, std::vector<std::string>& out) {
  for (absl::string_view raw : absl::StrSplit(text, ',')) {
    const std::string entry(absl::StripAsciiWhitespace(raw));
    if (entry.empty()) continue;
    if (entry.find_first_of(" \t/\r\n") != std::string::npos && !origins) {
      return flag + ": \"" + entry + "\" is not a host name or host:port";
    }
    if (origins && entry != "*") {
      const size_t scheme = entry.find("://");
      if (scheme == std::string::npos || scheme == 0 || entry.size() == scheme + 3 ||
          entry.find_first_of(" \t\r\n/", scheme + 3) != std::string::npos) {
        return flag + ": \"" + entry + "\" is not an origin (scheme://host[:port]) or *";
      }
    }
    out.push_back(absl::AsciiStrToLower(entry));
  }
  return "";
}

std::vector<std::string> ErrorTexts(const std::vector<config::ConfigError>& errors) {
  std::vector<std::string> out;
  for (const config::ConfigError& e : errors) out.push_back(e.ToString());
  return out;
}

int Validate(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Flags flags;
  if (std::string e = ParseFlags(args, 2, {{"config", true}, {"c", true}}, flags); !e.empty()) {
    err << "vmcp validate: " << e << "\n" << kUsage;
    return 2;
  }
  std::string path = flags.values.count("config") ? flags.values["config"] : flags.values["c"];
  if (path.empty()) {
    err << "vmcp validate: --config=PATH is required\n";
    return 2;
  }
  config::ProcessEnvironment env;
  const config::LoadResult r = config::LoadConfigFile(path, env);
  for (const config::ConfigError& w : r.warnings) err << "warning: " << w.ToString() << "\n";
  if (!r.ok()) {
    err << "config " << path << " is invalid: " << r.errors.size() << (r.errors.size() == 1 ? " error\n" : " errors\n");
    for (const config::ConfigError& e : r.errors) err << "  - " << e.ToString() << "\n";
    return 1;
  }
  out << "config " << path << " is valid\n" << config::SummarizeConfig(*r.config);
  return 0;
}

int Serve(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Flags flags;
  if (std::string e = ParseFlags(args, 2,
                                 {{"config", true},
                                  {"c", true},
                                  {"host", true},
                                  {"port", true},
                                  {"threads", true},
                                  {"busy-poll-us", true},
                                  {"debug", false},
                                  {"allowed-hosts", true},
                                  {"allowed-origins", true}},
                                 flags);
      !e.empty()) {
    err << "vmcp serve: " << e << "\n" << kUsage;
    return 2;
  }
  const std::string path = flags.values.count("config") ? flags.values["config"] : flags.values["c"];
  if (path.empty()) {
    err << "vmcp serve: --config=PATH is required\n";
    return 2;
  }
  int port = 4483;
  if (flags.values.count("port") && (!absl::SimpleAtoi(flags.values["port"], &port) || port < 0 || port > 65535)) {
    err << "vmcp serve: --port must be a number between 0 and 65535\n";
    return 2;
  }
  int threads = 0;
  if (flags.values.count("threads") && (!absl::SimpleAtoi(flags.values["threads"], &threads) || threads < 1 || threads > 256)) {
    err << "vmcp serve: --threads must be a number between 1 and 256\n";
    return 2;
  }
  // A thread that ran out of work polls this long before it sleeps: at low concurrency the wake-up of a
  // sleeping thread costs more than the call's own work (see transport::ServerOptions::busy_poll).
  int busy_poll_us = 50;
  if (flags.values.count("busy-poll-us") &&
      (!absl::SimpleAtoi(flags.values["busy-poll-us"], &busy_poll_us) || busy_poll_us < 0 || busy_poll_us > 10000)) {
    err << "vmcp serve: --busy-poll-us must be a number between 0 and 10000\n";
    return 2;
  }
  auto env_holder = std::make_shared<config::ProcessEnvironment>();
  const config::ProcessEnvironment& env = *env_holder;
  GatewayOptions options;
  // The allow-lists: a flag wins over its environment variable (the operator can set either).
  for (const auto& [flag, var, origins] : {std::tuple{"allowed-hosts", "VMCP_ALLOWED_HOSTS", false},
                                           std::tuple{"allowed-origins", "VMCP_ALLOWED_ORIGINS", true}}) {
    std::optional<std::string> text;
    std::string source = std::string("--") + flag;
    if (flags.values.count(flag)) {
      text = flags.values[flag];
    } else if (auto v = env.Get(var)) {
      text = *v;
      source = std::string("$") + var;
    }
    if (!text) continue;
    std::vector<std::string>& list = origins ? options.allowed_origins : options.allowed_hosts;
    if (std::string e = ParseAllowList(source, *text, origins, list); !e.empty()) {
      err << "vmcp serve: " << e << "\n";
      return 2;
    }
  }
  // The first config, with the hash the watcher starts from (a change made from here on is seen).
  discovery::ConfigUpdate r = discovery::LoadConfigSnapshot(path, env);
  for (const config::ConfigError& w : r.warnings) err << "warning: " << w.ToString() << "\n";
  if (!r.config) {
    err << "config " << path << " is invalid: " << r.errors.size() << (r.errors.size() == 1 ? " error\n" : " errors\n");
    for (const config::ConfigError& e : r.errors) err << "  - " << e.ToString() << "\n";
    return 1;
  }
  options.host = flags.values.count("host") ? flags.values["host"] : "127.0.0.1";
  options.threads = threads;
  options.busy_poll = std::chrono::microseconds(busy_poll_us);
  options.port = static_cast<uint16_t>(port);
  options.debug = flags.switches["debug"] || r.config->operational.value_or(config::OperationalConfig{}).log_level == "debug";
  const std::string name = r.config->name;
  // Signals are taken synchronously by this thread; the gateway's threads (started from here on, and
  // inheriting the mask) never see them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto gateway = Gateway::Create(std::move(*r.config), options);
  if (!gateway.ok()) {
    err << "vmcp serve: " << gateway.status().message() << "\n";
    return 1;
  }
  auto bound = (*gateway)->Start();
  if (!bound.ok()) {
    err << "vmcp serve: " << bound.status().message() << "\n";
    return 1;
  }
  // The mounted ConfigMap, watched: a valid new config is applied, an invalid one refused (the last good
  // one keeps serving). SIGHUP re-reads it at once.
  Gateway* gw = gateway->get();
  // The command's own lines, in the gateway's structured format.
  gateway::Logger log(gateway::LogLevel::kInfo, [&err](const std::string& line) { err << line << std::endl; });
  discovery::ConfigWatcher::Options watch;
  watch.initial_sha256 = r.content_sha256;
  auto watcher = discovery::ConfigWatcher::Start(path, env_holder, watch, [gw, &log, path](discovery::ConfigUpdate u) {
    if (!u.config) {
      gw->ConfigRefused(ErrorTexts(u.errors));
      return;
    }
    absl::Status s = gw->Reload(std::move(*u.config));
    if (s.ok()) log.Info("config file changed: applied", {{"path", path}});
  });
  if (!watcher.ok()) {
    log.Warn("config file not watched; SIGHUP reloads it", {{"path", path}, {"error", std::string(watcher.status().message())}});
  }
  out << "vmcp: serving \"" << name << "\" at http://" << (options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host)
      << ":" << *bound << "/mcp" << std::endl;
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      log.Info("SIGHUP: re-reading the config", {{"path", path}});
      if (watcher.ok()) {
        (*watcher)->Trigger();
        continue;
      }
      discovery::ConfigUpdate next = discovery::LoadConfigSnapshot(path, env);
      if (!next.config) {
        gw->ConfigRefused(ErrorTexts(next.errors));
      } else if (gw->Reload(std::move(*next.config)).ok()) {
        log.Info("config reloaded", {{"path", path}});
      }
      continue;
    }
    log.Info("stopping: calls in flight get up to 10 s", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    if (watcher.ok()) (*watcher)->Stop();
    (*gateway)->Stop(std::chrono::seconds(10));
    log.Info("stopped");
    return 0;
  }
}

}  // namespace

int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.size() < 2 || args[1] == "help" || args[1] == "--help" || args[1] == "-h") {
    (args.size() < 2 ? err : out) << kUsage;
    return args.size() < 2 ? 2 : 0;
  }
  const std::string& command = args[1];
  if (command == "validate") return Validate(args, out, err);
  if (command == "serve") return Serve(args, out, err);
  if (command == "version" || command == "--version") {
    out << "vmcp " << kVersion << "\n";
    return 0;
  }
  err << "vmcp: unknown command \"" << command << "\"\n" << kUsage;
  return 2;
}

}  // namespace vmcp::cli
