// Robustness: random mutations of the example configs (byte flips, insertions, deletions, line
// shuffles, splices between examples) never crash or hang the loader; each input either loads or is
// refused with at least one error. Run under AddressSanitizer + UBSan by the test command, where any
// memory error or undefined behaviour fails the test.

#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "config/loader.h"
#include "config/summary.h"
#include "tests/config/test_util.h"

namespace vmcp::config {
namespace {

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  for (const char* name : {"direct-token-exchange.yaml", "proxy-header-injection.yaml", "mixed-header-forward.yaml",
                           "demo.yaml"}) {
    seeds.push_back(testing::ReadFileOrDie(std::string("config/examples/") + name));
  }
  seeds.push_back(testing::kBaseConfig);
  return seeds;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string line;
  while (std::getline(ss, line)) out.push_back(line);
  return out;
}

std::string Mutate(const std::string& in, const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  static const std::vector<std::string> kTokens = {
      ":", "- ", "  ", "\t", "{", "}", "[", "]", "'", "\"", "&a ", "*a", "!!binary ", "#", "\n", "\r\n", "\xEF\xBB\xBF",
      "\xC3", "~", "null", "true", "-1", "1e999", "0x7fffffffffffffff", "99999999999999999999", "1h2m3.5s", "250\xC2\xB5s",
      "? ", "|\n", ">-\n", "%YAML 1.2\n---\n", "...\n", "<<: *a\n", "type: direct", "caBundlePath: ..", "#frag"};
  std::string s = in;
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 7) {
      case 0:  // flip a byte
        if (!s.empty()) s[pos % s.size()] = static_cast<char>(rng() % 256);
        break;
      case 1:  // insert a token
        s.insert(pos, kTokens[rng() % kTokens.size()]);
        break;
      case 2:  // delete a range
        if (!s.empty()) s.erase(pos % s.size(), 1 + rng() % 16);
        break;
      case 3: {  // duplicate a line elsewhere
        auto lines = Lines(s);
        if (lines.empty()) break;
        lines.insert(lines.begin() + static_cast<long>(rng() % lines.size()), lines[rng() % lines.size()]);
        std::string joined;
        for (const auto& l : lines) joined += l + "\n";
        s = joined;
        break;
      }
      case 4: {  // swap two lines
        auto lines = Lines(s);
        if (lines.size() < 2) break;
        std::swap(lines[rng() % lines.size()], lines[rng() % lines.size()]);
        std::string joined;
        for (const auto& l : lines) joined += l + "\n";
        s = joined;
        break;
      }
      case 5: {  // splice a piece of another seed
        const std::string& other = seeds[rng() % seeds.size()];
        const size_t from = rng() % other.size();
        s.insert(pos, other.substr(from, 1 + rng() % 200));
        break;
      }
      case 6:  // change indentation of a line
        s.insert(pos, std::string(1 + rng() % 6, ' '));
        break;
    }
  }
  return s;
}

TEST(ConfigFuzz, RandomMutationsNeverCrash) {
  const std::vector<std::string> seeds = Seeds();
  MapEnvironment env({{"TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET_SALESFORCE_AUTH", "x"},
                      {"TOOLHIVE_HEADER_INJECTION_VALUE_FETCH_KEY", "y"},
                      {"TOOLHIVE_HEADER_FORWARD_CONTEXT7", R"({"addPlaintextHeaders":{"X-T":"t"}})"}});
  std::mt19937_64 rng(20261123);
#ifdef VMCP_SANITIZED
  constexpr int kIterations = 10000;
#else
  constexpr int kIterations = 30000;
#endif
  int loaded = 0;
  int refused = 0;
  for (int i = 0; i < kIterations; ++i) {
    const std::string input = Mutate(seeds[static_cast<size_t>(i) % seeds.size()], seeds, rng);
    const LoadResult r = LoadConfigText(input, env);
    if (r.ok()) {
      ++loaded;
      // A loaded config is fully usable.
      EXPECT_FALSE(SummarizeConfig(*r.config).empty());
    } else {
      ++refused;
      ASSERT_FALSE(r.errors.empty()) << input;
      for (const ConfigError& e : r.errors) ASSERT_FALSE(e.message.empty()) << input;
    }
  }
  // Both outcomes happen: the mutations are neither all harmless nor all fatal.
  EXPECT_GT(loaded, kIterations / 50);
  EXPECT_GT(refused, kIterations / 4);
}

}  // namespace
}  // namespace vmcp::config
