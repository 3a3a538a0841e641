// gateway::DelayQueue on a real io_context: waits fall due after their delay and in order, a cancelled
// wait never runs, Cancel's answer is exact under threads racing the timer, Stop drops everything.
#include "gateway/delay_queue.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gtest/gtest.h"

namespace vmcp::gateway {
namespace {

using Clock = DelayQueue::Clock;
using std::chrono::milliseconds;

struct Recorder : DelayQueue::Entry {
  std::vector<int>* order = nullptr;
  int id = 0;
  Clock::time_point started;
  Clock::time_point due_at;
  std::atomic<int> fired{0};
  void OnDue() override {
    due_at = Clock::now();
    ++fired;
    if (order) order->push_back(id);
  }
};

// Starts `entry`'s wait `after` from now, from io's thread (the timer returned must outlive io.run()).
std::unique_ptr<boost::asio::steady_timer> StartLater(boost::asio::io_context& io, DelayQueue& queue, Recorder& entry,
                                                      Clock::duration after) {
  auto later = std::make_unique<boost::asio::steady_timer>(io, after);
  later->async_wait([&io, &queue, &entry](boost::system::error_code) {
    entry.started = Clock::now();
    queue.Start(entry, io.get_executor());
  });
  return later;
}

TEST(DelayQueue, WaitsFallDueAfterTheDelayInTheOrderTheyBegan) {
  boost::asio::io_context io;
  DelayQueue queue(milliseconds(20));
  std::vector<int> order;
  Recorder a, b, c;
  int id = 0;
  for (Recorder* r : {&a, &b, &c}) {
    r->order = &order;
    r->id = ++id;
    r->started = Clock::now();
    queue.Start(*r, io.get_executor());
  }
  EXPECT_EQ(queue.waiting(), 3u);
  io.run();  // returns once the timer has nothing left to wait for
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  for (Recorder* r : {&a, &b, &c}) {
    EXPECT_EQ(r->fired, 1);
    EXPECT_GE(r->due_at - r->started, milliseconds(20));
  }
  EXPECT_EQ(queue.waiting(), 0u);
  EXPECT_FALSE(queue.Cancel(a));  // it fell due already
}

TEST(DelayQueue, CancelledWaitNeverRunsAndALaterOneStillDoes) {
  boost::asio::io_context io;
  DelayQueue queue(milliseconds(30));
  Recorder a, b;
  queue.Start(a, io.get_executor());  // the timer is armed for a ...
  EXPECT_TRUE(queue.Cancel(a));
  EXPECT_FALSE(queue.Cancel(a));
  // ... and b begins 10 ms later: the timer fires for a's time, finds b not due yet and waits again.
  auto later = StartLater(io, queue, b, milliseconds(10));
  io.run();
  EXPECT_EQ(a.fired, 0);
  EXPECT_EQ(b.fired, 1);
  EXPECT_GE(b.due_at - b.started, milliseconds(30));
}

TEST(DelayQueue, StartingAgainWaitsAgainFromThen) {
  boost::asio::io_context io;
  DelayQueue queue(milliseconds(30));
  Recorder a;
  queue.Start(a, io.get_executor());
  auto later = StartLater(io, queue, a, milliseconds(15));  // a, still waiting, starts again
  io.run();
  EXPECT_EQ(a.fired, 1);
  EXPECT_GE(a.due_at - a.started, milliseconds(30));
}

TEST(DelayQueue, StopDropsEveryWaitAndTakesNoMore) {
  boost::asio::io_context io;
  DelayQueue queue(std::chrono::hours(1));
  Recorder a, b;
  queue.Start(a, io.get_executor());
  queue.Start(b, io.get_executor());
  queue.Stop();
  EXPECT_EQ(queue.waiting(), 0u);
  EXPECT_FALSE(queue.Cancel(a));
  queue.Start(a, io.get_executor());
  EXPECT_EQ(queue.waiting(), 0u);
  io.run();  // the hour-long wait was cancelled: this returns at once
  EXPECT_EQ(a.fired + b.fired, 0);
  queue.Stop();  // (idempotent)
}

// Threads start and cancel waits while the io_context's thread makes them fall due: for every entry,
// either Cancel said it was still waiting and it never ran, or it ran exactly once.
TEST(DelayQueue, CancelIsExactUnderThreadsRacingTheTimer) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  DelayQueue queue(std::chrono::microseconds(200));
  std::thread runner([&] { io.run(); });
  constexpr int kThreads = 4, kEntries = 5000;
  std::vector<std::vector<Recorder>> entries(kThreads);
  std::vector<std::vector<bool>> cancelled(kThreads, std::vector<bool>(kEntries));
  for (auto& e : entries) e = std::vector<Recorder>(kEntries);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEntries; ++i) {
        queue.Start(entries[t][i], io.get_executor());
        // Cancel about half of them, some at once and some after others have been started.
        if (i % 2 == 1) cancelled[t][i] = queue.Cancel(entries[t][i]);
        if (i % 7 == 0 && i >= 7) cancelled[t][i - 7] = cancelled[t][i - 7] || queue.Cancel(entries[t][i - 7]);
      }
    });
  }
  for (auto& th : threads) th.join();
  // Whatever is still waiting falls due within the delay; wait for the queue to drain.
  while (queue.waiting() > 0) std::this_thread::yield();
  int fired = 0, dropped = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kEntries; ++i) {
      const int n = entries[t][i].fired;
      if (cancelled[t][i]) {
        EXPECT_EQ(n, 0) << "thread " << t << " entry " << i;
        ++dropped;
      } else {
        EXPECT_EQ(n, 1) << "thread " << t << " entry " << i;
        ++fired;
      }
    }
  }
  EXPECT_GT(dropped, 0);
  EXPECT_GT(fired, 0);
  // Nothing runs after the waits are done: stop the queue before the entries go.
  queue.Stop();
  guard.reset();
  runner.join();
}

}  // namespace
}  // namespace vmcp::gateway
