#include "config/duration.h"

#include <cstdint>
#include <limits>

#include "absl/status/status.h"

namespace vmcp::config {
namespace {

constexpr uint64_t kNanosecond = 1;
constexpr uint64_t kMicrosecond = 1000 * kNanosecond;
constexpr uint64_t kMillisecond = 1000 * kMicrosecond;
constexpr uint64_t kSecond = 1000 * kMillisecond;
constexpr uint64_t kMinute = 60 * kSecond;
constexpr uint64_t kHour = 60 * kMinute;
constexpr uint64_t kMaxMagnitude = uint64_t{1} << 63;  // |math.MinInt64|

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Returns the unit's length in nanoseconds, or 0 when the unit is not known.
uint64_t UnitNanos(std::string_view unit) {
  if (unit == "ns") return kNanosecond;
  if (unit == "us" || unit == "\xC2\xB5s" /* µs, U+00B5 */ || unit == "\xCE\xBCs" /* μs, U+03BC */)
    return kMicrosecond;
  if (unit == "ms") return kMillisecond;
  if (unit == "s") return kSecond;
  if (unit == "m") return kMinute;
  if (unit == "h") return kHour;
  return 0;
}

absl::Status Invalid(std::string_view text, std::string_view why) {
  std::string message = "invalid duration \"";
  message.append(text).append("\": ").append(why);
  return absl::InvalidArgumentError(message);
}

// Writes the fraction digits of v/10^prec (trailing zeros dropped) before `end`; returns the new start
// and leaves the integer part in v. Mirrors Go's fmtFrac.
size_t FormatFraction(char* buf, size_t end, uint64_t& v, int prec) {
  bool print = false;
  for (int i = 0; i < prec; ++i) {
    const uint64_t digit = v % 10;
    print = print || digit != 0;
    if (print) buf[--end] = static_cast<char>('0' + digit);
    v /= 10;
  }
  if (print) buf[--end] = '.';
  return end;
}

size_t FormatInt(char* buf, size_t end, uint64_t v) {
  if (v == 0) {
    buf[--end] = '0';
    return end;
  }
  while (v > 0) {
    buf[--end] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return end;
}

}  // namespace

absl::StatusOr<Duration> ParseGoDuration(std::string_view text) {
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return Duration::zero();
  if (s.empty()) return Invalid(text, "empty");

  uint64_t total = 0;
  while (!s.empty()) {
    // The number: integer part, then an optional fraction.
    if (!(s.front() == '.' || IsDigit(s.front()))) {
      return Invalid(text, "expected a number before each unit");
    }
    uint64_t whole = 0;
    bool overflow = false;
    size_t i = 0;
    for (; i < s.size() && IsDigit(s[i]); ++i) {
      if (whole > (std::numeric_limits<uint64_t>::max() - 9) / 10 || whole * 10 + (s[i] - '0') > kMaxMagnitude) {
        overflow = true;
      } else {
        whole = whole * 10 + static_cast<uint64_t>(s[i] - '0');
      }
    }
    const bool had_whole = i > 0;
    if (overflow) return Invalid(text, "out of range");
    s.remove_prefix(i);

    uint64_t frac = 0;
    double scale = 1;
    bool had_frac = false;
    if (!s.empty() && s.front() == '.') {
      s.remove_prefix(1);
      size_t j = 0;
      for (; j < s.size() && IsDigit(s[j]); ++j) {
        // Digits past what fits are dropped (they are below a nanosecond once scaled).
        if (frac <= (std::numeric_limits<uint64_t>::max() - 9) / 10 && scale < 1e18) {
          frac = frac * 10 + static_cast<uint64_t>(s[j] - '0');
          scale *= 10;
        }
      }
      had_frac = j > 0;
      s.remove_prefix(j);
    }
    if (!had_whole && !had_frac) return Invalid(text, "expected a number before each unit");

    // The unit: everything up to the next digit or '.'.
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && !IsDigit(s[u])) ++u;
    if (u == 0) return Invalid(text, "missing unit (use ns, us, ms, s, m or h)");
    const std::string_view unit = s.substr(0, u);
    const uint64_t unit_nanos = UnitNanos(unit);
    if (unit_nanos == 0) {
      return Invalid(text, "unknown unit \"" + std::string(unit) + "\" (use ns, us, ms, s, m or h)");
    }
    s.remove_prefix(u);

    if (whole > kMaxMagnitude / unit_nanos) return Invalid(text, "out of range");
    uint64_t value = whole * unit_nanos;
    if (frac > 0) {
      const double extra = static_cast<double>(frac) * (static_cast<double>(unit_nanos) / scale);
      if (extra > static_cast<double>(kMaxMagnitude)) return Invalid(text, "out of range");
      value += static_cast<uint64_t>(extra);
      if (value > kMaxMagnitude) return Invalid(text, "out of range");
    }
    total += value;
    if (total > kMaxMagnitude) return Invalid(text, "out of range");
  }
  if (!negative && total > kMaxMagnitude - 1) return Invalid(text, "out of range");
  if (negative) {
    if (total == kMaxMagnitude) return Duration(std::numeric_limits<int64_t>::min());
    return Duration(-static_cast<int64_t>(total));
  }
  return Duration(static_cast<int64_t>(total));
}

std::string FormatGoDuration(Duration d) {
  char buf[32];
  size_t w = sizeof(buf);
  const int64_t n = d.count();
  uint64_t u = n < 0 ? uint64_t{0} - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
  const bool negative = n < 0;

  if (u < kSecond) {
    // Sub-second: a smaller unit, e.g. "1.2ms".
    if (u == 0) return "0s";
    int prec = 0;
    buf[--w] = 's';
    --w;
    if (u < kMicrosecond) {
      buf[w] = 'n';
    } else if (u < kMillisecond) {
      prec = 3;
      // U+00B5 'µ' is two bytes in UTF-8.
      --w;
      buf[w] = '\xC2';
      buf[w + 1] = '\xB5';
    } else {
      prec = 6;
      buf[w] = 'm';
    }
    w = FormatFraction(buf, w, u, prec);
    w = FormatInt(buf, w, u);
  } else {
    buf[--w] = 's';
    w = FormatFraction(buf, w, u, 9);
    w = FormatInt(buf, w, u % 60);
    u /= 60;
    if (u > 0) {
      buf[--w] = 'm';
      w = FormatInt(buf, w, u % 60);
      u /= 60;
      if (u > 0) {
        buf[--w] = 'h';
        w = FormatInt(buf, w, u);
      }
    }
  }
  if (negative) buf[--w] = '-';
  return std::string(buf + w, sizeof(buf) - w);
}

}  // namespace vmcp::config
