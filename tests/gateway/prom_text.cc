#include "tests/gateway/prom_text.h"

#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vmcp::testing {
namespace {

const std::regex kName("[a-zA-Z_:][a-zA-Z0-9_:]*");
const std::regex kLabelName("[a-zA-Z_][a-zA-Z0-9_]*");

absl::Status LineError(int line, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", what));
}

bool ParseValue(const std::string& s, double& out) {
  if (s == "+Inf") {
    out = INFINITY;
    return true;
  }
  if (s == "-Inf") {
    out = -INFINITY;
    return true;
  }
  if (s == "NaN") {
    out = NAN;
    return true;
  }
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size();
}

// The family a sample belongs to: histograms' _bucket/_sum/_count series belong to the base name.
std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string sfx(suffix);
    if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
      const std::string base = name.substr(0, name.size() - sfx.size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return name;
}

}  // namespace

absl::StatusOr<PromSamples> ParsePromText(const std::string& text) {
  PromSamples out;
  if (!text.empty() && text.back() != '\n') return absl::InvalidArgumentError("the text does not end with a newline");
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  // Histogram checks: per (family, labels without le) the buckets in order, the count, the sum.
  struct Hist {
    std::vector<std::pair<double, double>> buckets;
    double count = -1;
    bool has_sum = false;
  };
  std::map<std::string, Hist> hists;
  std::set<std::string> sampled_families;
  int n = 0;
  for (const std::string& line : lines) {
    ++n;
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(' ', 3));
      if (parts.size() >= 3 && parts[1] == "TYPE") {
        if (parts.size() != 4) return LineError(n, "TYPE needs a name and a type");
        if (!std::regex_match(parts[2], kName)) return LineError(n, "bad metric name " + parts[2]);
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
        if (!kTypes.count(parts[3])) return LineError(n, "unknown type " + parts[3]);
        if (out.types.count(parts[2])) return LineError(n, "TYPE given twice for " + parts[2]);
        if (sampled_families.count(parts[2])) return LineError(n, "TYPE after samples of " + parts[2]);
        out.types[parts[2]] = parts[3];
      } else if (parts.size() >= 3 && parts[1] == "HELP") {
        if (!std::regex_match(parts[2], kName)) return LineError(n, "bad metric name " + parts[2]);
      }
      continue;
    }
    // name{labels} value
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    const std::string name = line.substr(0, i);
    if (!std::regex_match(name, kName)) return LineError(n, "bad metric name '" + name + "'");
    std::vector<std::pair<std::string, std::string>> labels;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos) return LineError(n, "label without '='");
        const std::string lname = line.substr(i, eq - i);
        if (!std::regex_match(lname, kLabelName)) return LineError(n, "bad label name '" + lname + "'");
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') return LineError(n, "label value not quoted");
        ++i;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i >= line.size()) return LineError(n, "dangling escape");
            char e = line[i++];
            if (e == 'n') {
              value += '\n';
            } else if (e == '\\' || e == '"') {
              value += e;
            } else {
              return LineError(n, "bad escape");
            }
          } else {
            value += c;
          }
        }
        if (!closed) return LineError(n, "unterminated label value");
        for (const auto& [k, v] : labels) {
          if (k == lname) return LineError(n, "label " + lname + " twice");
        }
        labels.emplace_back(lname, value);
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return LineError(n, "unterminated label set");
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') return LineError(n, "no value");
    std::vector<std::string> rest = absl::StrSplit(line.substr(i + 1), ' ');
    if (rest.empty() || rest.size() > 2) return LineError(n, "expected a value and an optional timestamp");
    double value = 0;
    if (!ParseValue(rest[0], value)) return LineError(n, "bad value '" + rest[0] + "'");
    const std::string family = FamilyOf(name, out.types);
    auto type = out.types.find(family);
    if (type == out.types.end()) return LineError(n, "sample of " + name + " before its TYPE");
    sampled_families.insert(family);
    std::string key = name;
    std::string key_without_le = name.substr(0, family.size());
    double le = NAN;
    if (!labels.empty()) {
      key += "{";
      bool first = true;
      std::string rest_labels;
      for (const auto& [k, v] : labels) {
        absl::StrAppend(&key, first ? "" : ",", k, "=\"", v, "\"");
        first = false;
        if (k == "le") {
          if (!ParseValue(v, le)) return LineError(n, "bad le '" + v + "'");
        } else {
          absl::StrAppend(&rest_labels, rest_labels.empty() ? "" : ",", k, "=", v);
        }
      }
      key += "}";
      key_without_le += "{" + rest_labels + "}";
    }
    if (out.values.count(key)) return LineError(n, "series " + key + " twice");
    out.values[key] = value;
    if (type->second == "counter" && value < 0) return LineError(n, "negative counter");
    if (type->second == "histogram") {
      Hist& h = hists[key_without_le];
      const std::string suffix = name.substr(family.size());
      if (suffix == "_bucket") {
        if (std::isnan(le)) return LineError(n, "bucket without le");
        if (!h.buckets.empty() && (le <= h.buckets.back().first || value < h.buckets.back().second)) {
          return LineError(n, "buckets out of order or decreasing");
        }
        h.buckets.emplace_back(le, value);
      } else if (suffix == "_count") {
        h.count = value;
      } else if (suffix == "_sum") {
        h.has_sum = true;
      } else {
        return LineError(n, "histogram sample " + name + " is not _bucket, _sum or _count");
      }
    }
  }
  for (const auto& [series, h] : hists) {
    if (h.buckets.empty() || !std::isinf(h.buckets.back().first)) {
      return absl::InvalidArgumentError(series + ": no +Inf bucket");
    }
    if (h.count != h.buckets.back().second) return absl::InvalidArgumentError(series + ": _count differs from +Inf");
    if (!h.has_sum) return absl::InvalidArgumentError(series + ": no _sum");
  }
  return out;
}

}  // namespace vmcp::testing
