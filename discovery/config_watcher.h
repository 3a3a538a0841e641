// File: discovery/config_watcher.h
//
// Watches the mounted vMCP ConfigMap and hands every changed `config.yaml` to a callback, loaded with
// config/loader.h (a new Config, or every error with its key path and line). It watches the DIRECTORY
// that holds the file with inotify, so it sees both kubelet's atomic update of a mounted ConfigMap
// (a new `..<timestamp>` dir, then the `..data` symlink swapped by a rename) and a plain file that is
// replaced (`mv new.yaml config.yaml`) or rewritten in place. Bursts of events are coalesced (a short
// quiet period, bounded by a maximum delay), and content that is byte-identical to the last one seen
// (SHA-256) is never delivered twice.
//
//   auto env = std::make_shared<config::ProcessEnvironment>();
//   ConfigUpdate first = LoadConfigSnapshot(path, *env);          // what the gateway starts with
//   ConfigWatcher::Options opts;
//   opts.initial_sha256 = first.content_sha256;                     // race-free baseline
//   auto watcher = ConfigWatcher::Start(path, env, opts, [&](ConfigUpdate u) {
//     if (u.config) gateway->Reload(std::move(*u.config)); else LogRefused(u.errors);
//   });
//   ... on SIGHUP: (*watcher)->Trigger();
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "config/environment.h"
#include "config/loader.h"

namespace vmcp::discovery {

// One loaded version of the config file.
struct ConfigUpdate {
  std::string path;                              // the watched config file, as given to Start
  std::optional<config::Config> config;          // set iff the new content is valid
  std::vector<config::ConfigError> errors;       // why it was refused (key path, line, column)
  std::vector<config::ConfigError> warnings;     // accepted, but worth a log line
  std::string content_sha256;                    // lowercase hex of the bytes read; empty if unreadable
  bool forced = false;                           // delivered by Trigger(/*force=*/true) although unchanged
};

// Reads `path` once, hashes the bytes and loads them: the same thing the watcher does on a change. Use
// it for the initial load and pass `content_sha256` as Options::initial_sha256, so that a change made
// between the initial load and Start is still delivered. A missing or unreadable file is one error
// naming the path and the OS reason (content_sha256 stays empty).
ConfigUpdate LoadConfigSnapshot(const std::string& path, const config::Environment& env);

// Lowercase hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

class ConfigWatcher {
 public:
  // What the watcher did, for Options::on_activity.
  enum class Activity {
    kChangeSeen,  // an event started a debounce: a re-read is scheduled
    kUnchanged,   // a re-read found the same bytes as last time: nothing delivered
    kMissing,     // a re-read found no file (e.g. between kubelet steps): waiting for the next event
    kRewatched,   // the directory was replaced and is watched again
  };

  struct Options {
    // A change is acted on after this much quiet (no further event) ...
    std::chrono::milliseconds debounce{100};
    // ... but never later than this after the first event of a burst.
    std::chrono::milliseconds max_delay{1000};
    // The hash of the content the caller already loaded (LoadConfigSnapshot). The watcher then re-reads
    // the file once right after Start, so a change made since that load is delivered. When unset, Start
    // reads the file once (without delivering it) and takes its hash; a file missing at Start has no
    // baseline, so its first appearance is delivered.
    std::optional<std::string> initial_sha256;
    // Optional, called on the watcher's thread for what happens besides deliveries. For logs, metrics
    // and tests; it must return quickly and must not call Stop().
    std::function<void(Activity)> on_activity;
  };

  // Counters since Start. Every field is read atomically on its own.
  struct Stats {
    uint64_t events = 0;             // inotify events acted on (directory, symlink target, parent, overflow)
    uint64_t reads = 0;              // times the file was re-read (debounce expiry or Trigger)
    uint64_t reloads_delivered = 0;  // callbacks with a valid config
    uint64_t refused = 0;            // callbacks with errors (invalid content, unreadable file)
    uint64_t unchanged_skipped = 0;  // re-reads whose content matched the last one: nothing delivered
    uint64_t missing = 0;            // re-reads that found no file (e.g. between kubelet steps)
    uint64_t rewatched = 0;          // times the directory watch was re-established after replacement
  };

  using Callback = std::function<void(ConfigUpdate)>;

  // Starts watching the directory of `config_path` on a thread of the watcher's own.
  //
  // What is seen: anything created, deleted, renamed, closed after writing or chmod-ed in that
  // directory (so kubelet's `..data` swap, `mv new.yaml config.yaml`, an editor's save, an in-place
  // write); when the path is a symlink into another directory (`..data/config.yaml`, or a file linked
  // from elsewhere), in-place writes in that directory too (followed to wherever the link points after
  // each read). The directory itself may be replaced (renamed away and another put in its place,
  // deleted and recreated, or its symlink swapped): its parent is watched for its name and the watch
  // is re-established (Activity::kRewatched). Not seen: a write that never closes the file (mmap), and
  // a replaced parent directory.
  //
  // `on_change` runs on that thread, one call at a time, never after Stop() returns. It must not call
  // Stop() or destroy the watcher (Stop() from the callback only requests the stop). It receives an
  // update whenever the file's bytes differ from the last bytes seen (the baseline, then each read
  // that found a file), valid or not; an unreadable file (not a missing one) is delivered as an error,
  // once per distinct reason. A missing file is not an error: the watcher waits for the next event.
  //
  // `env` resolves the config's secrets on every load, from the watcher's thread.
  //
  // Fails with NotFound when the directory does not exist, InvalidArgument when it is not a directory,
  // and an error naming the OS reason when inotify cannot be set up.
  static absl::StatusOr<std::unique_ptr<ConfigWatcher>> Start(std::string config_path,
                                                              std::shared_ptr<const config::Environment> env,
                                                              Options options, Callback on_change);

  ~ConfigWatcher();  // Stop()
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

  // Re-reads the file now, skipping the debounce (e.g. on SIGHUP). Delivers only if the content differs
  // from the last content seen, unless `force`: then the current content is delivered even when
  // unchanged (`forced` set), e.g. to re-apply a config after the gateway lost state. A missing file is
  // never delivered, forced or not. Returns at once; the read happens on the watcher's thread.
  // Async-signal-safe (atomic stores and a write to an eventfd).
  void Trigger(bool force = false);

  // Stops the thread promptly (even in the middle of a debounce), waits for a running callback to
  // return and joins. Idempotent. After it returns, no callback runs.
  void Stop();

  Stats stats() const;

  // The directory being watched (the config file's directory).
  const std::string& directory() const;

  class Impl;

 private:
  explicit ConfigWatcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vmcp::discovery
