// Tests of discovery/config_watcher.h with real files and real inotify, in TEST_TMPDIR: the ConfigMap
// layout kubelet writes (timestamped dirs, the `..data` symlink swapped by a rename), plain files
// replaced or edited in place, invalid configs, identical rewrites, bursts, Trigger, Stop, and a
// replaced directory. Every wait is on a condition variable with a deadline; a "nothing delivered" is
// proven by the next delivery being the next positive change.
#include "discovery/config_watcher.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "config/environment.h"

namespace vmcp::discovery {
namespace {

namespace fs = std::filesystem;
using Activity = ConfigWatcher::Activity;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kDeadline = seconds(15);  // generous: the machine is shared

// A valid config whose `name` tells versions apart.
std::string ConfigNamed(const std::string& name) {
  return "name: " + name + R"(
groupRef: test-group
backends:
    - name: a
      url: http://mcp-a.default.svc.cluster.local:8080/mcp
      transport: streamable-http
incomingAuth:
    type: anonymous
outgoingAuth:
    source: inline
aggregation:
    conflictResolution: prefix
    conflictResolutionConfig:
        prefixFormat: '{workload}_'
)";
}

// A fresh directory for one test.
std::string TestDir() {
  const char* root = std::getenv("TEST_TMPDIR");
  fs::path dir = fs::path(root ? root : fs::temp_directory_path().string()) /
                 ::testing::UnitTest::GetInstance()->current_test_info()->name();
  fs::remove_all(dir);
  fs::create_directories(dir / "cm");
  return (dir / "cm").string();
}

// Writes in place: truncate, write, close (what `echo > file` and many editors do).
void WriteInPlace(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  ASSERT_TRUE(out) << "writing " << path;
}

// Writes a temp file next to `path` and renames it over `path` (`mv new.yaml config.yaml`).
void ReplaceByRename(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".new";
  WriteInPlace(tmp, content);
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0) << "rename over " << path;
}

// A ConfigMap mounted the way kubelet lays it out and updates it:
//   dir/..2026_11_23_10_00_00.<n>/config.yaml
//   dir/..data -> ..2026_11_23_10_00_00.<n>
//   dir/config.yaml -> ..data/config.yaml
class KubeletConfigMap {
 public:
  KubeletConfigMap(std::string dir, const std::string& content) : dir_(std::move(dir)) {
    current_ = WriteTimestampedDir(content);
    fs::create_directory_symlink(current_, fs::path(dir_) / "..data");
    fs::create_symlink("..data/config.yaml", fs::path(dir_) / "config.yaml");
  }

  std::string file() const { return (fs::path(dir_) / "config.yaml").string(); }

  // kubelet's atomic update: the new timestamped dir, a `..data_tmp` symlink renamed over `..data`,
  // then the old dir removed.
  void Swap(const std::string& content) {
    const std::string next = WriteTimestampedDir(content);
    const fs::path tmp = fs::path(dir_) / "..data_tmp";
    fs::create_directory_symlink(next, tmp);
    ASSERT_EQ(std::rename(tmp.c_str(), (fs::path(dir_) / "..data").c_str()), 0);
    fs::remove_all(fs::path(dir_) / current_);
    current_ = next;
  }

 private:
  std::string WriteTimestampedDir(const std::string& content) {
    const std::string name = "..2026_11_23_10_00_00." + std::to_string(123456789 + serial_++);
    fs::create_directory(fs::path(dir_) / name);
    std::ofstream out(fs::path(dir_) / name / "config.yaml", std::ios::binary);
    out << content;
    return name;
  }

  std::string dir_;
  std::string current_;
  int serial_ = 0;
};

// Collects deliveries and activities; tests wait on them with deadlines.
class Recorder {
 public:
  ConfigWatcher::Callback Callback() {
    return [this](ConfigUpdate u) {
      std::lock_guard<std::mutex> lock(mu_);
      updates_.push_back(std::move(u));
      ++delivered_;
      cv_.notify_all();
    };
  }

  std::function<void(Activity)> OnActivity() {
    return [this](Activity a) {
      std::lock_guard<std::mutex> lock(mu_);
      ++activities_[a];
      cv_.notify_all();
    };
  }

  ConfigWatcher::Options Options(milliseconds debounce = milliseconds(100), milliseconds max_delay = milliseconds(1000)) {
    ConfigWatcher::Options o;
    o.debounce = debounce;
    o.max_delay = max_delay;
    o.on_activity = OnActivity();
    return o;
  }

  // The next delivery, in order, or nullopt after the deadline.
  std::optional<ConfigUpdate> Next(std::chrono::steady_clock::duration deadline = kDeadline) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, deadline, [&] { return !updates_.empty(); })) return std::nullopt;
    ConfigUpdate u = std::move(updates_.front());
    updates_.pop_front();
    return u;
  }

  // Waits until `activity` happened at least `count` times in all.
  bool WaitActivity(Activity activity, int count = 1) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kDeadline, [&] { return activities_[activity] >= count; });
  }

  int delivered() {
    std::lock_guard<std::mutex> lock(mu_);
    return delivered_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ConfigUpdate> updates_;
  std::map<Activity, int> activities_;
  int delivered_ = 0;
};

std::shared_ptr<const config::Environment> Env() { return std::make_shared<config::MapEnvironment>(); }

std::string Errors(const ConfigUpdate& u) {
  std::string out;
  for (const config::ConfigError& e : u.errors) out += "  " + e.ToString() + "\n";
  return out;
}

// Asserts that `u` is a valid delivery of ConfigNamed(name).
void ExpectConfig(const std::optional<ConfigUpdate>& u, const std::string& name) {
  ASSERT_TRUE(u.has_value()) << "no delivery of " << name << " within the deadline";
  ASSERT_TRUE(u->config.has_value()) << "expected config " << name << ", got errors:\n" << Errors(*u);
  EXPECT_EQ(u->config->name, name);
  EXPECT_TRUE(u->errors.empty()) << Errors(*u);
  EXPECT_EQ(u->content_sha256, Sha256Hex(ConfigNamed(name)));
}

TEST(Sha256Hex, KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// 1. The kubelet swap is seen, delivered exactly once, and the next swap is the next delivery.
TEST(ConfigWatcher, KubeletAtomicSwapDeliversOnce) {
  const std::string dir = TestDir();
  KubeletConfigMap cm(dir, ConfigNamed("v1"));
  Recorder rec;
  auto w = ConfigWatcher::Start(cm.file(), Env(), rec.Options(), rec.Callback());
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->directory(), fs::path(dir).lexically_normal().string());

  cm.Swap(ConfigNamed("v2"));
  std::optional<ConfigUpdate> u = rec.Next();
  ExpectConfig(u, "v2");
  EXPECT_EQ(u->path, cm.file());
  EXPECT_FALSE(u->forced);

  // No second delivery of v2: the next one is v3.
  cm.Swap(ConfigNamed("v3"));
  ExpectConfig(rec.Next(), "v3");
  const ConfigWatcher::Stats s = (*w)->stats();
  EXPECT_EQ(s.reloads_delivered, 2u);
  EXPECT_EQ(s.refused, 0u);
  EXPECT_GT(s.events, 0u);
  EXPECT_EQ(rec.delivered(), 2);
}

// 2. A plain file: replaced by rename, then edited in place.
TEST(ConfigWatcher, PlainFileReplacedAndEditedInPlace) {
  const std::string dir = TestDir();
  const std::string file = dir + "/config.yaml";
  WriteInPlace(file, ConfigNamed("v1"));
  Recorder rec;
  auto w = ConfigWatcher::Start(file, Env(), rec.Options(), rec.Callback());
  ASSERT_TRUE(w.ok()) << w.status();

  ReplaceByRename(file, ConfigNamed("v2"));
  ExpectConfig(rec.Next(), "v2");
  WriteInPlace(file, ConfigNamed("v3"));
  ExpectConfig(rec.Next(), "v3");
  EXPECT_EQ((*w)->stats().reloads_delivered, 2u);
}

// A config path that is a symlink into another directory: in-place edits of the target are seen, and
// after the symlink is retargeted, the new target's directory is followed instead of the old one.
TEST(ConfigWatcher, SymlinkedFileIsFollowed) {
  const std::string dir = TestDir();
  const std::string elsewhere = fs::path(dir).parent_path() / "elsewhere";
  fs::create_directories(elsewhere + "/one");
  fs::create_directories(elsewhere + "/two");
  WriteInPlace(elsewhere + "/one/real.yaml", ConfigNamed("v1"));
  const std::string file = dir + "/config.yaml";
  fs::create_symlink("../elsewhere/one/real.yaml", file);
  Recorder rec;
  auto w = ConfigWatcher::Start(file, Env(), rec.Options(), rec.Callback());
  ASSERT_TRUE(w.ok()) << w.status();

  WriteInPlace(elsewhere + "/one/real.yaml", ConfigNamed("v2"));
  ExpectConfig(rec.Next(), "v2");

  WriteInPlace(elsewhere + "/two/real.yaml", ConfigNamed("v3"));
  fs::create_symlink("../elsewhere/two/real.yaml", dir + "/config.yaml.tmp");
  fs::rename(dir + "/config.yaml.tmp", file);
  ExpectConfig(rec.Next(), "v3");

  WriteInPlace(elsewhere + "/one/real.yaml", ConfigNamed("stale"));  // no longer the config
  WriteInPlace(elsewhere + "/two/real.yaml", ConfigNamed("v4"));
  ExpectConfig(rec.Next(), "v4");
}

// A relative path works too (resolved against the working directory at Start).
TEST(ConfigWatcher, RelativePath) {
  const std::string dir = TestDir();
  const fs::path old_cwd = fs::current_path();
  fs::current_path(fs::path(dir).parent_path());
  WriteInPlace("cm/config.yaml", ConfigNamed("v1"));
  Recorder rec;
  auto w = ConfigWatcher::Start("cm/config.yaml", Env(), rec.Options(), rec.Callback());
  fs::current_path(old_cwd);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_TRUE(fs::equivalent((*w)->directory(), dir)) << (*w)->directory();
  ReplaceByRename(dir + "/config.yaml", ConfigNamed("v2"));
  std::optional<ConfigUpdate> u = rec.Next();
  ExpectConfig(u, "v2");
  EXPECT_EQ(u->path, "cm/config.yaml");
}

// 3. Invalid YAML and a schema error are delivered as errors (with line and key path), no config; the
// fixed config is then delivered.
TEST(ConfigWatcher, InvalidConfigsAreDeliveredAsErrorsThenFixed) {
  const std::string dir = TestDir();
  KubeletConfigMap cm(dir, ConfigNamed("v1"));
  Recorder rec;
  auto w = ConfigWatcher::Start(cm.file(), Env(), rec.Options(), rec.Callback());
  ASSERT_TRUE(w.ok()) << w.status();

  const std::string bad_yaml = "name: test\ngroupRef: [unclosed\nbackends: []\n";
  cm.Swap(bad_yaml);
  std::optional<ConfigUpdate> u = rec.Next();
  ASSERT_TRUE(u.has_value());
  EXPECT_FALSE(u->config.has_value());
  ASSERT_FALSE(u->errors.empty());
  EXPECT_NE(u->errors[0].message.find("invalid YAML"), std::string::npos) << Errors(*u);
  EXPECT_NE(u->errors[0].message.find(cm.file()), std::string::npos) << "names the file: " << Errors(*u);
  EXPECT_GT(u->errors[0].line, 0) << Errors(*u);
  EXPECT_EQ(u->content_sha256, Sha256Hex(bad_yaml));

  std::string schema_error = ConfigNamed("v2");
  schema_error.replace(schema_error.find("    conflictResolution: prefix"), 0, "    conflictResolutoin: prefix\n");
  cm.Swap(schema_error);
  u = rec.Next();
  ASSERT_TRUE(u.has_value());
  EXPECT_FALSE(u->config.has_value());
  ASSERT_EQ(u->errors.size(), 1u) << Errors(*u);
  EXPECT_EQ(u->errors[0].path, "aggregation.conflictResolutoin");
  EXPECT_EQ(u->errors[0].message, "unknown key");
  EXPECT_GT(u->errors[0].line, 0) << Errors(*u);

  cm.Swap(ConfigNamed("v3"));
  ExpectConfig(rec.Next(), "v3");
  const ConfigWatcher::Stats s = (*w)->stats();
  EXPECT_EQ(s.refused, 2u);
  EXPECT_EQ(s.reloads_delivered, 1u);
}

// 4. Identical content, rewritten (kubelet swap and in-place write), is not delivered.
TEST(ConfigWatcher, IdenticalContentIsNotDelivered) {
  const std::string dir = TestDir();
  KubeletConfigMap cm(dir, ConfigNamed("v1"));
  Recorder rec;
  auto w = ConfigWatcher::Start(cm.file(), Env(), rec.Options(), rec.Callback());
  ASSERT_TRUE(w.ok()) << w.status();

  cm.Swap(ConfigNamed("v1"));
  ASSERT_TRUE(rec.WaitActivity(Activity::kUnchanged, 1));
  WriteInPlace(dir + "/..data/config.yaml", ConfigNamed("v1"));
  ASSERT_TRUE(rec.WaitActivity(Activity::kUnchanged, 2));
  EXPECT_EQ(rec.delivered(), 0);

  cm.Swap(ConfigNamed("v2"));
  ExpectConfig(rec.Next(), "v2");
  const ConfigWatcher::Stats s = (*w)->stats();
  EXPECT_GE(s.unchanged_skipped, 2u);
  EXPECT_EQ(s.reloads_delivered, 1u);
}

// The baseline from LoadConfigSnapshot: a change made between the caller's load and Start is still
// delivered; the unchanged content is not.
TEST(ConfigWatcher, SnapshotBaseline) {
  const std::string dir = TestDir();
  KubeletConfigMap cm(dir, ConfigNamed("v1"));
  const ConfigUpdate first = LoadConfigSnapshot(cm.file(), config::MapEnvironment());
  ASSERT_TRUE(first.config.has_value()) << Errors(first);
  EXPECT_EQ(first.content_sha256, Sha256Hex(ConfigNamed("v1")));

  {  // Unchanged since the snapshot: nothing delivered (the first delivery is the next change).
    Recorder rec;
    ConfigWatcher::Options o = rec.Options();
    o.initial_sha256 = first.content_sha256;
    auto w = ConfigWatcher::Start(cm.file(), Env(), o, rec.Callback());
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE(rec.WaitActivity(Activity::kUnchanged));
    cm.Swap(ConfigNamed("v2"));
    ExpectConfig(rec.Next(), "v2");
  }
  {  // Changed after the snapshot, before Start: delivered at once.
    Recorder rec;
    ConfigWatcher::Options o = rec.Options();
    o.initial_sha256 = first.content_sha256;
    auto w = ConfigWatcher::Start(cm.file(), Env(), o, rec.Callback());
    ASSERT_TRUE(w.ok()) << w.status();
    ExpectConfig(rec.Next(), "v2");
  }

  const ConfigUpdate missing = LoadConfigSnapshot(dir + "/absent.yaml", config::MapEnvironment());
  EXPECT_FALSE(missing.config.has_value());
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_NE(missing.errors[0].message.find(dir + "/absent.yaml"), std::string::npos) << Errors(missing);
  EXPECT_TRUE(missing.content_sha256.empty());
}

// 5. A burst of quick swaps is coalesced, and the last content wins.
TEST(ConfigWatcher, BurstIsCoalescedLastWins) {
  const std::string dir = TestDir();
  KubeletConfigMap cm(dir, ConfigNamed("v0"));
  Recorder rec;
  auto w = ConfigWatcher::Start(cm.file(), Env(), rec.Options(milliseconds(300), milliseconds(5000)), rec.Callback());
  ASSERT_TRUE(w.ok()) << w.status();

  for (int i = 1; i <= 5; ++i) cm.Swap(ConfigNamed("v" + std::to_string(i)));
  int deliveries = 0;
  for (;;) {
    std::optional<ConfigUpdate> u = rec.Next();
    ASSERT_TRUE(u.has_value()) << "v5 never delivered";
    ASSERT_TRUE(u->config.has_value()) << Errors(*u);
    ++deliveries;
    if (u->config->name == "v5") break;
  }
  EXPECT_LT(deliveries, 5);
  // Nothing after v5: the next delivery is the next change.
  cm.Swap(ConfigNamed("v6"));
  ExpectConfig(rec.Next(), "v6");
  EXPECT_EQ((*w)->stats().reloads_delivered, static_cast<uint64_t>(deliveries) + 1);
}

// 6. Trigger() re-reads at once, skipping the debounce; it delivers only a change, unless forced.
TEST(ConfigWatcher, TriggerRereadsNowAndForceRedelivers) {
  const std::string dir = TestDir();
  KubeletConfigMap cm(dir, ConfigNamed("v1"));
  Recorder rec;
  // A debounce far beyond the test's deadline: only Trigger can cause a delivery here.
  auto w = ConfigWatcher::Start(cm.file(), Env(), rec.Options(seconds(600), seconds(600)), rec.Callback());
  ASSERT_TRUE(w.ok()) << w.status();

  (*w)->Trigger();
  ASSERT_TRUE(rec.WaitActivity(Activity::kUnchanged));
  EXPECT_EQ(rec.delivered(), 0);

  (*w)->Trigger(/*force=*/true);
  std::optional<ConfigUpdate> u = rec.Next();
  ExpectConfig(u, "v1");
  EXPECT_TRUE(u->forced);

  cm.Swap(ConfigNamed("v2"));
  ASSERT_TRUE(rec.WaitActivity(Activity::kChangeSeen));
  (*w)->Trigger();
  u = rec.Next();
  ExpectConfig(u, "v2");
  EXPECT_FALSE(u->forced);
  EXPECT_EQ((*w)->stats().reloads_delivered, 2u);
}

// 7. Stop() in the middle of a debounce is prompt, idempotent, and nothing is delivered after it.
TEST(ConfigWatcher, StopDuringPendingDebounceIsPrompt) {
  const std::string dir = TestDir();
  KubeletConfigMap cm(dir, ConfigNamed("v1"));
  Recorder rec;
  std::atomic<bool> stopped{false};
  std::atomic<bool> late_callback{false};
  ConfigWatcher::Callback callback = [&, inner = rec.Callback()](ConfigUpdate u) {
    if (stopped.load()) late_callback = true;
    inner(std::move(u));
  };
  auto w = ConfigWatcher::Start(cm.file(), Env(), rec.Options(seconds(600), seconds(600)), callback);
  ASSERT_TRUE(w.ok()) << w.status();

  cm.Swap(ConfigNamed("v2"));
  ASSERT_TRUE(rec.WaitActivity(Activity::kChangeSeen));
  const auto t0 = std::chrono::steady_clock::now();
  (*w)->Stop();
  stopped = true;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(5));
  (*w)->Stop();  // idempotent
  (*w)->Trigger();  // harmless after Stop
  cm.Swap(ConfigNamed("v3"));
  w->reset();  // the destructor stops again
  EXPECT_FALSE(late_callback.load());
  EXPECT_EQ(rec.delivered(), 0);
}

// Stop() while deliveries are flowing (no debounce, constant swaps): none after Stop returns.
TEST(ConfigWatcher, StopWhileDelivering) {
  const std::string dir = TestDir();
  KubeletConfigMap cm(dir, ConfigNamed("v0"));
  Recorder rec;
  std::atomic<bool> stopped{false};
  std::atomic<bool> late_callback{false};
  ConfigWatcher::Callback callback = [&, inner = rec.Callback()](ConfigUpdate u) {
    if (stopped.load()) late_callback = true;
    inner(std::move(u));
  };
  auto w = ConfigWatcher::Start(cm.file(), Env(), rec.Options(milliseconds(0), milliseconds(0)), callback);
  ASSERT_TRUE(w.ok()) << w.status();
  cm.Swap(ConfigNamed("v1"));
  ExpectConfig(rec.Next(), "v1");
  for (int i = 2; i < 20; ++i) cm.Swap(ConfigNamed("v" + std::to_string(i)));
  (*w)->Stop();
  stopped = true;
  for (int i = 20; i < 25; ++i) cm.Swap(ConfigNamed("v" + std::to_string(i)));
  EXPECT_FALSE(late_callback.load());
}

// 8. Start on a directory that does not exist, or on a path whose directory is a file.
TEST(ConfigWatcher, StartFailsClearly) {
  const std::string dir = TestDir();
  Recorder rec;
  auto w = ConfigWatcher::Start(dir + "/nope/config.yaml", Env(), rec.Options(), rec.Callback());
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  const std::string message(w.status().message());
  EXPECT_NE(message.find(dir + "/nope"), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;

  WriteInPlace(dir + "/file", "x");
  w = ConfigWatcher::Start(dir + "/file/config.yaml", Env(), rec.Options(), rec.Callback());
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(w.status().message()).find("is not a directory"), std::string::npos) << w.status();
}

// A file missing for a while (between kubelet steps, or deleted then recreated) is not an error.
TEST(ConfigWatcher, MissingFileIsWaitedFor) {
  const std::string dir = TestDir();
  const std::string file = dir + "/config.yaml";
  WriteInPlace(file, ConfigNamed("v1"));
  Recorder rec;
  auto w = ConfigWatcher::Start(file, Env(), rec.Options(), rec.Callback());
  ASSERT_TRUE(w.ok()) << w.status();

  ASSERT_EQ(::unlink(file.c_str()), 0);
  ASSERT_TRUE(rec.WaitActivity(Activity::kMissing));
  WriteInPlace(file, ConfigNamed("v2"));
  ExpectConfig(rec.Next(), "v2");
  EXPECT_EQ((*w)->stats().refused, 0u);
}

// A file missing at Start has no baseline: its first appearance is delivered, even unchanged later.
TEST(ConfigWatcher, FileMissingAtStart) {
  const std::string dir = TestDir();
  Recorder rec;
  auto w = ConfigWatcher::Start(dir + "/config.yaml", Env(), rec.Options(), rec.Callback());
  ASSERT_TRUE(w.ok()) << w.status();
  ReplaceByRename(dir + "/config.yaml", ConfigNamed("v1"));
  ExpectConfig(rec.Next(), "v1");
}

// An unreadable path (here a directory) is delivered once as an error naming the file.
TEST(ConfigWatcher, UnreadableFileIsReportedOnce) {
  const std::string dir = TestDir();
  const std::string file = dir + "/config.yaml";
  WriteInPlace(file, ConfigNamed("v1"));
  Recorder rec;
  auto w = ConfigWatcher::Start(file, Env(), rec.Options(), rec.Callback());
  ASSERT_TRUE(w.ok()) << w.status();

  ASSERT_EQ(::unlink(file.c_str()), 0);
  ASSERT_EQ(::mkdir(file.c_str(), 0755), 0);
  std::optional<ConfigUpdate> u = rec.Next();
  ASSERT_TRUE(u.has_value());
  EXPECT_FALSE(u->config.has_value());
  ASSERT_EQ(u->errors.size(), 1u);
  EXPECT_EQ(u->errors[0].message, "cannot read config file " + file + ": not a regular file");
  EXPECT_TRUE(u->content_sha256.empty());

  (*w)->Trigger();  // the same failure again: not redelivered
  ASSERT_TRUE(rec.WaitActivity(Activity::kUnchanged));
  ASSERT_EQ(::rmdir(file.c_str()), 0);
  WriteInPlace(file, ConfigNamed("v2"));
  ExpectConfig(rec.Next(), "v2");
}

// The watched directory itself replaced (renamed away and another renamed in; then deleted and
// recreated): the watch follows the path.
TEST(ConfigWatcher, DirectoryReplaced) {
  const std::string dir = TestDir();
  const std::string file = dir + "/config.yaml";
  WriteInPlace(file, ConfigNamed("v1"));
  Recorder rec;
  auto w = ConfigWatcher::Start(file, Env(), rec.Options(), rec.Callback());
  ASSERT_TRUE(w.ok()) << w.status();

  fs::create_directory(dir + ".new");
  WriteInPlace(dir + ".new/config.yaml", ConfigNamed("v2"));
  fs::rename(dir, dir + ".old");
  fs::rename(dir + ".new", dir);
  ExpectConfig(rec.Next(), "v2");
  ASSERT_TRUE(rec.WaitActivity(Activity::kRewatched));
  // Edits in the new directory are seen; edits in the old one are not.
  WriteInPlace(dir + ".old/config.yaml", ConfigNamed("old"));
  WriteInPlace(file, ConfigNamed("v3"));
  ExpectConfig(rec.Next(), "v3");

  fs::remove_all(dir);
  fs::create_directory(dir);
  WriteInPlace(file, ConfigNamed("v4"));
  ExpectConfig(rec.Next(), "v4");
  EXPECT_GE((*w)->stats().rewatched, 2u);
}

// The watched directory is a symlink (the mount point of a projected volume, say) swapped to another
// directory by a rename: the watch moves to the new directory.
TEST(ConfigWatcher, DirectorySymlinkSwapped) {
  const std::string base = fs::path(TestDir()).parent_path();
  fs::create_directories(base + "/one");
  fs::create_directories(base + "/two");
  WriteInPlace(base + "/one/config.yaml", ConfigNamed("v1"));
  WriteInPlace(base + "/two/config.yaml", ConfigNamed("v2"));
  fs::create_directory_symlink("one", base + "/link");
  Recorder rec;
  auto w = ConfigWatcher::Start(base + "/link/config.yaml", Env(), rec.Options(), rec.Callback());
  ASSERT_TRUE(w.ok()) << w.status();

  fs::create_directory_symlink("two", base + "/link.tmp");
  fs::rename(base + "/link.tmp", base + "/link");
  ExpectConfig(rec.Next(), "v2");
  ASSERT_TRUE(rec.WaitActivity(Activity::kRewatched));
  WriteInPlace(base + "/two/config.yaml", ConfigNamed("v3"));
  ExpectConfig(rec.Next(), "v3");
}

}  // namespace
}  // namespace vmcp::discovery
