// File: gateway/delay_queue.h
//
// Many waits of one fixed length on one timer. A tool call whose client takes SSE waits a fixed while
// (kLazySse) for its answer before its stream opens, and nearly every call is answered long before that.
// An Asio timer per call cost an arm and a cancel each: a timer-queue operation and a posted completion
// on every call. Here a wait is linked into a list and unlinked again, under a mutex; the one timer is
// armed for the oldest wait and re-armed only when it fires. Waits all have the same length, so they
// fall due in the order they began and the list stays sorted by appending.
//
// A wait is an Entry the caller owns (it is linked in place, nothing is allocated). OnDue runs under the
// queue's lock, on the executor its timer was made on (the first Start's): it must be short and must
// not call back into the queue. In return Cancel is exact: once it has returned, OnDue is not running
// and will not run, so the entry may be destroyed.
#pragma once

#include <chrono>
#include <memory>

#include <boost/asio/any_io_executor.hpp>

namespace vmcp::gateway {

class DelayQueue {
 public:
  using Clock = std::chrono::steady_clock;

  class Entry {
   public:
    virtual ~Entry() = default;
    // The wait ran its full length without Cancel.
    virtual void OnDue() = 0;

   private:
    friend class DelayQueue;
    Entry* prev_ = nullptr;
    Entry* next_ = nullptr;
    Clock::time_point due_;
    bool queued_ = false;
  };

  // Waits of `delay`. The one timer is made by the first Start, on the executor it is given: that is
  // where OnDue runs. (So a queue can be made before any executor exists.)
  explicit DelayQueue(Clock::duration delay);
  ~DelayQueue();  // Stop()
  DelayQueue(const DelayQueue&) = delete;
  DelayQueue& operator=(const DelayQueue&) = delete;

  // Starts `entry`'s wait: OnDue after the delay unless cancelled first. An entry already waiting waits
  // again from now. Nothing happens after Stop(). `executor` is used only by the first Start.
  void Start(Entry& entry, const boost::asio::any_io_executor& executor);
  // Ends `entry`'s wait if it is still waiting. True when it was; false when it was not waiting (it fell
  // due already, was never started, or the queue stopped).
  bool Cancel(Entry& entry);
  // Drops every wait without running it and releases the timer. Idempotent.
  void Stop();

  size_t waiting() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // (shared with the timer's pending completion)
};

}  // namespace vmcp::gateway
