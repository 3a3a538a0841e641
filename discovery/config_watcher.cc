// File: discovery/config_watcher.cc
//
// One thread per watcher: poll() on the inotify descriptor and an eventfd (Trigger and Stop), with the
// debounce deadline as the poll timeout. Up to three watches: the config file's directory (every change
// inside it); when there is one, the directory's parent (only to notice the directory itself coming
// back after it was deleted, renamed or had its symlink replaced); and, when the config path is a
// symlink into another directory, that directory (re-resolved after every read).
#include "discovery/config_watcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace vmcp::discovery {
namespace {

// Everything that can change what the config path resolves to or what the file holds. IN_MODIFY is
// left out on purpose: a writer that edits in place ends with IN_CLOSE_WRITE, and reading between its
// writes would only see a half-written file.
constexpr uint32_t kDirMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB |
                              IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// In the parent: only the watched directory's own name appearing or disappearing matters.
constexpr uint32_t kParentMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR;
// The directory of the file the config path resolves to, when symlinks lead elsewhere (kubelet's
// `..data/config.yaml`, a file linked from another directory): in-place edits there are seen too.
// IN_MASK_ADD: when that directory is already watched in another role, its mask only grows.
constexpr uint32_t kTargetMask = kDirMask | IN_MASK_ADD;

std::string ErrnoText(int error) { return std::error_code(error, std::generic_category()).message(); }

// The result of reading the config file once.
struct FileRead {
  enum Kind { kOk, kMissing, kError } kind = kOk;
  std::string bytes;  // kOk
  std::string error;  // kMissing, kError: "cannot read config file PATH: REASON"
};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

FileRead ReadConfigBytes(const std::string& path) {
  FileRead out;
  auto fail = [&](int error) {
    out.kind = (error == ENOENT || error == ENOTDIR) ? FileRead::kMissing : FileRead::kError;
    out.error = absl::StrCat("cannot read config file ", path, ": ", ErrnoText(error));
    return out;
  };
  // O_NONBLOCK so that a FIFO put in the file's place cannot hang the watcher; it is refused below.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) return fail(errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return fail(errno);
  if (!S_ISREG(st.st_mode)) {
    out.kind = FileRead::kError;
    out.error = absl::StrCat("cannot read config file ", path, ": not a regular file");
    return out;
  }
  // At most one byte past the loader's limit: the loader then refuses it as too large.
  const size_t cap = config::kMaxConfigBytes + 1;
  out.bytes.resize(std::min<size_t>(cap, st.st_size > 0 ? static_cast<size_t>(st.st_size) + 1 : 4096));
  size_t used = 0;
  for (;;) {
    if (used == out.bytes.size()) {
      if (used >= cap) break;
      out.bytes.resize(std::min(cap, out.bytes.size() * 2));
    }
    const ssize_t n = ::read(fd.get(), out.bytes.data() + used, out.bytes.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      out.bytes.clear();
      return fail(error);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  out.bytes.resize(used);
  return out;
}

ConfigUpdate LoadBytes(const std::string& path, const std::string& bytes, const config::Environment& env) {
  ConfigUpdate update;
  update.path = path;
  update.content_sha256 = Sha256Hex(bytes);
  config::LoadResult r = config::LoadConfigText(bytes, env, path);
  update.errors = std::move(r.errors);
  update.warnings = std::move(r.warnings);
  if (update.errors.empty() && r.config.has_value()) {
    update.config = std::move(r.config);
  } else if (update.errors.empty()) {
    update.errors.push_back({"", absl::StrCat(path, ": the config could not be loaded")});
  }
  return update;
}

ConfigUpdate UnreadableUpdate(const std::string& path, const std::string& error) {
  ConfigUpdate update;
  update.path = path;
  update.errors.push_back({"", error});
  return update;
}

// What the watcher compares to decide whether something changed: the hash of the bytes, or the reason
// the file could not be read (so one persistent failure is reported once).
std::string KeyOf(const FileRead& read) {
  return read.kind == FileRead::kOk ? Sha256Hex(read.bytes) : "unreadable: " + read.error;
}

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr) != 1) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

ConfigUpdate LoadConfigSnapshot(const std::string& path, const config::Environment& env) {
  FileRead read = ReadConfigBytes(path);
  if (read.kind != FileRead::kOk) return UnreadableUpdate(path, read.error);
  return LoadBytes(path, read.bytes, env);
}

class ConfigWatcher::Impl {
 public:
  Impl(std::string path, std::shared_ptr<const config::Environment> env, Options options, Callback callback)
      : path_(std::move(path)), env_(std::move(env)), options_(std::move(options)), callback_(std::move(callback)) {}

  ~Impl() {
    if (inotify_fd_ >= 0) ::close(inotify_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  absl::Status Init() {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path file = fs::absolute(fs::path(path_), ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("config watcher: bad config path ", path_, ": ", ec.message()));
    file = file.lexically_normal();
    if (!file.has_filename()) {
      return absl::InvalidArgumentError(absl::StrCat("config watcher: config path ", path_, " names a directory, not a file"));
    }
    read_path_ = file.string();
    fs::path dir = file.parent_path();
    dir_ = dir.string();
    if (dir.has_relative_path()) {  // not "/": the parent exists and is worth watching
      parent_ = dir.parent_path().string();
      dir_name_ = dir.filename().string();
    }

    struct stat st;
    if (::stat(dir_.c_str(), &st) != 0) {
      const int error = errno;
      if (error == ENOENT || error == ENOTDIR) {
        return absl::NotFoundError(
            absl::StrCat("config watcher: directory ", dir_, " (of config file ", path_, ") does not exist"));
      }
      return absl::ErrnoToStatus(error, absl::StrCat("config watcher: cannot access directory ", dir_, " (of config file ", path_, ")"));
    }
    if (!S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat("config watcher: ", dir_, " (the directory of config file ", path_, ") is not a directory"));
    }

    inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd_ < 0) {
      const int error = errno;
      return absl::ErrnoToStatus(error, absl::StrCat("config watcher: cannot set up inotify for ", dir_,
                                                     error == EMFILE ? " (limit fs.inotify.max_user_instances)" : ""));
    }
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) return absl::ErrnoToStatus(errno, "config watcher: cannot create an eventfd");
    dir_wd_ = ::inotify_add_watch(inotify_fd_, dir_.c_str(), kDirMask);
    if (dir_wd_ < 0) {
      const int error = errno;
      return absl::ErrnoToStatus(error, absl::StrCat("config watcher: cannot watch directory ", dir_,
                                                     error == ENOSPC ? " (limit fs.inotify.max_user_watches)" : ""));
    }
    // Best effort: without it, a directory that is deleted and recreated is no longer followed.
    if (!parent_.empty()) parent_wd_ = ::inotify_add_watch(inotify_fd_, parent_.c_str(), kParentMask);
    FollowTarget();

    if (options_.initial_sha256.has_value()) {
      last_key_ = *options_.initial_sha256;
      trigger_.store(true);  // the thread's first act: compare the file with what the caller loaded
      Wake();
    } else {
      FileRead read = ReadConfigBytes(read_path_);
      if (read.kind != FileRead::kMissing) last_key_ = KeyOf(read);
    }
    if (options_.debounce.count() < 0) options_.debounce = std::chrono::milliseconds(0);
    if (options_.max_delay < options_.debounce) options_.max_delay = options_.debounce;
    return absl::OkStatus();
  }

  void StartThread() {
    thread_ = std::thread([this] { Run(); });
  }

  void Trigger(bool force) {
    if (force) force_.store(true, std::memory_order_relaxed);
    trigger_.store(true, std::memory_order_release);
    Wake();
  }

  void Stop() {
    stop_.store(true, std::memory_order_release);
    Wake();
    if (std::this_thread::get_id() == thread_id_.load(std::memory_order_acquire)) return;  // from the callback
    std::lock_guard<std::mutex> lock(join_mu_);
    if (thread_.joinable()) thread_.join();
  }

  Stats stats() const {
    Stats s;
    s.events = events_.load(std::memory_order_relaxed);
    s.reads = reads_.load(std::memory_order_relaxed);
    s.reloads_delivered = delivered_.load(std::memory_order_relaxed);
    s.refused = refused_.load(std::memory_order_relaxed);
    s.unchanged_skipped = unchanged_.load(std::memory_order_relaxed);
    s.missing = missing_.load(std::memory_order_relaxed);
    s.rewatched = rewatched_.load(std::memory_order_relaxed);
    return s;
  }

  const std::string& directory() const { return dir_; }

 private:
  using Clock = std::chrono::steady_clock;

  void Wake() {
    const uint64_t one = 1;
    // Only fails when the counter would overflow, and then a wake-up is already pending.
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }

  void Run() {
    thread_id_.store(std::this_thread::get_id(), std::memory_order_release);
    while (!stop_.load(std::memory_order_acquire)) {
      int timeout_ms = -1;
      Clock::time_point deadline;
      if (pending_) {
        deadline = std::min(last_event_ + options_.debounce, first_event_ + options_.max_delay);
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
        timeout_ms = static_cast<int>(std::clamp<int64_t>(left, 0, INT_MAX));
      }
      pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      const int n = ::poll(fds, 2, timeout_ms);
      if (n < 0 && errno != EINTR && errno != ENOMEM) break;  // cannot happen with valid descriptors
      if (stop_.load(std::memory_order_acquire)) break;
      if (n > 0 && (fds[1].revents & POLLIN)) {
        uint64_t count;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_, &count, sizeof count);
      }
      if (n > 0 && (fds[0].revents & POLLIN)) ReadEvents();
      if (trigger_.exchange(false, std::memory_order_acq_rel)) {
        pending_ = false;
        Reload(force_.exchange(false, std::memory_order_relaxed));
        continue;
      }
      if (pending_ && Clock::now() >= std::min(last_event_ + options_.debounce, first_event_ + options_.max_delay)) {
        pending_ = false;
        Reload(false);
      }
    }
  }

  void Schedule() {
    const Clock::time_point now = Clock::now();
    if (!pending_) {
      pending_ = true;
      first_event_ = now;
      Notify(Activity::kChangeSeen);
    }
    last_event_ = now;
  }

  void Notify(Activity activity) {
    if (options_.on_activity) options_.on_activity(activity);
  }

  void ReadEvents() {
    alignas(inotify_event) char buffer[16 * 1024];
    bool rewatch = false;
    for (;;) {
      const ssize_t n = ::read(inotify_fd_, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EAGAIN: drained
      for (ssize_t offset = 0; offset < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer + offset);
        offset += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
        if (event->mask & IN_Q_OVERFLOW) {  // events were lost: look at everything again
          events_.fetch_add(1, std::memory_order_relaxed);
          rewatch = true;
          Schedule();
        } else if (event->wd == target_wd_ && target_wd_ >= 0) {
          events_.fetch_add(1, std::memory_order_relaxed);
          if (event->mask & IN_IGNORED) {  // gone (e.g. kubelet removed the old timestamped dir)
            target_wd_ = -1;
            target_dir_.clear();
          }
          Schedule();  // the read re-resolves the target
        } else if (event->wd == dir_wd_ && dir_wd_ >= 0) {
          events_.fetch_add(1, std::memory_order_relaxed);
          if (event->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) rewatch = true;
          Schedule();
        } else if (event->wd == parent_wd_ && parent_wd_ >= 0) {
          if (event->mask & IN_IGNORED) {  // the parent itself went away: no longer followed
            parent_wd_ = -1;
            continue;
          }
          if (event->len > 0 && dir_name_ == event->name) {
            events_.fetch_add(1, std::memory_order_relaxed);
            rewatch = true;
            Schedule();
          }
        }
        // Anything else is the tail of a watch already replaced.
      }
    }
    if (rewatch) Rewatch();
  }

  // Points the directory watch at whatever the directory path names now. When nothing is there, the
  // old watch is dropped and the parent's watch brings the directory back when it reappears.
  void Rewatch() {
    const int wd = ::inotify_add_watch(inotify_fd_, dir_.c_str(), kDirMask);
    if (wd == dir_wd_) return;  // the same directory as before
    if (dir_wd_ >= 0) ::inotify_rm_watch(inotify_fd_, dir_wd_);  // EINVAL when the kernel dropped it: fine
    if (wd >= 0 && wd == target_wd_) target_wd_ = -1;  // the same directory: the dir watch covers it
    dir_wd_ = wd < 0 ? -1 : wd;
    if (wd >= 0) {
      rewatched_.fetch_add(1, std::memory_order_relaxed);
      Notify(Activity::kRewatched);
    }
  }

  // Watches the directory holding the file the config path resolves to now, when that is not a
  // directory already watched. A path that does not resolve keeps the previous target.
  void FollowTarget() {
    char resolved[PATH_MAX];
    if (::realpath(read_path_.c_str(), resolved) == nullptr) return;
    const std::string dir = std::filesystem::path(resolved).parent_path().string();
    if (dir == target_dir_) return;
    const int wd = ::inotify_add_watch(inotify_fd_, dir.c_str(), kTargetMask);
    if (target_wd_ >= 0 && wd != target_wd_) ::inotify_rm_watch(inotify_fd_, target_wd_);
    target_dir_ = wd < 0 ? std::string() : dir;
    // The config's own directory (a plain file) or its parent: already watched, not ours to remove.
    target_wd_ = (wd < 0 || wd == dir_wd_ || wd == parent_wd_) ? -1 : wd;
  }

  void Reload(bool force) {
    reads_.fetch_add(1, std::memory_order_relaxed);
    FileRead read = ReadConfigBytes(read_path_);
    FollowTarget();
    if (read.kind == FileRead::kMissing) {  // e.g. between two kubelet steps: wait for the next event
      missing_.fetch_add(1, std::memory_order_relaxed);
      Notify(Activity::kMissing);
      return;
    }
    std::string key = KeyOf(read);
    if (!force && last_key_.has_value() && *last_key_ == key) {
      unchanged_.fetch_add(1, std::memory_order_relaxed);
      Notify(Activity::kUnchanged);
      return;
    }
    last_key_ = std::move(key);
    ConfigUpdate update =
        read.kind == FileRead::kOk ? LoadBytes(path_, read.bytes, *env_) : UnreadableUpdate(path_, read.error);
    update.forced = force;
    if (stop_.load(std::memory_order_acquire)) return;
    (update.config.has_value() ? delivered_ : refused_).fetch_add(1, std::memory_order_relaxed);
    callback_(std::move(update));
  }

  const std::string path_;
  const std::shared_ptr<const config::Environment> env_;
  Options options_;
  const Callback callback_;

  std::string read_path_;  // absolute, normalized
  std::string dir_;        // absolute, normalized
  std::string parent_;     // empty when dir_ is "/"
  std::string dir_name_;

  int inotify_fd_ = -1;
  int wake_fd_ = -1;

  // Owned by the watcher thread once it runs.
  int dir_wd_ = -1;
  int parent_wd_ = -1;
  int target_wd_ = -1;      // -1 when the target's directory is dir_ (or parent_), or unknown
  std::string target_dir_;  // the resolved directory last watched as the target
  bool pending_ = false;
  Clock::time_point first_event_;
  Clock::time_point last_event_;
  std::optional<std::string> last_key_;

  std::atomic<bool> stop_{false};
  std::atomic<bool> trigger_{false};
  std::atomic<bool> force_{false};
  std::atomic<std::thread::id> thread_id_{};
  std::mutex join_mu_;
  std::thread thread_;

  std::atomic<uint64_t> events_{0}, reads_{0}, delivered_{0}, refused_{0}, unchanged_{0}, missing_{0}, rewatched_{0};
};

absl::StatusOr<std::unique_ptr<ConfigWatcher>> ConfigWatcher::Start(std::string config_path,
                                                                    std::shared_ptr<const config::Environment> env,
                                                                    Options options, Callback on_change) {
  if (!env) return absl::InvalidArgumentError("config watcher: no environment given");
  if (!on_change) return absl::InvalidArgumentError("config watcher: no callback given");
  auto impl = std::make_unique<Impl>(std::move(config_path), std::move(env), std::move(options), std::move(on_change));
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  impl->StartThread();
  return std::unique_ptr<ConfigWatcher>(new ConfigWatcher(std::move(impl)));
}

ConfigWatcher::ConfigWatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConfigWatcher::~ConfigWatcher() { Stop(); }

void ConfigWatcher::Trigger(bool force) { impl_->Trigger(force); }

void ConfigWatcher::Stop() { impl_->Stop(); }

ConfigWatcher::Stats ConfigWatcher::stats() const { return impl_->stats(); }

const std::string& ConfigWatcher::directory() const { return impl_->directory(); }

}  // namespace vmcp::discovery
