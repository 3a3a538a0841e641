// File: bench/flags.h
//
// The benchmark tools' command line: `--name=value` and bare `--switch` (= "true"), checked against the
// names a tool knows so that a typo is an error rather than a silently ignored setting.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <iostream>
#include <map>
#include <set>
#include <string>

namespace vmcp::bench {

class Flags {
 public:
  // Parses argv; on an unknown or malformed flag prints why to stderr and exits with status 2.
  Flags(int argc, char** argv, std::initializer_list<const char*> known) {
    std::set<std::string> names(known.begin(), known.end());
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) Fail("unexpected argument \"" + a + "\"");
      a = a.substr(2);
      const size_t eq = a.find('=');
      std::string name = a.substr(0, eq);
      std::string value = eq == std::string::npos ? "true" : a.substr(eq + 1);
      if (!names.count(name)) Fail("unknown flag --" + name);
      values_[name] = value;
    }
  }

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Str(const std::string& name, const std::string& fallback = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  int64_t Int(const std::string& name, int64_t fallback) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    char* end = nullptr;
    const long long v = std::strtoll(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0') Fail("--" + name + " needs an integer, got \"" + it->second + "\"");
    return v;
  }
  double Double(const std::string& name, double fallback) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    char* end = nullptr;
    const double v = std::strtod(it->second.c_str(), &end);
    if (it->second.empty() || *end != '\0') Fail("--" + name + " needs a number, got \"" + it->second + "\"");
    return v;
  }
  bool Bool(const std::string& name, bool fallback) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    if (it->second == "true" || it->second == "1") return true;
    if (it->second == "false" || it->second == "0") return false;
    Fail("--" + name + " takes true or false, got \"" + it->second + "\"");
    return fallback;
  }

  [[noreturn]] static void Fail(const std::string& why) {
    std::cerr << "error: " << why << "\n";
    std::exit(2);
  }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace vmcp::bench
