// Tests of gateway/aggregator: the three conflict strategies, overrides, visibility, prompts,
// resources and templates, RFC 6570 matching, pagination, determinism and a large input.
#include "gateway/aggregator.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmcp::gateway {
namespace {

using Json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// ---------------------------------------------------------------------------------------------
// Builders

Json Tool(const std::string& name, const std::string& description = "") {
  return Json{{"name", name},
              {"description", description.empty() ? "does " + name : description},
              {"inputSchema", {{"type", "object"}}}};
}

BackendCapabilities Backend(const std::string& name, const std::vector<std::string>& tools) {
  BackendCapabilities b;
  b.backend = name;
  for (const std::string& t : tools) b.tools.push_back(Tool(t));
  return b;
}

Json Prompt(const std::string& name) { return Json{{"name", name}, {"description", "prompt " + name}}; }
Json Resource(const std::string& uri, const std::string& name = "r") { return Json{{"uri", uri}, {"name", name}}; }
Json Template(const std::string& tmpl, const std::string& name = "t") {
  return Json{{"uriTemplate", tmpl}, {"name", name}};
}

config::AggregationConfig Config(const std::string& strategy, const std::string& prefix_format = "",
                                 const std::vector<std::string>& priority_order = {}) {
  config::AggregationConfig cfg;
  cfg.conflict_resolution = strategy;
  cfg.conflict_resolution_config = config::ConflictResolutionConfig{prefix_format, priority_order};
  return cfg;
}

config::WorkloadToolConfig& Workload(config::AggregationConfig& cfg, const std::string& name) {
  for (auto& w : cfg.tools) {
    if (w.workload == name) return w;
  }
  cfg.tools.emplace_back();
  cfg.tools.back().workload = name;
  return cfg.tools.back();
}

std::vector<std::string> Keys(const std::vector<Json>& items, const char* key = "name") {
  std::vector<std::string> out;
  for (const Json& item : items) out.push_back(item.at(key).get<std::string>());
  return out;
}

std::vector<std::string> RouteNames(const Catalogue& c) {
  std::vector<std::string> out;
  for (const auto& [name, route] : c.tool_routes()) out.push_back(name);
  return out;
}

Catalogue MustAggregate(const config::AggregationConfig& cfg, std::vector<BackendCapabilities> backends) {
  absl::StatusOr<Catalogue> c = Aggregate(cfg, std::move(backends));
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : Catalogue();
}

bool AnyWarningHas(const Catalogue& c, const std::string& needle) {
  return std::any_of(c.warnings().begin(), c.warnings().end(),
                     [&](const std::string& w) { return w.find(needle) != std::string::npos; });
}

// Everything observable about a catalogue, as one string.
std::string Fingerprint(const Catalogue& c) {
  Json j;
  j["tools"] = c.tools();
  j["resources"] = c.resources();
  j["templates"] = c.resource_templates();
  j["prompts"] = c.prompts();
  for (const auto& [name, r] : c.tool_routes()) j["tool_routes"][name] = {r.backend, r.original_name, r.advertised};
  for (const auto& [uri, b] : c.resource_routes()) j["resource_routes"][uri] = b;
  for (const auto& [t, b] : c.template_routes()) j["template_routes"][t] = b;
  for (const auto& [name, r] : c.prompt_routes()) j["prompt_routes"][name] = {r.backend, r.original_name};
  j["warnings"] = c.warnings();
  j["backends"] = c.backends();
  return j.dump();
}

// ---------------------------------------------------------------------------------------------
// Prefix strategy

TEST(PrefixStrategy, RenamesEveryToolAndRoutesToTheOriginalName) {
  Catalogue c = MustAggregate(Config("prefix", "{workload}_"),
                              {Backend("jira", {"search"}), Backend("github", {"create_issue", "search"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("github_create_issue", "github_search", "jira_search"));
  const ToolRoute* r = c.ResolveTool("jira_search");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->backend, "jira");
  EXPECT_EQ(r->original_name, "search");
  EXPECT_TRUE(r->advertised);
  EXPECT_EQ(c.ResolveTool("search"), nullptr);
  EXPECT_THAT(c.warnings(), IsEmpty());
  EXPECT_THAT(c.backends(), ElementsAre("github", "jira"));
}

struct PrefixFormatCase {
  std::string format;
  std::vector<std::string> want;
};

TEST(PrefixStrategy, PrefixFormats) {
  const std::vector<PrefixFormatCase> cases = {
      {"{workload}.", {"alpha.echo", "beta.echo"}},
      {"{workload}__{workload}_", {"alpha__alpha_echo", "beta__beta_echo"}},
      {"", {"alpha_echo", "beta_echo"}},  // unset: the default "{workload}_"
  };
  for (const PrefixFormatCase& tc : cases) {
    Catalogue c = MustAggregate(Config("prefix", tc.format), {Backend("beta", {"echo"}), Backend("alpha", {"echo"})});
    EXPECT_EQ(Keys(c.tools()), tc.want) << tc.format;
  }
}

TEST(PrefixStrategy, LiteralPrefixCollisionFirstSortedBackendWins) {
  // "x_" has no {workload}: the three backends' "echo" all become "x_echo".
  Catalogue c = MustAggregate(Config("prefix", "x_"),
                              {Backend("gamma", {"echo"}), Backend("alpha", {"echo", "only_alpha"}),
                               Backend("beta", {"echo"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("x_echo", "x_only_alpha"));
  EXPECT_EQ(c.ResolveTool("x_echo")->backend, "alpha");
  ASSERT_EQ(c.warnings().size(), 2u);
  EXPECT_THAT(c.warnings()[0], HasSubstr("collides after prefixing"));
  EXPECT_THAT(c.warnings()[0], HasSubstr("\"beta\""));
  EXPECT_THAT(c.warnings()[1], HasSubstr("\"gamma\""));
}

TEST(PrefixStrategy, CollisionAfterPrefixingAcrossBackendNames) {
  // "a" + "b_x" and "a_b" + "x" both compose to "a_b_x"; "a" sorts first.
  Catalogue c = MustAggregate(Config("prefix", "{workload}_"), {Backend("a_b", {"x"}), Backend("a", {"b_x"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("a_b_x"));
  EXPECT_EQ(c.ResolveTool("a_b_x")->backend, "a");
  EXPECT_EQ(c.ResolveTool("a_b_x")->original_name, "b_x");
  ASSERT_EQ(c.warnings().size(), 1u);
  EXPECT_THAT(c.warnings()[0], HasSubstr("dropping tool \"x\" of backend \"a_b\""));
}

TEST(PrefixStrategy, EmptyStrategyMeansDefaultPrefix) {
  config::AggregationConfig cfg;  // nothing configured
  Catalogue c = MustAggregate(cfg, {Backend("one", {"t"}), Backend("two", {"t"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("one_t", "two_t"));
}

// ---------------------------------------------------------------------------------------------
// Priority strategy

TEST(PriorityStrategy, LowestIndexWinsAndUniqueNamesStayBare) {
  Catalogue c = MustAggregate(Config("priority", "", {"gamma", "alpha"}),
                              {Backend("alpha", {"search", "a_only"}), Backend("beta", {"search", "b_only"}),
                               Backend("gamma", {"search"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("a_only", "b_only", "search"));
  EXPECT_EQ(c.ResolveTool("search")->backend, "gamma");
  EXPECT_EQ(c.ResolveTool("b_only")->backend, "beta");  // unlisted but unique: bare
  ASSERT_EQ(c.warnings().size(), 2u);
  EXPECT_THAT(c.warnings()[0], HasSubstr("backend \"alpha\" dropped: backend \"gamma\" has priority"));
  EXPECT_THAT(c.warnings()[1], HasSubstr("backend \"beta\" dropped"));
}

TEST(PriorityStrategy, OnlyOneListedClaimantWins) {
  Catalogue c = MustAggregate(Config("priority", "", {"beta"}),
                              {Backend("alpha", {"fetch"}), Backend("beta", {"fetch"}), Backend("gamma", {"fetch"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("fetch"));
  EXPECT_EQ(c.ResolveTool("fetch")->backend, "beta");
}

TEST(PriorityStrategy, NoListedClaimantUsesHardCodedPrefix) {
  // The configured prefixFormat is ignored by the fallback, as in Go.
  Catalogue c = MustAggregate(Config("priority", "{workload}.", {"other"}),
                              {Backend("beta", {"fetch"}), Backend("alpha", {"fetch"}), Backend("other", {"x"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("alpha_fetch", "beta_fetch", "x"));
  EXPECT_EQ(c.ResolveTool("alpha_fetch")->original_name, "fetch");
  EXPECT_THAT(c.warnings(), IsEmpty());
}

TEST(PriorityStrategy, FallbackPrefixMeetingABareNameFirstSortedWins) {
  // "alpha" and "beta" (unlisted) clash on "x" -> alpha_x, beta_x; "aaa" has a bare "alpha_x".
  Catalogue c = MustAggregate(Config("priority", "", {"zzz"}),
                              {Backend("beta", {"x"}), Backend("alpha", {"x"}), Backend("aaa", {"alpha_x"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("alpha_x", "beta_x"));
  EXPECT_EQ(c.ResolveTool("alpha_x")->backend, "aaa");
  ASSERT_EQ(c.warnings().size(), 1u);
  EXPECT_THAT(c.warnings()[0], HasSubstr("dropping tool \"x\" of backend \"alpha\""));
}

TEST(PriorityStrategy, ConfigErrors) {
  EXPECT_EQ(Aggregate(Config("priority"), {Backend("a", {"x"})}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status s = Aggregate(Config("priority", "", {"a", ""}), {Backend("a", {"x"})}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("index 1"));
  s = Aggregate(Config("first-wins"), {Backend("a", {"x"})}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("\"first-wins\""));
}

// ---------------------------------------------------------------------------------------------
// Manual strategy

TEST(ManualStrategy, UnresolvedConflictsNameToolsAndBackends) {
  config::AggregationConfig cfg = Config("manual");
  Workload(cfg, "alpha").overrides["search"] = {"alpha_search", "", std::nullopt};  // beta/gamma not overridden
  absl::Status s = Aggregate(cfg, {Backend("gamma", {"search", "fetch"}), Backend("beta", {"search", "fetch"}),
                                   Backend("alpha", {"search", "list"})})
                       .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  const std::string m(s.message());
  EXPECT_THAT(m, HasSubstr("unresolved tool name conflicts detected"));
  EXPECT_THAT(m, HasSubstr("fetch: [beta, gamma]"));
  EXPECT_THAT(m, HasSubstr("search: [beta, gamma]"));
  EXPECT_THAT(m, ::testing::Not(HasSubstr("list")));
}

TEST(ManualStrategy, OverridesResolveEveryConflict) {
  config::AggregationConfig cfg = Config("manual");
  Workload(cfg, "alpha").overrides["search"] = {"alpha_search", "", std::nullopt};
  Workload(cfg, "beta").overrides["search"] = {"beta_search", "Search beta", std::nullopt};
  Catalogue c = MustAggregate(cfg, {Backend("beta", {"search", "b"}), Backend("alpha", {"search", "a"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("a", "alpha_search", "b", "beta_search"));
  EXPECT_EQ(c.ResolveTool("beta_search")->original_name, "search");
  EXPECT_EQ(c.ResolveTool("beta_search")->backend, "beta");
  EXPECT_EQ(c.tools()[3]["description"], "Search beta");
}

TEST(ManualStrategy, CollisionAfterOverride) {
  config::AggregationConfig cfg = Config("manual");
  Workload(cfg, "alpha").overrides["x"] = {"same", "", std::nullopt};
  Workload(cfg, "beta").overrides["y"] = {"same", "", std::nullopt};
  absl::Status s = Aggregate(cfg, {Backend("alpha", {"x"}), Backend("beta", {"y"})}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("collision after override"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("same: [alpha, beta]"));
}

TEST(ManualStrategy, RenameOntoAnotherBackendsNameIsUnresolved) {
  // alpha renames "x" onto beta's untouched "search": beta has no override, so it is unresolved.
  config::AggregationConfig cfg = Config("manual");
  Workload(cfg, "alpha").overrides["x"] = {"search", "", std::nullopt};
  absl::Status s = Aggregate(cfg, {Backend("alpha", {"x"}), Backend("beta", {"search"})}).status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("unresolved tool name conflicts detected: - search: [alpha, beta]"));
}

TEST(ManualStrategy, NoConflictsKeepBareNames) {
  config::AggregationConfig cfg = Config("manual");
  Workload(cfg, "alpha");
  Catalogue c = MustAggregate(cfg, {Backend("alpha", {"a1", "a2"}), Backend("beta", {"b1"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("a1", "a2", "b1"));
}

// ---------------------------------------------------------------------------------------------
// Overrides

TEST(Overrides, RenameDescriptionAndPartialAnnotationsKeepEverythingElseVerbatim) {
  Json tool = Json::parse(R"({
    "name": "create_issue",
    "title": "Create issue",
    "description": "old",
    "inputSchema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                    "$defs": {"label": {"type": "string"}},
                    "properties": {"labels": {"type": "array", "items": {"$ref": "#/$defs/label"}}}},
    "outputSchema": {"type": "object"},
    "annotations": {"title": "Old", "readOnlyHint": false, "destructiveHint": true},
    "_meta": {"vendor/x": 1}
  })");
  BackendCapabilities b;
  b.backend = "github";
  b.tools.push_back(tool);
  config::AggregationConfig cfg = Config("prefix", "{workload}_");
  config::ToolAnnotationsOverride annotations;
  annotations.title = "New";
  annotations.read_only_hint = true;
  Workload(cfg, "github").overrides["create_issue"] = {"open_issue", "Opens an issue", annotations};
  Catalogue c = MustAggregate(cfg, {b});
  ASSERT_EQ(c.tools().size(), 1u);
  Json want = tool;
  want["name"] = "github_open_issue";  // the override's name, then prefixed
  want["description"] = "Opens an issue";
  want["annotations"] = {{"title", "New"}, {"readOnlyHint", true}, {"destructiveHint", true}};
  EXPECT_EQ(c.tools()[0], want) << c.tools()[0].dump(2);
  EXPECT_EQ(c.ResolveTool("github_open_issue")->original_name, "create_issue");
}

TEST(Overrides, AnnotationsCreatedWhenTheBackendHadNoneAndEmptyFieldsChangeNothing) {
  config::AggregationConfig cfg = Config("priority", "", {"a"});
  config::ToolAnnotationsOverride annotations;
  annotations.open_world_hint = false;
  annotations.idempotent_hint = true;
  Workload(cfg, "a").overrides["t"] = {"", "", annotations};  // name and description empty: unchanged
  Catalogue c = MustAggregate(cfg, {Backend("a", {"t"})});
  ASSERT_EQ(c.tools().size(), 1u);
  EXPECT_EQ(c.tools()[0]["name"], "t");
  EXPECT_EQ(c.tools()[0]["description"], "does t");
  EXPECT_EQ(c.tools()[0]["annotations"], (Json{{"openWorldHint", false}, {"idempotentHint", true}}));
}

TEST(Overrides, OverrideRenameAvoidsAPriorityConflict) {
  // Overrides run before conflict resolution: the renamed tool no longer clashes.
  config::AggregationConfig cfg = Config("priority", "", {"alpha"});
  Workload(cfg, "beta").overrides["search"] = {"beta_search", "", std::nullopt};
  Catalogue c = MustAggregate(cfg, {Backend("alpha", {"search"}), Backend("beta", {"search"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("beta_search", "search"));
  EXPECT_EQ(c.ResolveTool("beta_search")->original_name, "search");
  EXPECT_THAT(c.warnings(), IsEmpty());
}

TEST(Overrides, UnknownToolAndUnknownWorkloadAreWarned) {
  config::AggregationConfig cfg = Config("prefix", "{workload}_");
  Workload(cfg, "alpha").overrides["nope"] = {"x", "", std::nullopt};
  Workload(cfg, "typo").filter = {"a"};
  Catalogue c = MustAggregate(cfg, {Backend("alpha", {"a"})});
  EXPECT_TRUE(AnyWarningHas(c, "override for tool \"nope\" of workload \"alpha\" matches no tool"));
  EXPECT_TRUE(AnyWarningHas(c, "workload \"typo\" matches no backend"));
}

// ---------------------------------------------------------------------------------------------
// Visibility

TEST(Visibility, ExcludeAllToolsHidesEverythingButKeepsRoutes) {
  config::AggregationConfig cfg = Config("prefix", "{workload}_");
  cfg.exclude_all_tools = true;
  Catalogue c = MustAggregate(cfg, {Backend("a", {"x", "y"}), Backend("b", {"x"})});
  EXPECT_THAT(c.tools(), IsEmpty());
  EXPECT_THAT(RouteNames(c), ElementsAre("a_x", "a_y", "b_x"));
  for (const auto& [name, route] : c.tool_routes()) EXPECT_FALSE(route.advertised) << name;
}

TEST(Visibility, DefaultDenyHidesBackendsWithoutAnEntry) {
  config::AggregationConfig cfg = Config("prefix", "{workload}_");
  cfg.default_tool_visibility = "deny";
  Workload(cfg, "listed");
  Catalogue c = MustAggregate(cfg, {Backend("listed", {"x"}), Backend("unlisted", {"y"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("listed_x"));
  ASSERT_NE(c.ResolveTool("unlisted_y"), nullptr);
  EXPECT_FALSE(c.ResolveTool("unlisted_y")->advertised);

  cfg.default_tool_visibility = "allow";
  c = MustAggregate(cfg, {Backend("listed", {"x"}), Backend("unlisted", {"y"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("listed_x", "unlisted_y"));
}

TEST(Visibility, WorkloadExcludeAllHidesOnlyThatBackend) {
  config::AggregationConfig cfg = Config("priority", "", {"a"});
  Workload(cfg, "b").exclude_all = true;
  Catalogue c = MustAggregate(cfg, {Backend("a", {"x"}), Backend("b", {"y", "z"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("x"));
  EXPECT_THAT(RouteNames(c), ElementsAre("x", "y", "z"));
  EXPECT_FALSE(c.ResolveTool("z")->advertised);
}

TEST(Visibility, FilterMatchesTheBackendsOriginalToolName) {
  config::AggregationConfig cfg = Config("prefix", "{workload}_");
  config::WorkloadToolConfig& w = Workload(cfg, "gh");
  w.overrides["create_issue"] = {"open_issue", "", std::nullopt};
  w.filter = {"create_issue", "list_repos"};
  Catalogue c = MustAggregate(cfg, {Backend("gh", {"create_issue", "list_repos", "delete_repo"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("gh_list_repos", "gh_open_issue"));
  EXPECT_FALSE(c.ResolveTool("gh_delete_repo")->advertised);
  EXPECT_THAT(c.warnings(), IsEmpty());

  // Written against the override name (what Go matches), the filter hides the tool and says why.
  Workload(cfg, "gh").filter = {"open_issue"};
  c = MustAggregate(cfg, {Backend("gh", {"create_issue", "list_repos"})});
  EXPECT_THAT(c.tools(), IsEmpty());
  EXPECT_TRUE(AnyWarningHas(c, "filter entry \"open_issue\" of workload \"gh\" matches no tool"));
  EXPECT_TRUE(AnyWarningHas(c, "override name of \"create_issue\""));
}

TEST(Visibility, HiddenToolsStayRoutableForCompositeSteps) {
  config::AggregationConfig cfg = Config("prefix", "{workload}_");
  Workload(cfg, "db").filter = {"query"};
  Workload(cfg, "db").overrides["drop"] = {"drop_table", "", std::nullopt};
  Catalogue c = MustAggregate(cfg, {Backend("db", {"query", "drop"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("db_query"));
  const ToolRoute* hidden = c.ResolveTool("db_drop_table");
  ASSERT_NE(hidden, nullptr);
  EXPECT_FALSE(hidden->advertised);
  EXPECT_EQ(hidden->original_name, "drop");
  // The composite-step form "<workload>.<backend tool name>".
  std::optional<ToolRef> ref = c.ResolveToolRef("db.drop");
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->name, "db_drop_table");
  EXPECT_EQ(ref->route, hidden);
  EXPECT_EQ(c.ResolveToolRef("db_query")->name, "db_query");
  EXPECT_FALSE(c.ResolveToolRef("db.drop_table").has_value());  // the advertised name is not the backend's
  EXPECT_FALSE(c.ResolveToolRef(".drop").has_value());
  EXPECT_FALSE(c.ResolveToolRef("nope.drop").has_value());
}

// ---------------------------------------------------------------------------------------------
// Determinism: the input order of backends never changes the result.

TEST(Determinism, EveryInputOrderGivesTheSameCatalogue) {
  std::vector<config::AggregationConfig> configs = {Config("prefix", "x_"), Config("priority", "", {"c", "b"}),
                                                    Config("priority", "", {"zzz"}), Config("manual")};
  Workload(configs[3], "a").overrides["shared"] = {"a_shared", "", std::nullopt};
  Workload(configs[3], "b").overrides["shared"] = {"b_shared", "", std::nullopt};
  Workload(configs[3], "c").overrides["shared"] = {"c_shared", "", std::nullopt};
  Workload(configs[3], "d").overrides["shared"] = {"d_shared", "", std::nullopt};
  auto make = [](const std::string& name) {
    BackendCapabilities b = Backend(name, {"shared", name + "_own", "common_" + name});
    b.tools.push_back(Tool("shared"));  // listed twice: the later is dropped, with a warning
    b.resources = {Resource("file:///shared"), Resource("file:///" + name)};
    b.resource_templates = {Template("t://{id}"), Template("t://" + name + "/{id}")};
    b.prompts = {Prompt("p"), Prompt("p_" + name)};
    return b;
  };
  for (const config::AggregationConfig& cfg : configs) {
    std::vector<std::string> order = {"a", "b", "c", "d"};
    std::string first;
    int permutations = 0;
    do {
      std::vector<BackendCapabilities> backends;
      for (const std::string& n : order) backends.push_back(make(n));
      Catalogue c = MustAggregate(cfg, std::move(backends));
      const std::string f = Fingerprint(c);
      if (first.empty()) first = f;
      EXPECT_EQ(f, first) << cfg.conflict_resolution << " order " << order[0] << order[1] << order[2] << order[3];
      ++permutations;
    } while (std::next_permutation(order.begin(), order.end()));
    EXPECT_EQ(permutations, 24);
  }
}

// ---------------------------------------------------------------------------------------------
// Prompts

TEST(Prompts, AlwaysPrefixedUnderPrefixAndManual) {
  for (const std::string strategy : {"prefix", "manual"}) {
    config::AggregationConfig cfg = Config(strategy, "{workload}.");
    Workload(cfg, "a");
    BackendCapabilities a = Backend("a", {});
    a.prompts = {Prompt("review"), Prompt("unique")};
    BackendCapabilities b = Backend("b", {});
    b.prompts = {Prompt("review")};
    Catalogue c = MustAggregate(cfg, {b, a});
    EXPECT_THAT(Keys(c.prompts()), ElementsAre("a.review", "a.unique", "b.review")) << strategy;
    const PromptRoute* r = c.ResolvePrompt("b.review");
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->backend, "b");
    EXPECT_EQ(r->original_name, "review");
    EXPECT_EQ(c.ResolvePrompt("review"), nullptr);
    EXPECT_EQ(c.prompts()[0]["description"], "prompt review");
  }
}

TEST(Prompts, PriorityListedKeepBareNamesLowestRankWinsLoserDropped) {
  BackendCapabilities a = Backend("a", {}), b = Backend("b", {}), u = Backend("u", {});
  a.prompts = {Prompt("review"), Prompt("a_only")};
  b.prompts = {Prompt("review")};
  u.prompts = {Prompt("review")};  // unlisted: always prefixed, even when its name is unique
  Catalogue c = MustAggregate(Config("priority", "", {"b", "a"}), {a, b, u});
  EXPECT_THAT(Keys(c.prompts()), ElementsAre("a_only", "review", "u_review"));
  EXPECT_EQ(c.ResolvePrompt("review")->backend, "b");
  EXPECT_EQ(c.ResolvePrompt("a_review"), nullptr);  // the loser is dropped, never re-prefixed
  ASSERT_EQ(c.warnings().size(), 1u);
  EXPECT_THAT(c.warnings()[0], HasSubstr("keeping backend \"b\", dropping backend \"a\""));
}

TEST(Prompts, AmbiguousPrefixCompositionDropsEveryClaimant) {
  // "b1" + "x_y" and "b1_x" + "y" both compose to "b1_x_y": nobody advertises it.
  BackendCapabilities b1 = Backend("b1", {}), b1x = Backend("b1_x", {});
  b1.prompts = {Prompt("x_y"), Prompt("keep")};
  b1x.prompts = {Prompt("y")};
  Catalogue c = MustAggregate(Config("prefix", "{workload}_"), {b1x, b1});
  EXPECT_THAT(Keys(c.prompts()), ElementsAre("b1_keep"));
  EXPECT_EQ(c.ResolvePrompt("b1_x_y"), nullptr);
  ASSERT_EQ(c.warnings().size(), 1u);
  EXPECT_THAT(c.warnings()[0], HasSubstr("\"b1_x_y\" is ambiguous"));
  EXPECT_THAT(c.warnings()[0], HasSubstr("b1/x_y, b1_x/y"));
}

TEST(Prompts, PrefixedNameMeetingAListedBareNameDropsBoth) {
  BackendCapabilities listed = Backend("listed", {}), other = Backend("other", {});
  listed.prompts = {Prompt("other_p")};
  other.prompts = {Prompt("p")};
  Catalogue c = MustAggregate(Config("priority", "", {"listed"}), {listed, other});
  EXPECT_THAT(c.prompts(), IsEmpty());
  EXPECT_TRUE(c.prompt_routes().empty());
}

TEST(Prompts, DuplicateWithinOneBackendKeepsTheFirst) {
  BackendCapabilities a = Backend("a", {});
  a.prompts = {Prompt("p"), Json{{"name", "p"}, {"description", "second"}}, Json{{"description", "no name"}}};
  Catalogue c = MustAggregate(Config("prefix", "{workload}_"), {a});
  ASSERT_EQ(c.prompts().size(), 1u);
  EXPECT_EQ(c.prompts()[0]["description"], "prompt p");
  EXPECT_TRUE(AnyWarningHas(c, "listed prompt \"p\" twice"));
  EXPECT_TRUE(AnyWarningHas(c, "a prompt without a name"));
}

// ---------------------------------------------------------------------------------------------
// Resources and templates

TEST(Resources, DuplicatesGoToTheFirstSortedBackendAndListsAreSorted) {
  BackendCapabilities b = Backend("b", {}), a = Backend("a", {}), c0 = Backend("c", {});
  b.resources = {Resource("file:///z", "from b"), Resource("file:///shared", "from b")};
  a.resources = {Resource("file:///shared", "from a"), Resource("file:///m", "from a")};
  c0.resources = {Resource("file:///shared", "from c")};
  b.resource_templates = {Template("logs://{day}", "from b"), Template("b://{x}")};
  a.resource_templates = {Template("logs://{day}", "from a")};
  Catalogue c = MustAggregate(Config("prefix", "{workload}_"), {b, c0, a});
  EXPECT_THAT(Keys(c.resources(), "uri"), ElementsAre("file:///m", "file:///shared", "file:///z"));
  EXPECT_EQ(c.resources()[1]["name"], "from a");
  EXPECT_EQ(c.resource_routes().at("file:///shared"), "a");
  EXPECT_EQ(c.resource_routes().at("file:///z"), "b");
  EXPECT_THAT(Keys(c.resource_templates(), "uriTemplate"), ElementsAre("b://{x}", "logs://{day}"));
  EXPECT_EQ(c.template_routes().at("logs://{day}"), "a");
  EXPECT_EQ(c.resource_templates()[1]["name"], "from a");
  EXPECT_EQ(c.warnings().size(), 3u);
  EXPECT_TRUE(AnyWarningHas(c, "duplicate resource \"file:///shared\": keeping backend \"a\", dropping backend \"c\""));
  EXPECT_TRUE(AnyWarningHas(c, "duplicate resource template \"logs://{day}\""));
}

TEST(Resources, ItemsWithoutTheirKeyAreDropped) {
  BackendCapabilities a = Backend("a", {});
  a.tools = {Json{{"description", "nameless"}}, Json("not an object"), Tool("ok")};
  a.resources = {Json{{"uri", ""}}, Json{{"uri", 7}}, Resource("file:///ok")};
  a.resource_templates = {Json{{"name", "t"}}};
  Catalogue c = MustAggregate(Config("prefix", "{workload}_"), {a});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("a_ok"));
  EXPECT_THAT(Keys(c.resources(), "uri"), ElementsAre("file:///ok"));
  EXPECT_THAT(c.resource_templates(), IsEmpty());
  EXPECT_EQ(c.warnings().size(), 5u);
}

// ---------------------------------------------------------------------------------------------
// RFC 6570 template matching

struct MatchCase {
  std::string tmpl;
  std::string uri;
  bool match;
};

TEST(UriTemplateMatch, Table) {
  const std::vector<MatchCase> cases = {
      // Level 1 {var}: never matches '/'.
      {"test://template/{id}/data", "test://template/123/data", true},
      {"test://template/{id}/data", "test://template/abc-DEF_1.2~x/data", true},
      {"test://template/{id}/data", "test://template/a%2Fb/data", true},
      {"test://template/{id}/data", "test://template/a/b/data", false},
      {"test://template/{id}/data", "test://template/123/data/extra", false},
      {"test://template/{id}/data", "test://template/123/dat", false},
      {"test://template/{id}/data", "test://template/a%2/data", false},
      {"test://template/{id}/data", "test://template/a b/data", false},
      {"test://template/{id}/data", "test://template/\xc3\xa9/data", false},
      {"test://template/{id}/data", "test://template//data", true},  // empty = undefined (Go parity)
      // The "everything" server's templates, and the literal multi-variable expression.
      {"demo://resource/dynamic/text/{resourceId}", "demo://resource/dynamic/text/42", true},
      {"demo://resource/dynamic/text/{resourceId}", "demo://resource/dynamic/blob/42", false},
      {"demo://resource/dynamic/{text,blob}/{resourceId}", "demo://resource/dynamic/text/42", true},
      {"demo://resource/dynamic/{text,blob}/{resourceId}", "demo://resource/dynamic/a,b/42", true},
      {"demo://resource/dynamic/{text,blob}/{resourceId}", "demo://resource/dynamic/a/b/42", false},
      // {+var} reserved expansion may match '/' and other reserved characters.
      {"file:///{+path}", "file:///home/user/notes.txt", true},
      {"file:///{+path}", "file:///a/b?x=1&y=2", true},
      {"file:///{path}", "file:///home/user", false},
      {"page{#section}", "page#intro/part", true},
      {"file{.ext}", "file.tar.gz", true},
      // {/var}: one segment; {/var*}: any number of segments.
      {"x:{/seg}", "x:/a", true},
      {"x:{/seg}", "x:/a/b", false},
      {"repo://{owner}/{repo}/contents{/path*}", "repo://o/r/contents/a/b/c.md", true},
      {"repo://{owner}/{repo}/contents{/path*}", "repo://o/r/contents", true},
      {"repo://{owner}/{repo}/contents{/path*}", "repo://o/r/contentsX", false},
      // Query forms: variables in template order, each may be absent.
      {"search://items{?q,limit}", "search://items?q=foo&limit=10", true},
      {"search://items{?q,limit}", "search://items?q=foo", true},
      {"search://items{?q,limit}", "search://items?limit=10", true},
      {"search://items{?q,limit}", "search://items", true},
      {"search://items{?q,limit}", "search://items?q=", true},
      {"search://items{?q,limit}", "search://items?limit=10&q=foo", false},
      {"search://items{?q,limit}", "search://items?other=1", false},
      {"search://items{?q,limit}", "search://items?q=a/b", false},
      {"search://items{?q}{&page}", "search://items?q=x&page=2", true},
      {"m{;x,y}", "m;x=1;y=2", true},
      {"m{;x,y}", "m;x;y=2", true},
      {"m{?list*}", "m?list=a&list=b", true},
      // Prefix modifier.
      {"dict://{term:1}/{term}", "dict://c/cat", true},
      {"x/{v:3}", "x/abc", true},
      {"x/{v:3}", "x/abcd", false},
  };
  for (const MatchCase& tc : cases) {
    absl::StatusOr<UriTemplate> t = UriTemplate::Parse(tc.tmpl);
    ASSERT_TRUE(t.ok()) << tc.tmpl << ": " << t.status();
    EXPECT_EQ(t->Matches(tc.uri), tc.match) << tc.tmpl << " vs " << tc.uri;
  }
}

TEST(UriTemplateMatch, ParseErrors) {
  for (const std::string bad : {"test://{unclosed", "test://{}", "test://{=x}", "test://{a b}", "test://{x:0}",
                                "test://{x:10000}", "test://}x", "a b{x}", "t://{a,}", "t://{a{b}}", "t://%zz{x}",
                                "t://{.}"}) {
    EXPECT_FALSE(UriTemplate::Parse(bad).ok()) << bad;
  }
}

TEST(ResolveResource, ExactUriThenTemplateStringThenSortedTemplateMatch) {
  BackendCapabilities logs = Backend("logs", {}), files = Backend("files", {}), demo = Backend("demo", {});
  logs.resource_templates = {Template("file:///logs/{date}.txt")};
  files.resource_templates = {Template("file:///{+path}")};
  files.resources = {Resource("file:///logs/pinned.txt")};
  demo.resource_templates = {Template("demo://resource/dynamic/text/{resourceId}"),
                             Template("demo://resource/dynamic/blob/{resourceId}"), Template("bad://{unclosed")};
  Catalogue c = MustAggregate(Config("prefix", "{workload}_"), {logs, files, demo});

  std::optional<ResourceRoute> r = c.ResolveResource("file:///logs/pinned.txt");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->backend, "files");
  EXPECT_EQ(r->via, ResourceRoute::Via::kResource);

  r = c.ResolveResource("file:///logs/{date}.txt");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->backend, "logs");
  EXPECT_EQ(r->via, ResourceRoute::Via::kTemplateString);

  // "file:///logs/{date}.txt" sorts before "file:///{+path}", so the specific template wins.
  r = c.ResolveResource("file:///logs/2025-01-01.txt");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->backend, "logs");
  EXPECT_EQ(r->via, ResourceRoute::Via::kTemplateMatch);
  EXPECT_EQ(r->uri, "file:///logs/2025-01-01.txt");  // forwarded unchanged
  EXPECT_EQ(r->uri_template, "file:///logs/{date}.txt");

  r = c.ResolveResource("file:///etc/hosts");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->backend, "files");

  r = c.ResolveResource("demo://resource/dynamic/blob/7");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->backend, "demo");
  EXPECT_EQ(r->uri_template, "demo://resource/dynamic/blob/{resourceId}");

  EXPECT_FALSE(c.ResolveResource("demo://resource/dynamic/blob/7/8").has_value());
  EXPECT_FALSE(c.ResolveResource("demo://resource/static/1").has_value());
  // An invalid template is advertised and routes by its exact string, but never matches.
  EXPECT_EQ(c.ResolveResource("bad://{unclosed")->via, ResourceRoute::Via::kTemplateString);
  EXPECT_FALSE(c.ResolveResource("bad://x").has_value());
  EXPECT_TRUE(AnyWarningHas(c, "not a valid RFC 6570 template"));
}

// ---------------------------------------------------------------------------------------------
// Pagination

std::vector<Json> Named(int n, const char* key = "name") {
  std::vector<Json> out;
  for (int i = 0; i < n; ++i) out.push_back(Json{{key, absl::StrCat("item_", 100000 + i)}});
  return out;
}

// Walks every page; returns the keys in delivery order and the number of pages.
std::pair<std::vector<std::string>, int> WalkAll(ListKind kind, const std::vector<Json>& list, size_t page_size) {
  std::vector<std::string> keys;
  std::string cursor;
  int pages = 0;
  do {
    absl::StatusOr<PageResult> page = Page(kind, list, cursor, page_size);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) break;
    ++pages;
    for (const Json& item : page->items) keys.push_back(item.at(ListKeyField(kind)).get<std::string>());
    cursor = page->next_cursor;
    EXPECT_LE(page->items.size(), page_size);
  } while (!cursor.empty() && pages < 100000);
  return {keys, pages};
}

TEST(Pagination, WalksAllPagesInKeyOrder) {
  struct Case {
    int n;
    size_t page_size;
    int want_pages;
  };
  for (const Case& tc : std::vector<Case>{{2500, 1000, 3}, {1000, 1000, 1}, {1001, 1000, 2}, {50, 7, 8}, {0, 10, 1},
                                          {3, 1, 3}}) {
    std::vector<Json> list = Named(tc.n);
    std::reverse(list.begin(), list.end());  // unsorted input: Page sorts by key
    auto [keys, pages] = WalkAll(ListKind::kTools, list, tc.page_size);
    EXPECT_EQ(pages, tc.want_pages) << tc.n << "/" << tc.page_size;
    ASSERT_EQ(keys.size(), static_cast<size_t>(tc.n));
    EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
    EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), keys.size());
  }
}

// The wire form, made with the catalogue: each item's JSON text and key, index for index, so that a page written from it is the
// page Page() gives; PageOf with the catalogue's keys pages exactly as without them.
TEST(Pagination, CatalogueWireFormMatchesItsItems) {
  BackendCapabilities b = Backend("b", {"zeta", "alpha", "mid"});
  b.tools[1]["description"] = "caf\xc3\xa9 \"quoted\"";
  b.resources = {Json{{"uri", "file:///y"}}, Json{{"uri", "file:///x"}, {"size", 3}}};
  b.prompts = {Json{{"name", "p"}}};
  const Catalogue c = MustAggregate(Config("prefix", "{workload}_"), {b});
  const std::pair<ListKind, const std::vector<Json>*> lists[] = {{ListKind::kTools, &c.tools()},
                                                                 {ListKind::kResources, &c.resources()},
                                                                 {ListKind::kResourceTemplates, &c.resource_templates()},
                                                                 {ListKind::kPrompts, &c.prompts()}};
  for (const auto& [kind, items] : lists) {
    ASSERT_EQ(c.wire(kind).size(), items->size());
    ASSERT_EQ(c.keys(kind).size(), items->size());
    for (size_t i = 0; i < items->size(); ++i) {
      EXPECT_EQ(Json::parse(c.wire(kind)[i]), (*items)[i]);
      EXPECT_EQ(c.keys(kind)[i], (*items)[i].at(ListKeyField(kind)).get<std::string>());
    }
  }
  std::string cursor;
  std::vector<size_t> with_keys, without;
  do {
    auto a = PageOf(ListKind::kTools, c.tools(), cursor, 1, &c.keys(ListKind::kTools));
    auto b2 = PageOf(ListKind::kTools, c.tools(), cursor, 1);
    ASSERT_TRUE(a.ok() && b2.ok());
    EXPECT_EQ(a->next_cursor, b2->next_cursor);
    with_keys.insert(with_keys.end(), a->indices.begin(), a->indices.end());
    without.insert(without.end(), b2->indices.begin(), b2->indices.end());
    cursor = a->next_cursor;
  } while (!cursor.empty());
  EXPECT_THAT(with_keys, ElementsAre(0, 1, 2));
  EXPECT_EQ(with_keys, without);
}

TEST(Pagination, DuplicateKeysAcrossPageBoundariesAreNeverLost) {
  std::vector<Json> list;
  for (int i = 0; i < 5; ++i) list.push_back(Json{{"uri", "a"}});
  for (int i = 0; i < 7; ++i) list.push_back(Json{{"uri", "b"}, {"i", i}});
  list.push_back(Json{{"uri", "c"}});
  for (size_t page_size : {1, 2, 3, 4, 6, 13}) {
    auto [keys, pages] = WalkAll(ListKind::kResources, list, page_size);
    EXPECT_EQ(keys.size(), list.size()) << page_size;
    EXPECT_EQ(std::count(keys.begin(), keys.end(), "b"), 7) << page_size;
  }
}

TEST(Pagination, LastPageHasNoCursorAndDefaultPageSizeIs1000) {
  std::vector<Json> list = Named(1500);
  absl::StatusOr<PageResult> first = Page(ListKind::kPrompts, list, "", 0);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->items.size(), 1000u);
  ASSERT_FALSE(first->next_cursor.empty());
  absl::StatusOr<PageResult> second = Page(ListKind::kPrompts, list, first->next_cursor);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->items.size(), 500u);
  EXPECT_TRUE(second->next_cursor.empty());
  EXPECT_EQ(second->items.front()["name"], "item_101000");
}

TEST(Pagination, CursorOfAVanishedKeyResumesAtTheNextKey) {
  std::vector<Json> list = Named(10, "uriTemplate");
  absl::StatusOr<PageResult> first = Page(ListKind::kResourceTemplates, list, "", 4);
  ASSERT_TRUE(first.ok());
  list.erase(list.begin() + 3);  // the first page's last key disappears
  absl::StatusOr<PageResult> second = Page(ListKind::kResourceTemplates, list, first->next_cursor, 4);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->items.front()["uriTemplate"], "item_100004");
}

TEST(Pagination, BadCursorsAreRejected) {
  std::vector<Json> list = Named(20);
  absl::StatusOr<PageResult> first = Page(ListKind::kTools, list, "", 5);
  ASSERT_TRUE(first.ok());
  auto encode = [](const std::string& json) { return absl::WebSafeBase64Escape(json); };
  const std::vector<std::string> bad = {
      "!!!not base64!!!",
      std::string(kMaxCursorLength + 1, 'A'),
      encode("not json"),
      encode("[1,2]"),
      encode("null"),
      encode(R"({"k":"prompts","l":"item_100004"})"),  // minted for another list
      encode(R"({"l":"item_100004"})"),
      encode(R"({"k":"tools","l":""})"),
      encode(R"({"k":"tools","l":7})"),
      encode(R"({"k":"tools","l":"item_100004","d":-1})"),
      encode(R"({"k":"tools","l":"item_100004","d":1.5})"),
      encode(R"({"k":"tools","l":"item_100004","d":"2"})"),
      first->next_cursor + "=",  // padded
  };
  for (const std::string& cursor : bad) {
    absl::StatusOr<PageResult> page = Page(ListKind::kTools, list, cursor, 5);
    EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument) << cursor;
    EXPECT_EQ(page.status().message(), "invalid cursor");
  }
  // A cursor minted for tools is accepted by tools only.
  EXPECT_TRUE(Page(ListKind::kTools, list, first->next_cursor, 5).ok());
  EXPECT_FALSE(Page(ListKind::kPrompts, list, first->next_cursor, 5).ok());
  // A well-formed hand-made cursor works (the format is Go's): "d" counts the items with key "l"
  // already delivered, so without it the page starts AT that key.
  absl::StatusOr<PageResult> page =
      Page(ListKind::kTools, list, encode(R"({"k":"tools","l":"item_100004","d":1})"), 5);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->items.front()["name"], "item_100005");
  page = Page(ListKind::kTools, list, encode(R"({"k":"tools","l":"item_100004"})"), 5);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->items.front()["name"], "item_100004");
}

TEST(Pagination, PagesTheCatalogueLists) {
  std::vector<BackendCapabilities> backends;
  for (int b = 0; b < 3; ++b) {
    BackendCapabilities caps = Backend(absl::StrCat("b", b), {});
    for (int t = 0; t < 5; ++t) caps.tools.push_back(Tool(absl::StrCat("t", t)));
    backends.push_back(std::move(caps));
  }
  Catalogue c = MustAggregate(Config("prefix", "{workload}_"), std::move(backends));
  auto [keys, pages] = WalkAll(ListKind::kTools, c.tools(), 4);
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(keys, Keys(c.tools()));
}

// ---------------------------------------------------------------------------------------------
// Backends

TEST(Backends, FailedBackendsAreSkippedAndNoneLeftIsAnError) {
  BackendCapabilities down = Backend("down", {"x"});
  down.ok = false;
  Catalogue c = MustAggregate(Config("prefix", "{workload}_"), {down, Backend("up", {"x"})});
  EXPECT_THAT(Keys(c.tools()), ElementsAre("up_x"));
  EXPECT_THAT(c.backends(), ElementsAre("up"));

  absl::Status s = Aggregate(Config("prefix", "{workload}_"), {down}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "no backends returned capabilities");
  EXPECT_EQ(Aggregate(Config("prefix", "{workload}_"), {}).status().code(), absl::StatusCode::kUnavailable);
}

TEST(Backends, DuplicateOrEmptyBackendNamesAreRejected) {
  absl::Status s = Aggregate(Config("prefix"), {Backend("a", {"x"}), Backend("a", {"y"})}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("\"a\""));
  EXPECT_EQ(Aggregate(Config("prefix"), {Backend("", {"x"})}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Backends, DuplicateToolWithinOneBackendKeepsTheFirst) {
  BackendCapabilities a = Backend("a", {"x"});
  a.tools.push_back(Tool("x", "second"));
  Catalogue c = MustAggregate(Config("priority", "", {"a"}), {a});
  ASSERT_EQ(c.tools().size(), 1u);
  EXPECT_EQ(c.tools()[0]["description"], "does x");
  EXPECT_TRUE(AnyWarningHas(c, "listed tool \"x\" twice"));
}

// ---------------------------------------------------------------------------------------------
// Large input: 100 backends x 50 tools (25 shared names, 25 own ones). Just has to run; no timing.

TEST(LargeInput, HundredBackendsTimesFiftyTools) {
  auto make = [] {
    std::vector<BackendCapabilities> backends;
    for (int b = 0; b < 100; ++b) {
      BackendCapabilities caps;
      caps.backend = absl::StrCat("backend-", 1000 + b);
      for (int t = 0; t < 50; ++t) {
        caps.tools.push_back(Tool(t < 25 ? absl::StrCat("shared_", t) : absl::StrCat("own_", b, "_", t)));
      }
      caps.resources.push_back(Resource(absl::StrCat("file:///", b)));
      caps.resource_templates.push_back(Template(absl::StrCat("t://", b, "/{id}")));
      caps.prompts.push_back(Prompt("p"));
      backends.push_back(std::move(caps));
    }
    return backends;
  };
  Catalogue prefix = MustAggregate(Config("prefix", "{workload}_"), make());
  EXPECT_EQ(prefix.tools().size(), 5000u);
  EXPECT_EQ(prefix.prompts().size(), 100u);
  EXPECT_EQ(prefix.ResolveResource("t://99/abc")->backend, "backend-1099");

  Catalogue priority = MustAggregate(Config("priority", "", {"backend-1042"}), make());
  EXPECT_EQ(priority.tools().size(), 25u + 100u * 25u);
  EXPECT_EQ(priority.ResolveTool("shared_3")->backend, "backend-1042");
  EXPECT_EQ(priority.warnings().size(), 99u * 25u);

  absl::Status manual = Aggregate(Config("manual"), make()).status();
  EXPECT_EQ(manual.code(), absl::StatusCode::kFailedPrecondition);

  auto [keys, pages] = WalkAll(ListKind::kTools, prefix.tools(), kDefaultPageSize);
  EXPECT_EQ(pages, 5);
  EXPECT_EQ(keys.size(), 5000u);
}

}  // namespace
}  // namespace vmcp::gateway
