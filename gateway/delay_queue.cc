#include "gateway/delay_queue.h"

#include <mutex>
#include <optional>

#include <boost/asio/steady_timer.hpp>

namespace vmcp::gateway {

namespace asio = boost::asio;

// The list and the timer, guarded by `mu`; every touch of the timer is made under it too, so that Start
// may arm it from any thread.
struct DelayQueue::State : std::enable_shared_from_this<State> {
  explicit State(Clock::duration d) : delay(d) {}

  mutable std::mutex mu;
  std::optional<asio::steady_timer> timer;  // made by the first Start
  const Clock::duration delay;
  Entry* head = nullptr;
  Entry* tail = nullptr;
  size_t count = 0;
  bool armed = false;  // a wait of the timer is pending
  bool stopped = false;

  void Unlink(Entry& e) {
    (e.prev_ ? e.prev_->next_ : head) = e.next_;
    (e.next_ ? e.next_->prev_ : tail) = e.prev_;
    e.prev_ = e.next_ = nullptr;
    e.queued_ = false;
    --count;
  }

  void Append(Entry& e) {
    e.prev_ = tail;
    e.next_ = nullptr;
    (tail ? tail->next_ : head) = &e;
    tail = &e;
    e.queued_ = true;
    ++count;
  }

  // Under mu, not armed: the timer waits until `when`. A wait whose entry is cancelled meanwhile is left
  // pending: when it fires it re-arms for whatever is oldest then.
  void Arm(Clock::time_point when) {
    armed = true;
    timer->expires_at(when);
    timer->async_wait([self = shared_from_this()](boost::system::error_code) { self->Fired(); });
  }

  void Fired() {
    std::lock_guard lock(mu);
    armed = false;
    if (stopped) return;
    const auto now = Clock::now();
    while (head && head->due_ <= now) {
      Entry& e = *head;
      Unlink(e);
      e.OnDue();
    }
    if (head) Arm(head->due_);
  }
};

DelayQueue::DelayQueue(Clock::duration delay) : state_(std::make_shared<State>(delay)) {}

DelayQueue::~DelayQueue() { Stop(); }

void DelayQueue::Start(Entry& entry, const asio::any_io_executor& executor) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  if (s.stopped) return;
  if (!s.timer) s.timer.emplace(executor);
  if (entry.queued_) s.Unlink(entry);
  entry.due_ = Clock::now() + s.delay;
  s.Append(entry);
  if (!s.armed) s.Arm(entry.due_);
}

bool DelayQueue::Cancel(Entry& entry) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  if (!entry.queued_) return false;
  s.Unlink(entry);
  return true;
}

void DelayQueue::Stop() {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  if (s.stopped) return;
  s.stopped = true;
  while (s.head) s.Unlink(*s.head);
  if (s.armed) s.timer->cancel();
}

size_t DelayQueue::waiting() const {
  std::lock_guard lock(state_->mu);
  return state_->count;
}

}  // namespace vmcp::gateway
