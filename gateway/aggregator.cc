// File: gateway/aggregator.cc
//
// See aggregator.h. Go references are to stacklok/toolhive pkg/vmcp at the commit the spec names.
#include "gateway/aggregator.h"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gateway/jsonrpc.h"

namespace vmcp::gateway {
namespace {

using Json = nlohmann::json;

// Debian's abseil has its own string_view; std::string_view does not convert implicitly.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Quoted(std::string_view s) { return absl::StrCat("\"", AV(s), "\""); }

// The non-empty string member `key` of `item`, or nullptr.
const std::string* KeyOf(const Json& item, const char* key) {
  if (!item.is_object()) return nullptr;
  auto it = item.find(key);
  if (it == item.end() || !it->is_string()) return nullptr;
  const std::string& value = it->get_ref<const std::string&>();
  return value.empty() ? nullptr : &value;
}

constexpr char kPrefix[] = "prefix";
constexpr char kPriority[] = "priority";
constexpr char kManual[] = "manual";

}  // namespace

std::string ApplyPrefixFormat(std::string_view prefix_format, std::string_view backend, std::string_view name) {
  return absl::StrCat(absl::StrReplaceAll(AV(prefix_format), {{"{workload}", AV(backend)}}), AV(name));
}

// ---------------------------------------------------------------------------------------------
// RFC 6570 template matching
//
// A template compiles to a Thompson NFA over bytes, built the way the Go library the router uses
// (yosida95/uritemplate/v3) compiles its matcher, and is run as a set simulation: linear in the URI
// length times the number of states, no backtracking, no regex engine.

namespace {

// Character classes of RFC 6570 / RFC 3986.
constexpr unsigned char kUnreserved = 1;  // ALPHA DIGIT - . _ ~
constexpr unsigned char kReserved = 2;    // gen-delims and sub-delims
constexpr unsigned char kHexDigit = 4;    // of a pct-encoding

unsigned char ClassesOf(unsigned char c) {
  unsigned char classes = 0;
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
      c == '_' || c == '~') {
    classes |= kUnreserved;
  }
  if (std::string_view(":/?#[]@!$&'()*+,;=").find(static_cast<char>(c)) != std::string_view::npos) {
    classes |= kReserved;
  }
  if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f')) classes |= kHexDigit;
  return classes;
}

// What an expression's operator means (RFC 6570 section 3.2.1, appendix A).
struct Operator {
  char op;
  std::string_view first;
  std::string_view separator;
  bool named;
  std::string_view if_empty;
  unsigned char allow;
};

constexpr Operator kOperators[] = {
    {'\0', "", ",", false, "", kUnreserved},
    {'+', "", ",", false, "", kUnreserved | kReserved},
    {'#', "#", ",", false, "", kUnreserved | kReserved},
    {'.', ".", ".", false, "", kUnreserved},
    {'/', "/", "/", false, "", kUnreserved},
    {';', ";", ";", true, "", kUnreserved},
    {'?', "?", "&", true, "=", kUnreserved},
    {'&', "&", "&", true, "=", kUnreserved},
};

struct VarSpec {
  std::string name;
  int max_length = 0;  // 0: no prefix modifier
  bool explode = false;
};

struct Expression {
  const Operator* op = nullptr;
  std::vector<VarSpec> vars;
};

bool IsLiteralByte(unsigned char c) {
  if (c >= 0x80) return true;  // ucschar / iprivate, as UTF-8
  if (c <= 0x20) return false;
  return std::string_view("\"<>\\^`{|}").find(static_cast<char>(c)) == std::string_view::npos;
}

bool IsHex(char c) { return ClassesOf(static_cast<unsigned char>(c)) & kHexDigit; }

// varname = varchar *( ["."] varchar ), varchar = ALPHA / DIGIT / "_" / pct-encoded
bool IsVarName(std::string_view name) {
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '%') {
      if (i + 2 >= name.size() || !IsHex(name[i + 1]) || !IsHex(name[i + 2])) return false;
      i += 2;
    } else if (c == '.') {
      if (name[i + 1] == '.') return false;
    } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

}  // namespace

class UriTemplateBuilder {
 public:
  using State = UriTemplate::State;

  explicit UriTemplateBuilder(std::vector<State>& states) : s_(states) {}

  int Epsilon() {
    s_.emplace_back();
    return static_cast<int>(s_.size()) - 1;
  }
  void Link(int from, int to) { s_[from].epsilon.push_back(to); }

  // Each builder below starts at state `in` and returns the state where the match continues.
  int Byte(int in, unsigned char c) { return Consume(in, State::kByte, c); }
  int Class(int in, unsigned char classes) { return Consume(in, State::kClass, classes); }

  int Literal(int in, std::string_view text) {
    for (char c : text) in = Byte(in, static_cast<unsigned char>(c));
    return in;
  }

  // One character of the allowed classes, or a pct-encoding.
  int Unit(int in, unsigned char allow) {
    const int out = Epsilon();
    Link(Class(in, allow), out);
    Link(Class(Class(Byte(in, '%'), kHexDigit), kHexDigit), out);
    return out;
  }

  // One value: up to `max_length` units, or any number. May be empty (an undefined variable).
  int Value(int in, unsigned char allow, int max_length) {
    if (max_length > 0) {
      const int out = Epsilon();
      int cur = in;
      for (int i = 0; i < max_length; ++i) {
        Link(cur, out);
        cur = Unit(cur, allow);
      }
      Link(cur, out);
      return out;
    }
    const int loop = Epsilon();
    Link(in, loop);
    Link(Unit(loop, allow), loop);
    return loop;
  }

  // value *( joiner value ): a list's members (or one value) joined by `joiner`.
  int List(int in, unsigned char allow, int max_length, std::string_view joiner) {
    const int loop = Epsilon();
    Link(Value(in, allow, max_length), loop);
    Link(Value(Literal(loop, joiner), allow, max_length), loop);
    return loop;
  }

  // name ( "=" value | if-empty ), the value a ","-joined list unless exploded.
  int NamedPair(int in, const Operator& op, const VarSpec& var) {
    const int named = Literal(in, var.name);
    const int out = Epsilon();
    const int equals = Byte(named, '=');
    Link(var.explode ? Value(equals, op.allow, var.max_length) : List(equals, op.allow, var.max_length, ","), out);
    Link(Literal(named, op.if_empty), out);
    return out;
  }

  int Variable(int in, const Operator& op, const VarSpec& var) {
    if (!op.named) return List(in, op.allow, var.max_length, var.explode ? op.separator : ",");
    if (!var.explode) return NamedPair(in, op, var);
    const int loop = Epsilon();
    Link(NamedPair(in, op, var), loop);
    Link(NamedPair(Literal(loop, op.separator), op, var), loop);
    return loop;
  }

  // Empty (every variable undefined), or `first` then the defined variables, in template order, each
  // after the previous one's separator.
  int Expr(int in, const Expression& e) {
    const Operator& op = *e.op;
    const int out = Epsilon();
    Link(in, out);
    const int first = Literal(in, op.first);
    std::vector<int> starts;
    for (size_t i = 0; i < e.vars.size(); ++i) starts.push_back(Epsilon());
    for (size_t i = 0; i < e.vars.size(); ++i) {
      Link(first, starts[i]);
      const int end = Variable(starts[i], op, e.vars[i]);
      Link(end, out);
      if (i + 1 < e.vars.size()) {
        const int separated = Literal(end, op.separator);
        for (size_t j = i + 1; j < e.vars.size(); ++j) Link(separated, starts[j]);
      }
    }
    return out;
  }

 private:
  int Consume(int in, State::Kind kind, unsigned char value) {
    const int out = Epsilon();
    State state;
    state.kind = kind;
    if (kind == State::kByte) {
      state.byte = value;
    } else {
      state.classes = value;
    }
    state.next = out;
    s_.push_back(std::move(state));
    Link(in, static_cast<int>(s_.size()) - 1);
    return out;
  }

  std::vector<State>& s_;
};

absl::StatusOr<UriTemplate> UriTemplate::Parse(std::string_view text) {
  auto error = [&](size_t pos, std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("URI template ", Quoted(text), ": ", AV(why), " at offset ", pos));
  };
  UriTemplate t;
  t.text_ = std::string(text);
  UriTemplateBuilder b(t.states_);
  t.start_ = b.Epsilon();
  int cur = t.start_;
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '{') {
      const size_t close = text.find('}', i + 1);
      if (close == std::string_view::npos) return error(i, "unclosed expression");
      std::string_view body = text.substr(i + 1, close - i - 1);
      if (body.find('{') != std::string_view::npos) return error(i, "nested '{'");
      Expression e;
      e.op = &kOperators[0];
      if (!body.empty()) {
        for (const Operator& op : kOperators) {
          if (op.op != '\0' && body.front() == op.op) e.op = &op;
        }
        if (e.op != &kOperators[0]) {
          body.remove_prefix(1);
        } else if (std::string_view("=,!@|").find(body.front()) != std::string_view::npos) {
          return error(i, "reserved operator");
        }
      }
      if (body.empty()) return error(i, "empty expression");
      size_t from = 0;
      while (from <= body.size()) {
        size_t comma = body.find(',', from);
        if (comma == std::string_view::npos) comma = body.size();
        std::string_view spec = body.substr(from, comma - from);
        VarSpec var;
        if (!spec.empty() && spec.back() == '*') {
          var.explode = true;
          spec.remove_suffix(1);
        } else if (size_t colon = spec.find(':'); colon != std::string_view::npos) {
          std::string_view digits = spec.substr(colon + 1);
          if (digits.empty() || digits.size() > 4 || digits.front() == '0') return error(i, "bad prefix length");
          for (char d : digits) {
            if (d < '0' || d > '9') return error(i, "bad prefix length");
            var.max_length = var.max_length * 10 + (d - '0');
          }
          spec = spec.substr(0, colon);
        }
        if (!IsVarName(spec)) return error(i, absl::StrCat("bad variable name ", Quoted(spec)));
        var.name = std::string(spec);
        e.vars.push_back(std::move(var));
        from = comma + 1;
      }
      cur = b.Expr(cur, e);
      i = close + 1;
    } else if (c == '%') {
      if (i + 2 >= text.size() || !IsHex(text[i + 1]) || !IsHex(text[i + 2])) return error(i, "bad pct-encoding");
      cur = b.Literal(cur, text.substr(i, 3));
      i += 3;
    } else if (!IsLiteralByte(c)) {
      return error(i, "character not allowed in a literal");
    } else {
      cur = b.Byte(cur, c);
      ++i;
    }
  }
  t.accept_ = cur;
  return t;
}

bool UriTemplate::Matches(std::string_view uri) const {
  if (states_.empty()) return false;
  std::vector<unsigned> mark(states_.size(), 0);
  unsigned generation = 0;
  std::vector<int> current, next, stack;
  // Adds `from` and everything reachable from it without input to `set` (marked with `generation`).
  auto close = [&](int from, std::vector<int>& set) {
    if (mark[from] == generation) return;
    mark[from] = generation;
    stack.push_back(from);
    while (!stack.empty()) {
      const int s = stack.back();
      stack.pop_back();
      set.push_back(s);
      for (int to : states_[s].epsilon) {
        if (mark[to] != generation) {
          mark[to] = generation;
          stack.push_back(to);
        }
      }
    }
  };
  ++generation;
  close(start_, current);
  for (char ch : uri) {
    const unsigned char c = static_cast<unsigned char>(ch);
    const unsigned char classes = ClassesOf(c);
    ++generation;
    next.clear();
    for (int s : current) {
      const State& state = states_[s];
      if ((state.kind == State::kByte && state.byte == c) || (state.kind == State::kClass && (state.classes & classes))) {
        close(state.next, next);
      }
    }
    if (next.empty()) return false;
    std::swap(current, next);
  }
  return mark[accept_] == generation;
}

// ---------------------------------------------------------------------------------------------
// Aggregation

class CatalogueBuilder {
 public:
  explicit CatalogueBuilder(const config::AggregationConfig& cfg) : cfg_(cfg) {}

  absl::StatusOr<Catalogue> Run(std::vector<BackendCapabilities> input) {
    if (absl::Status s = Configure(); !s.ok()) return s;
    if (absl::Status s = SelectBackends(input); !s.ok()) return s;
    for (const BackendCapabilities* b : backends_) out_.backends_.push_back(b->backend);
    CollectTools();
    if (absl::Status s = ResolveTools(); !s.ok()) return s;
    EmitTools();
    Dedupe("resource", "uri", &BackendCapabilities::resources, out_.resources_, out_.resource_routes_);
    Dedupe("resource template", "uriTemplate", &BackendCapabilities::resource_templates, out_.resource_templates_,
           out_.template_routes_);
    ResolvePrompts();
    CompileTemplates();
    out_.PrepareWire();
    return std::move(out_);
  }

 private:
  // One backend tool after its override, before conflict resolution.
  struct Candidate {
    std::string backend;
    std::string original;  // the backend's own name
    std::string name;      // after the override's rename
    Json tool;             // overrides applied; "name" is set to the advertised name at the end
    bool has_override = false;
  };
  // A candidate that keeps a name (index into candidates_).
  struct Resolved {
    size_t candidate;
    std::string name;
  };

  void Warn(std::string message) { out_.warnings_.push_back(std::move(message)); }

  absl::Status Configure() {
    strategy_ = cfg_.conflict_resolution;
    // No strategy configured: Go's default when there is no aggregation config (prefix, "{workload}_").
    if (strategy_.empty()) strategy_ = kPrefix;
    const auto& crc = cfg_.conflict_resolution_config;
    prefix_format_ = crc && !crc->prefix_format.empty() ? crc->prefix_format : kDefaultPrefixFormat;
    if (strategy_ == kPriority) {
      if (!crc || crc->priority_order.empty()) {
        return absl::InvalidArgumentError(
            "priority strategy requires conflictResolutionConfig.priorityOrder (a non-empty list of backends)");
      }
      for (size_t i = 0; i < crc->priority_order.size(); ++i) {
        const std::string& backend = crc->priority_order[i];
        if (backend.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("priority order contains an empty backend name at index ", i));
        }
        // A backend listed twice keeps its first (highest) rank; Go's tool resolver would keep the last.
        rank_.emplace(backend, i);
      }
    } else if (strategy_ != kPrefix && strategy_ != kManual) {
      return absl::InvalidArgumentError(absl::StrCat("unknown conflict resolution strategy ", Quoted(strategy_),
                                                     " (want prefix, priority or manual)"));
    }
    for (const config::WorkloadToolConfig& w : cfg_.tools) {
      if (!workloads_.emplace(w.workload, &w).second) {
        Warn(absl::StrCat("aggregation.tools lists workload ", Quoted(w.workload),
                          " more than once; only the first entry is used"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status SelectBackends(std::vector<BackendCapabilities>& input) {
    std::set<std::string, std::less<>> names;
    for (BackendCapabilities& b : input) {
      if (b.backend.empty()) return absl::InvalidArgumentError("a backend has an empty name");
      if (!names.insert(b.backend).second) {
        return absl::InvalidArgumentError(absl::StrCat("backend ", Quoted(b.backend), " is listed twice"));
      }
    }
    input_ = std::move(input);
    for (BackendCapabilities& b : input_) {
      if (b.ok) backends_.push_back(&b);
    }
    // Sorted backend order is THE order: every "first wins" below means first in this order.
    std::sort(backends_.begin(), backends_.end(),
              [](const BackendCapabilities* a, const BackendCapabilities* b) { return a->backend < b->backend; });
    // A tools[] entry naming no backend of the group is almost always a typo (Go warns, sorted).
    for (const auto& [workload, w] : workloads_) {
      if (names.count(workload) == 0) {
        Warn(absl::StrCat("aggregation.tools entry for workload ", Quoted(workload),
                          " matches no backend in the group",
                          cfg_.default_tool_visibility == "deny"
                              ? "; under defaultToolVisibility deny the backend it was meant to name "
                                "contributes no tools"
                              : "; its filter and overrides are not applied"));
      }
    }
    if (backends_.empty()) return absl::UnavailableError("no backends returned capabilities");
    return absl::OkStatus();
  }

  const config::WorkloadToolConfig* WorkloadOf(const std::string& backend) const {
    auto it = workloads_.find(backend);
    return it == workloads_.end() ? nullptr : it->second;
  }

  static void ApplyAnnotations(Json& tool, const config::ToolAnnotationsOverride& o) {
    Json& annotations = tool["annotations"];
    if (!annotations.is_object()) annotations = Json::object();
    if (o.title) annotations["title"] = *o.title;
    if (o.read_only_hint) annotations["readOnlyHint"] = *o.read_only_hint;
    if (o.destructive_hint) annotations["destructiveHint"] = *o.destructive_hint;
    if (o.idempotent_hint) annotations["idempotentHint"] = *o.idempotent_hint;
    if (o.open_world_hint) annotations["openWorldHint"] = *o.open_world_hint;
  }

  // Every backend's tools, in sorted backend order then listing order, with overrides applied (Go
  // applies them before conflict resolution, in processBackendTools).
  void CollectTools() {
    for (BackendCapabilities* b : backends_) {
      const config::WorkloadToolConfig* w = WorkloadOf(b->backend);
      std::set<std::string, std::less<>> originals;
      std::map<std::string, std::string, std::less<>> renamed_to;  // override name -> original
      for (Json& tool : b->tools) {
        const std::string* name = KeyOf(tool, "name");
        if (name == nullptr) {
          Warn(absl::StrCat("backend ", Quoted(b->backend), " listed a tool without a name; dropped"));
          continue;
        }
        if (!originals.insert(*name).second) {
          Warn(absl::StrCat("backend ", Quoted(b->backend), " listed tool ", Quoted(*name),
                            " twice; the later one is dropped"));
          continue;
        }
        Candidate c;
        c.backend = b->backend;
        c.original = *name;
        c.name = *name;
        if (w != nullptr) {
          if (auto o = w->overrides.find(c.original); o != w->overrides.end()) {
            c.has_override = true;
            // Empty name or description = unchanged; annotations: only the fields that are set.
            if (!o->second.name.empty()) {
              c.name = o->second.name;
              renamed_to.emplace(c.name, c.original);
            }
            if (!o->second.description.empty()) tool["description"] = o->second.description;
            if (o->second.annotations) ApplyAnnotations(tool, *o->second.annotations);
          }
        }
        c.tool = std::move(tool);
        candidates_.push_back(std::move(c));
      }
      if (w == nullptr) continue;
      for (const auto& [original, o] : w->overrides) {
        if (originals.count(original) == 0) {
          Warn(absl::StrCat("override for tool ", Quoted(original), " of workload ", Quoted(b->backend),
                            " matches no tool of that backend"));
        }
      }
      // Filters list the backend's own tool names (see MatchesFilter).
      for (const std::string& entry : w->filter) {
        if (originals.count(entry) != 0) continue;
        auto r = renamed_to.find(entry);
        Warn(absl::StrCat("filter entry ", Quoted(entry), " of workload ", Quoted(b->backend),
                          " matches no tool of that backend",
                          r == renamed_to.end()
                              ? std::string()
                              : absl::StrCat(" (it is the override name of ", Quoted(r->second),
                                             "; filters list the backend's own tool names)")));
      }
    }
  }

  // Keeps the first claimant of every name, in candidate order (sorted backend, then listing order);
  // Go resolves these collisions in map order. `why` says what produced the collision.
  std::vector<Resolved> FirstClaimWins(std::vector<Resolved> resolved, std::string_view why) {
    std::stable_sort(resolved.begin(), resolved.end(),
                     [](const Resolved& a, const Resolved& b) { return a.candidate < b.candidate; });
    std::map<std::string, size_t, std::less<>> owner;
    std::vector<Resolved> kept;
    for (Resolved& r : resolved) {
      const Candidate& c = candidates_[r.candidate];
      auto [it, inserted] = owner.emplace(r.name, r.candidate);
      if (!inserted) {
        const Candidate& winner = candidates_[it->second];
        Warn(absl::StrCat("tool name ", Quoted(r.name), " ", AV(why), ": keeping tool ", Quoted(winner.original),
                          " of backend ", Quoted(winner.backend), ", dropping tool ", Quoted(c.original),
                          " of backend ", Quoted(c.backend)));
        continue;
      }
      kept.push_back(std::move(r));
    }
    return kept;
  }

  // Post-override name -> its claimants, in candidate order.
  std::map<std::string, std::vector<size_t>, std::less<>> GroupByName() const {
    std::map<std::string, std::vector<size_t>, std::less<>> groups;
    for (size_t i = 0; i < candidates_.size(); ++i) groups[candidates_[i].name].push_back(i);
    return groups;
  }

  absl::Status ResolveTools() {
    std::vector<Resolved> resolved;
    if (strategy_ == kPrefix) {
      // Every tool is renamed, the override name included (Go prefix_resolver.go).
      for (size_t i = 0; i < candidates_.size(); ++i) {
        resolved.push_back({i, ApplyPrefixFormat(prefix_format_, candidates_[i].backend, candidates_[i].name)});
      }
      resolved_ = FirstClaimWins(std::move(resolved), "collides after prefixing");
    } else if (strategy_ == kPriority) {
      for (auto& [name, claimants] : GroupByName()) {
        if (claimants.size() == 1) {  // unique: bare name, even from an unlisted backend
          resolved.push_back({claimants[0], name});
          continue;
        }
        std::optional<size_t> winner;
        size_t winner_rank = 0;
        for (size_t i : claimants) {
          auto r = rank_.find(candidates_[i].backend);
          if (r != rank_.end() && (!winner || r->second < winner_rank)) {
            winner = i;
            winner_rank = r->second;
          }
        }
        if (!winner) {
          // No claimant is listed: all of them are prefixed with the HARD-CODED "{workload}_"; Go ignores
          // the configured prefixFormat here (spec 12.4).
          for (size_t i : claimants) {
            resolved.push_back({i, ApplyPrefixFormat(kDefaultPrefixFormat, candidates_[i].backend, name)});
          }
          continue;
        }
        resolved.push_back({*winner, name});
        for (size_t i : claimants) {
          if (i == *winner) continue;
          Warn(absl::StrCat("tool ", Quoted(name), " of backend ", Quoted(candidates_[i].backend),
                            " dropped: backend ", Quoted(candidates_[*winner].backend), " has priority"));
        }
      }
      // A fallback-prefixed name can still meet another tool's name.
      resolved_ = FirstClaimWins(std::move(resolved), "is claimed twice after priority resolution");
    } else {  // manual
      std::vector<std::string> unresolved, collisions;
      for (auto& [name, claimants] : GroupByName()) {
        if (claimants.size() == 1) {
          resolved.push_back({claimants[0], name});
          continue;
        }
        std::vector<std::string> owners;
        bool all_overridden = true;
        for (size_t i : claimants) {
          owners.push_back(candidates_[i].backend);
          all_overridden = all_overridden && candidates_[i].has_override;
        }
        std::string entry = absl::StrCat(name, ": [", absl::StrJoin(owners, ", "), "]");
        (all_overridden ? collisions : unresolved).push_back(std::move(entry));
      }
      if (!unresolved.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "unresolved tool name conflicts detected: - ", absl::StrJoin(unresolved, "; - "),
            ". Use 'overrides' in aggregation config to resolve these conflicts when using conflict_resolution: "
            "manual"));
      }
      if (!collisions.empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat("collision after override: - ", absl::StrJoin(collisions, "; - ")));
      }
      resolved_ = std::move(resolved);
    }
    return absl::OkStatus();
  }

  // Go shouldAdvertiseTool, in its order. The filter is matched against the backend's ORIGINAL tool
  // name, before overrides (a deliberate difference: Go matches the post-override name).
  bool Advertised(const Candidate& c) const {
    if (cfg_.exclude_all_tools) return false;
    const config::WorkloadToolConfig* w = WorkloadOf(c.backend);
    if (w == nullptr) return cfg_.default_tool_visibility != "deny";
    if (w->exclude_all) return false;
    if (!w->filter.empty()) return std::find(w->filter.begin(), w->filter.end(), c.original) != w->filter.end();
    return true;
  }

  void EmitTools() {
    std::sort(resolved_.begin(), resolved_.end(), [](const Resolved& a, const Resolved& b) { return a.name < b.name; });
    for (Resolved& r : resolved_) {
      Candidate& c = candidates_[r.candidate];
      const bool advertised = Advertised(c);
      out_.tool_routes_.emplace(r.name, ToolRoute{c.backend, c.original, advertised});
      out_.tool_refs_[c.backend].emplace(c.original, r.name);
      if (advertised) {
        c.tool["name"] = r.name;
        out_.tools_.push_back(std::move(c.tool));
      }
    }
  }

  // Resources and templates are locators, never renamed: a duplicate key goes to the first backend in
  // sorted order, later ones are dropped (Go capability_conflicts.go dedupeByKey). Sorted by key.
  void Dedupe(std::string_view kind, const char* key, std::vector<Json> BackendCapabilities::*items,
              std::vector<Json>& out, Catalogue::Table<std::string>& routes) {
    for (BackendCapabilities* b : backends_) {
      for (Json& item : b->*items) {
        const std::string* k = KeyOf(item, key);
        if (k == nullptr) {
          Warn(absl::StrCat("backend ", Quoted(b->backend), " listed a ", AV(kind), " without ", key, "; dropped"));
          continue;
        }
        auto [it, inserted] = routes.emplace(*k, b->backend);
        if (!inserted) {
          Warn(absl::StrCat("duplicate ", AV(kind), " ", Quoted(*k), ": keeping backend ", Quoted(it->second),
                            ", dropping backend ", Quoted(b->backend)));
          continue;
        }
        out.push_back(std::move(item));
      }
    }
    std::stable_sort(out.begin(), out.end(),
                     [key](const Json& a, const Json& b) { return *KeyOf(a, key) < *KeyOf(b, key); });
  }

  // Prompts (Go resolvePromptConflicts): the advertised name is prefixFormat applied to the backend name,
  // ALWAYS, so it never depends on which other backends are deployed; under the priority strategy the
  // backends listed in priorityOrder keep the bare name. The manual strategy does not affect prompts.
  void ResolvePrompts() {
    struct Claim {
      std::string backend;
      Json* prompt;
      std::string original;
      std::optional<size_t> rank;  // set iff the backend is priority-listed
    };
    std::map<std::string, std::vector<Claim>, std::less<>> by_name;
    for (BackendCapabilities* b : backends_) {
      std::optional<size_t> rank;
      if (strategy_ == kPriority) {
        if (auto r = rank_.find(b->backend); r != rank_.end()) rank = r->second;
      }
      for (Json& prompt : b->prompts) {
        const std::string* name = KeyOf(prompt, "name");
        if (name == nullptr) {
          Warn(absl::StrCat("backend ", Quoted(b->backend), " listed a prompt without a name; dropped"));
          continue;
        }
        std::string advertised = rank ? *name : ApplyPrefixFormat(prefix_format_, b->backend, *name);
        std::vector<Claim>& claims = by_name[advertised];
        // The advertised name is injective per backend, so a same-backend claim is an exact duplicate.
        if (std::any_of(claims.begin(), claims.end(), [&](const Claim& c) { return c.backend == b->backend; })) {
          Warn(absl::StrCat("backend ", Quoted(b->backend), " listed prompt ", Quoted(*name),
                            " twice; the later one is dropped"));
          continue;
        }
        claims.push_back({b->backend, &prompt, *name, rank});
      }
    }
    for (auto& [name, claims] : by_name) {
      const bool all_listed =
          std::all_of(claims.begin(), claims.end(), [](const Claim& c) { return c.rank.has_value(); });
      if (claims.size() > 1 && !all_listed) {
        // No defined owner (prefix composition ambiguity, or a prefixed name meeting a listed backend's
        // bare name): nobody advertises it (Go logs this at ERROR).
        std::vector<std::string> who;
        for (const Claim& c : claims) who.push_back(absl::StrCat(c.backend, "/", c.original));
        Warn(absl::StrCat("prompt name ", Quoted(name), " is ambiguous between backends; dropping every claimant: ",
                          absl::StrJoin(who, ", ")));
        continue;
      }
      const Claim* winner = &claims[0];
      for (size_t i = 1; i < claims.size(); ++i) {
        const Claim* loser = &claims[i];
        if (*loser->rank < *winner->rank) std::swap(winner, loser);
        // The loser is dropped, never re-prefixed (re-prefixing would fail authorization policy open).
        Warn(absl::StrCat("prompt ", Quoted(name), " is listed by several priority backends: keeping backend ",
                          Quoted(winner->backend), ", dropping backend ", Quoted(loser->backend)));
      }
      (*winner->prompt)["name"] = name;
      out_.prompts_.push_back(std::move(*winner->prompt));
      out_.prompt_routes_.emplace(name, PromptRoute{winner->backend, winner->original});
    }
  }

  // Templates are matched in sorted template-string order (Go compileResourceTemplates), so overlapping
  // templates always resolve the same way.
  void CompileTemplates() {
    for (const auto& [text, backend] : out_.template_routes_) {
      absl::StatusOr<UriTemplate> t = UriTemplate::Parse(text);
      if (!t.ok()) {
        Warn(absl::StrCat("resource template of backend ", Quoted(backend),
                          " is not a valid RFC 6570 template and only routes by its exact string: ",
                          t.status().message()));
        continue;
      }
      out_.compiled_templates_.push_back(*std::move(t));
    }
  }

  const config::AggregationConfig& cfg_;
  std::string strategy_;
  std::string prefix_format_;
  std::map<std::string, size_t, std::less<>> rank_;
  std::map<std::string, const config::WorkloadToolConfig*, std::less<>> workloads_;
  std::vector<BackendCapabilities> input_;
  std::vector<BackendCapabilities*> backends_;  // the ok ones, sorted by name
  std::vector<Candidate> candidates_;
  std::vector<Resolved> resolved_;
  Catalogue out_;
};

absl::StatusOr<Catalogue> Aggregate(const config::AggregationConfig& cfg, std::vector<BackendCapabilities> backends) {
  return CatalogueBuilder(cfg).Run(std::move(backends));
}

// ---------------------------------------------------------------------------------------------
// Lookups

const ToolRoute* Catalogue::ResolveTool(std::string_view name) const {
  auto it = tool_routes_.find(name);
  return it == tool_routes_.end() ? nullptr : &it->second;
}

std::optional<ToolRef> Catalogue::ResolveToolRef(std::string_view ref) const {
  if (auto it = tool_routes_.find(ref); it != tool_routes_.end()) return ToolRef{it->first, &it->second};
  // "<workload>.<backend tool name>" (Go router ResolveToolRef): workload names are Kubernetes names
  // without dots, so the first dot splits; a leading dot never matches.
  const size_t dot = ref.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  auto backend = tool_refs_.find(ref.substr(0, dot));
  if (backend == tool_refs_.end()) return std::nullopt;
  auto name = backend->second.find(ref.substr(dot + 1));
  if (name == backend->second.end()) return std::nullopt;
  auto route = tool_routes_.find(name->second);
  return ToolRef{route->first, &route->second};
}

const PromptRoute* Catalogue::ResolvePrompt(std::string_view name) const {
  auto it = prompt_routes_.find(name);
  return it == prompt_routes_.end() ? nullptr : &it->second;
}

std::optional<ResourceRoute> Catalogue::ResolveResource(std::string_view uri) const {
  if (auto it = resource_routes_.find(uri); it != resource_routes_.end()) {
    return ResourceRoute{it->second, std::string(uri), "", ResourceRoute::Via::kResource};
  }
  // The template string itself: completion refs and subscribe carry it, and a template does not
  // match its own text.
  if (auto it = template_routes_.find(uri); it != template_routes_.end()) {
    return ResourceRoute{it->second, std::string(uri), it->first, ResourceRoute::Via::kTemplateString};
  }
  for (const UriTemplate& t : compiled_templates_) {
    if (t.Matches(uri)) {
      return ResourceRoute{template_routes_.find(t.text())->second, std::string(uri), t.text(),
                           ResourceRoute::Via::kTemplateMatch};
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Pagination (Go server/modern_pagination.go)

const char* ListKindName(ListKind kind) {
  switch (kind) {
    case ListKind::kTools:
      return "tools";
    case ListKind::kResources:
      return "resources";
    case ListKind::kResourceTemplates:
      return "resourceTemplates";
    case ListKind::kPrompts:
      return "prompts";
  }
  return "";
}

const char* ListKeyField(ListKind kind) {
  switch (kind) {
    case ListKind::kTools:
    case ListKind::kPrompts:
      return "name";
    case ListKind::kResources:
      return "uri";
    case ListKind::kResourceTemplates:
      return "uriTemplate";
  }
  return "";
}

namespace {

absl::Status InvalidCursor() { return absl::InvalidArgumentError("invalid cursor"); }

std::string_view ItemKey(const Json& item, const char* field) {
  const std::string* key = KeyOf(item, field);
  return key == nullptr ? std::string_view() : std::string_view(*key);
}

struct CursorPosition {
  std::string last_key;
  int64_t delivered = 0;
};

// Every failure is the same "invalid cursor": the encoding is opaque to clients by spec.
absl::StatusOr<CursorPosition> DecodeCursor(ListKind kind, std::string_view cursor) {
  // Length first, so an oversized cursor costs nothing to reject. No padding (base64url "raw").
  if (cursor.size() > kMaxCursorLength || cursor.find('=') != std::string_view::npos) return InvalidCursor();
  std::string raw;
  if (!absl::WebSafeBase64Unescape(AV(cursor), &raw)) return InvalidCursor();
  const Json decoded = Json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (!decoded.is_object()) return InvalidCursor();
  auto k = decoded.find("k");
  auto l = decoded.find("l");
  auto d = decoded.find("d");
  if (k == decoded.end() || !k->is_string() || k->get_ref<const std::string&>() != ListKindName(kind)) {
    return InvalidCursor();
  }
  // An empty last key would silently turn a page request into a whole-list request.
  if (l == decoded.end() || !l->is_string() || l->get_ref<const std::string&>().empty()) return InvalidCursor();
  CursorPosition position{l->get<std::string>(), 0};
  if (d != decoded.end() && !d->is_null()) {
    if (d->is_number_unsigned()) {
      position.delivered = static_cast<int64_t>(std::min<uint64_t>(d->get<uint64_t>(), INT64_MAX));
    } else if (d->is_number_integer() && d->get<int64_t>() >= 0) {
      position.delivered = d->get<int64_t>();
    } else {
      return InvalidCursor();  // negative (would rewind) or not an integer
    }
  }
  return position;
}

std::string EncodeCursor(ListKind kind, std::string_view last_key, int64_t delivered) {
  Json payload{{"k", ListKindName(kind)}, {"l", std::string(last_key)}};
  if (delivered > 0) payload["d"] = delivered;
  return absl::WebSafeBase64Escape(Dump(payload));
}

}  // namespace

absl::StatusOr<PageResult> Page(ListKind kind, const std::vector<nlohmann::json>& list, std::string_view cursor,
                                std::size_t page_size) {
  absl::StatusOr<PageIndices> at = PageOf(kind, list, cursor, page_size);
  if (!at.ok()) return at.status();
  PageResult page;
  page.items.reserve(at->indices.size());
  for (size_t i : at->indices) page.items.push_back(list[i]);
  page.next_cursor = std::move(at->next_cursor);
  return page;
}

absl::StatusOr<PageIndices> PageOf(ListKind kind, const std::vector<nlohmann::json>& list, std::string_view cursor,
                                   std::size_t page_size, const std::vector<std::string>* known_keys) {
  if (page_size == 0) page_size = kDefaultPageSize;
  const char* field = ListKeyField(kind);
  // Each item's key, looked up once per page (a lookup is a search of the item's members).
  std::vector<std::string_view> keys;
  keys.reserve(list.size());
  if (known_keys != nullptr && known_keys->size() == list.size()) {
    for (const std::string& key : *known_keys) keys.emplace_back(key);
  } else {
    for (const nlohmann::json& item : list) keys.push_back(ItemKey(item, field));
  }
  // The catalogue's lists come sorted; any other list is put in key order here (stably).
  std::vector<size_t> order;  // empty: the list's own order
  if (!std::is_sorted(keys.begin(), keys.end())) {
    order.resize(list.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  }
  auto index_at = [&](size_t position) { return order.empty() ? position : order[position]; };
  auto key_at = [&](size_t position) { return keys[index_at(position)]; };

  size_t start = 0;
  int64_t carried = 0;
  std::string cursor_key;
  if (!cursor.empty()) {
    absl::StatusOr<CursorPosition> position = DecodeCursor(kind, cursor);
    if (!position.ok()) return position.status();
    cursor_key = position->last_key;
    // The first key >= the cursor's: a key that vanished resumes at the next one.
    const std::string_view wanted(cursor_key);
    if (order.empty()) {
      start = static_cast<size_t>(std::lower_bound(keys.begin(), keys.end(), wanted) - keys.begin());
    } else {
      start = static_cast<size_t>(
          std::lower_bound(order.begin(), order.end(), wanted, [&](size_t i, std::string_view key) { return keys[i] < key; }) -
          order.begin());
    }
    // Then past the items with that key already delivered, never beyond its run.
    for (int64_t i = 0; i < position->delivered && start < keys.size() && key_at(start) == cursor_key; ++i) {
      ++start;
      ++carried;
    }
  }
  const size_t end = std::min(keys.size(), start + std::min(page_size, keys.size() - start));
  PageIndices page;
  page.indices.reserve(end - start);
  for (size_t i = start; i < end; ++i) page.indices.push_back(index_at(i));
  if (end == keys.size() || start == end) return page;

  const std::string_view last_key = key_at(end - 1);
  int64_t delivered = 0;
  for (size_t i = end; i > start && key_at(i - 1) == last_key; --i) ++delivered;
  if (cursor_key == last_key) delivered += carried;  // a run spanning several pages accumulates
  page.next_cursor = EncodeCursor(kind, last_key, delivered);
  return page;
}

const std::vector<std::string>& Catalogue::wire(ListKind kind) const { return wire_[static_cast<int>(kind)]; }
const std::vector<std::string>& Catalogue::keys(ListKind kind) const { return keys_[static_cast<int>(kind)]; }

void Catalogue::PrepareWire() {
  const std::vector<Json>* lists[] = {&tools_, &resources_, &resource_templates_, &prompts_};
  for (int k = 0; k < 4; ++k) {
    const char* field = ListKeyField(static_cast<ListKind>(k));
    wire_[k].clear();
    keys_[k].clear();
    wire_[k].reserve(lists[k]->size());
    keys_[k].reserve(lists[k]->size());
    for (const Json& item : *lists[k]) {
      wire_[k].push_back(Dump(item));
      keys_[k].emplace_back(ItemKey(item, field));
    }
  }
}

}  // namespace vmcp::gateway
