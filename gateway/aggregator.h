// File: gateway/aggregator.h
//
// The aggregation engine: turns what every backend listed (tools, resources, resource templates,
// prompts) into the one catalogue the gateway advertises, plus the routing tables that send each
// call back to the backend that owns it. Pure logic over nlohmann::json values: no I/O, no clock,
// no threads. Behaviour follows ToolHive's vMCP aggregator and router (pkg/vmcp/aggregator,
// pkg/vmcp/router; spec sections 2 and 3), except that every outcome is deterministic: wherever Go
// depends on map iteration order, backends are visited in sorted name order, and within a backend
// in the order it listed its items.
//
// API
//
//   Aggregate(cfg, backends) -> Catalogue | error
//     `backends` holds one BackendCapabilities per backend, each item the JSON object exactly as the
//     backend listed it (MCP Tool, Resource, ResourceTemplate, Prompt). Backends with ok=false (their
//     listing failed) are skipped, best effort; if none is left the result is
//     Unavailable("no backends returned capabilities"). Errors name the tools and backends involved:
//       InvalidArgument      unknown strategy, priority strategy without a usable priorityOrder,
//                            an empty or duplicated backend name;
//       FailedPrecondition   manual strategy: "unresolved tool name conflicts detected: ..." or
//                            "collision after override: ...".
//     Everything that Go only logs (a dropped duplicate, a collision after prefixing, a filter entry
//     that names no tool, ...) is returned in Catalogue::warnings(), in a deterministic order.
//
//   Catalogue
//     tools() resources() resource_templates() prompts()
//         The advertised lists, sorted by key (name, uri, uriTemplate, name). Tools and prompts carry
//         their advertised names; tool overrides are applied to name, description and annotations
//         (annotations partially: only the fields the override sets). Every other member (inputSchema
//         with its `$schema`/`$defs`, outputSchema, _meta, icons, title, ...) is kept verbatim.
//     tool_routes()      advertised name -> {backend, original name, advertised?}. Holds EVERY tool that
//                        survived conflict resolution, including tools hidden by the visibility rules
//                        (composite steps may call them); a tool dropped by conflict resolution is in
//                        neither the list nor the routes.
//     resource_routes()  URI -> backend.        template_routes()  uriTemplate -> backend.
//     prompt_routes()    advertised name -> {backend, original name}.
//     ResolveTool(name)       exact advertised name, hidden tools included (check `advertised` before
//                             serving a client's tools/call: hidden tools are "not found" to clients).
//     ResolveToolRef(ref)     for composite steps: exact name, then "<workload>.<backend tool name>".
//     ResolvePrompt(name)     exact advertised name.
//     ResolveResource(uri)    exact URI, then exact template string, then the first RFC 6570 template
//                             (sorted by template string) that matches; the URI to forward is the
//                             client's, unchanged.
//
//   Page(kind, list, cursor, page_size) -> {items, next_cursor} | InvalidArgument("invalid cursor")
//     Keyset pagination over a key-sorted list with an opaque cursor: base64url (no padding) of the
//     JSON {"k": kind, "l": last key, "d": items with that key already delivered}, as the Go Modern
//     dispatcher mints it. An empty cursor is the first page; the last page has an empty next_cursor
//     (omit `nextCursor`). The gateway turns the error into JSON-RPC -32602.
//
//   UriTemplate      the RFC 6570 matcher behind ResolveResource, usable on its own.
//
// Choices made where the spec leaves room (each one is also stated where it is implemented):
//  - Filter matching uses the backend's ORIGINAL tool name (before overrides): a filter lists the
//    backend's tool names. Go matches the post-override name although its comment says otherwise;
//    a filter entry that names no tool of its backend gets a warning, which also says so when the
//    entry is the override name of one of them.
//  - Conflict resolution sees every tool, hidden ones included (Go does the same: routing holds all
//    tools, so names must be unique among all of them); visibility is applied afterwards.
//  - Strategy "" (no strategy configured) means prefix with "{workload}_", Go's no-config default.
//  - Final-name collisions that Go resolves by map order (prefix: two tools prefixed to the same
//    name; priority: a fallback-prefixed name equal to another tool's name) go to the first claimant
//    in sorted backend order, then the backend's listing order; the later one is dropped with a
//    warning.
//  - A backend that lists the same tool (or prompt) name twice: the later one is dropped with a
//    warning. Items that are not objects or lack their key (`name`, `uri`, `uriTemplate`) are
//    dropped with a warning.
//  - priorityOrder listing a backend twice: its first (highest) rank counts, for tools and prompts.
//  - Manual strategy: names are grouped after overrides; a name claimed more than once is
//    "unresolved" unless every claimant has an override entry (keyed by its original name), in
//    which case it is a "collision after override". Unresolved conflicts are reported first, all of
//    them in one error; an override is applied once (Go re-applies it to the renamed tool).
//  - Prompts: the advertised name is prefixFormat applied to the backend name, always (under the
//    priority strategy, listed backends keep the bare name); the manual strategy does not affect
//    prompts. A name claimed by several backends where any claimant is unlisted is advertised by
//    nobody (every claimant dropped, warned); among listed backends the lowest rank wins and the
//    losers are dropped, never re-prefixed.
//  - Template matching follows the Go library (yosida95/uritemplate) that the router uses: an
//    expression may match the empty string (undefined variables), `{var}` matches unreserved
//    characters, pct-encodings and ',' (never '/'), `{+var}` and `{#var}` also reserved characters
//    (so '/'), named forms (`{?a,b}`, `{;a}`, `{&a}`) need their variables in template order but each
//    may be absent. A template that does not parse is still advertised and routable by its exact
//    string, but never matched (warned).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "nlohmann/json.hpp"

namespace vmcp::gateway {

// What one backend listed. Each item is the JSON object as the backend sent it.
struct BackendCapabilities {
  std::string backend;  // the backend (workload) name
  std::vector<nlohmann::json> tools;
  std::vector<nlohmann::json> resources;
  std::vector<nlohmann::json> resource_templates;
  std::vector<nlohmann::json> prompts;
  bool ok = true;  // false: the listing failed; the backend is skipped
};

struct ToolRoute {
  std::string backend;
  std::string original_name;  // the backend's own tool name: what tools/call forwards
  bool advertised = false;    // false: hidden by visibility, reachable by composite steps only
};

// ResolveToolRef's answer: the advertised (routing) name and its route.
struct ToolRef {
  std::string name;
  const ToolRoute* route = nullptr;
};

struct PromptRoute {
  std::string backend;
  std::string original_name;  // the backend's own prompt name: what prompts/get forwards
};

struct ResourceRoute {
  enum class Via {
    kResource,        // an advertised resource URI
    kTemplateString,  // the template string itself (completion refs, subscribe)
    kTemplateMatch,   // a concrete URI matching an advertised template
  };
  std::string backend;
  std::string uri;           // what resources/read forwards: the client's URI, unchanged
  std::string uri_template;  // the template (kTemplateString, kTemplateMatch), else empty
  Via via = Via::kResource;
};

// An RFC 6570 URI template, compiled for matching (not expansion). Operators: none, +, #, ., /, ;, ?,
// &; modifiers :N (prefix) and * (explode). Matching is whole-string; see the opening comment for the
// exact semantics (those of the Go library the router uses).
class UriTemplate {
 public:
  static absl::StatusOr<UriTemplate> Parse(std::string_view text);
  bool Matches(std::string_view uri) const;
  const std::string& text() const { return text_; }

 private:
  struct State {
    enum Kind : unsigned char { kEpsilon, kByte, kClass } kind = kEpsilon;
    unsigned char byte = 0;   // kByte
    unsigned char classes = 0;  // kClass: bit set of character classes
    int next = -1;            // kByte, kClass: the state after the character
    std::vector<int> epsilon;  // kEpsilon: states reachable without input
  };
  friend class UriTemplateBuilder;
  std::string text_;
  std::vector<State> states_;
  int start_ = 0;
  int accept_ = 0;
};

// The four lists a catalogue holds (and pages).
enum class ListKind { kTools, kResources, kResourceTemplates, kPrompts };

class Catalogue {
 public:
  template <typename V>
  using Table = std::map<std::string, V, std::less<>>;

  // Advertised lists, sorted by key.
  const std::vector<nlohmann::json>& tools() const { return tools_; }
  const std::vector<nlohmann::json>& resources() const { return resources_; }
  const std::vector<nlohmann::json>& resource_templates() const { return resource_templates_; }
  const std::vector<nlohmann::json>& prompts() const { return prompts_; }

  // Routing tables.
  const Table<ToolRoute>& tool_routes() const { return tool_routes_; }
  const Table<std::string>& resource_routes() const { return resource_routes_; }  // uri -> backend
  const Table<std::string>& template_routes() const { return template_routes_; }  // template -> backend
  const Table<PromptRoute>& prompt_routes() const { return prompt_routes_; }

  // The backends that contributed (ok ones), sorted.
  const std::vector<std::string>& backends() const { return backends_; }
  // What Go logs at WARN/ERROR while aggregating, in a deterministic order.
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Lookups. Pointers stay valid as long as this Catalogue (not a copy of it) lives.
  const ToolRoute* ResolveTool(std::string_view name) const;
  std::optional<ToolRef> ResolveToolRef(std::string_view ref) const;
  const PromptRoute* ResolvePrompt(std::string_view name) const;
  std::optional<ResourceRoute> ResolveResource(std::string_view uri) const;

  // The lists' items as JSON text, index for index, made once when the catalogue is built (a page is
  // then written by copying text: no item is copied or serialized per request).
  const std::vector<std::string>& wire(ListKind kind) const;
  // Each item's key (name, uri, uriTemplate), index for index.
  const std::vector<std::string>& keys(ListKind kind) const;

 private:
  friend class CatalogueBuilder;
  void PrepareWire();

  std::vector<nlohmann::json> tools_, resources_, resource_templates_, prompts_;
  std::vector<std::string> wire_[4];  // by ListKind
  std::vector<std::string> keys_[4];
  Table<ToolRoute> tool_routes_;
  Table<std::string> resource_routes_, template_routes_;
  Table<PromptRoute> prompt_routes_;
  std::vector<std::string> backends_, warnings_;
  // backend -> original tool name -> advertised name, for "<workload>.<tool>" references.
  Table<Table<std::string>> tool_refs_;
  // The template routes that parse, in sorted template order, for RFC 6570 matching.
  std::vector<UriTemplate> compiled_templates_;
};

absl::StatusOr<Catalogue> Aggregate(const config::AggregationConfig& cfg, std::vector<BackendCapabilities> backends);

// `prefixFormat` with every "{workload}" replaced by `backend`, then `name` (Go applyPrefixFormat).
std::string ApplyPrefixFormat(std::string_view prefix_format, std::string_view backend, std::string_view name);
inline constexpr char kDefaultPrefixFormat[] = "{workload}_";

// ---------------------------------------------------------------------------------------------
// Pagination

const char* ListKindName(ListKind kind);  // the cursor's kind: tools, resources, resourceTemplates, prompts
const char* ListKeyField(ListKind kind);  // the item's key: name, uri, uriTemplate, name

inline constexpr std::size_t kDefaultPageSize = 1000;  // go-sdk's and the Modern dispatcher's page size
inline constexpr std::size_t kMaxCursorLength = 512;   // longer cursors are rejected before decoding

struct PageResult {
  std::vector<nlohmann::json> items;
  std::string next_cursor;  // empty on the last page: omit `nextCursor`
};

// The page after `cursor` ("" = the first page) of `list`, ordered by key (a stable sort; the
// catalogue's lists already are). Duplicate keys are safe: the cursor counts how many items with its
// last key were delivered. A cursor whose key has since vanished resumes at the next key. Errors:
// InvalidArgument("invalid cursor") for an over-long, undecodable or malformed cursor, or one minted
// for another kind. page_size 0 means kDefaultPageSize.
absl::StatusOr<PageResult> Page(ListKind kind, const std::vector<nlohmann::json>& list, std::string_view cursor,
                                std::size_t page_size = kDefaultPageSize);

// The same page as positions in `list` (in page order), for writing it from Catalogue::wire().
struct PageIndices {
  std::vector<std::size_t> indices;
  std::string next_cursor;
};
// `keys`, when given, are the items' keys (Catalogue::keys), index for index.
absl::StatusOr<PageIndices> PageOf(ListKind kind, const std::vector<nlohmann::json>& list, std::string_view cursor,
                                   std::size_t page_size = kDefaultPageSize,
                                   const std::vector<std::string>* keys = nullptr);

}  // namespace vmcp::gateway
