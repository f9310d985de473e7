// A graceful stop: fetching stops, tasks in flight finish and are acked, the rest stay queued,
// and the process exits without hanging; a task that never returns is given back after
// stop_timeout.
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <future>
#include <mutex>
#include <unistd.h>

#include <caf/actor_registry.hpp>

#include <funboost/funboost.hpp>

#include "support/fixtures.hpp"

using namespace std::chrono_literals;
using test_support::memory_queue;
using test_support::wait_until;

TEST_CASE("stop lets running tasks finish and leaves unstarted ones in the queue") {
  funboost::runtime rt;
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  auto o = memory_queue("stop_in_flight");
  o.concurrent_num = 4;
  auto b = rt.boost(
    [&](int) {
      ++started;
      std::this_thread::sleep_for(300ms);
      ++finished;
    },
    o);
  for (int i = 0; i < 20; ++i)
    b.push(i);
  b.consume();
  REQUIRE(wait_until([&] { return started == 4; }));
  b.stop(); // blocks until the four running tasks are done
  CHECK(finished == started.load());
  CHECK(started == 4);
  CHECK(b.message_count() == 16); // prefetched but unstarted tasks went back to the queue
  std::this_thread::sleep_for(200ms);
  CHECK(started == 4); // nothing runs after stop
  b.consume();         // and consuming can start again
  REQUIRE(wait_until([&] { return finished == 20; }, 10s));
}

TEST_CASE("stop with nothing running returns at once, twice is fine") {
  funboost::runtime rt;
  auto b = rt.boost([](int) {}, memory_queue("stop_idle"));
  b.stop(); // never consumed
  b.consume();
  auto t0 = std::chrono::steady_clock::now();
  b.stop();
  b.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
}

TEST_CASE("runtime::wait returns on shutdown() after stopping every booster gracefully") {
  std::atomic<int> finished{0};
  {
    funboost::runtime rt;
    auto o = memory_queue("stop_wait");
    o.concurrent_num = 2;
    auto b = rt.boost(
      [&](int) {
        std::this_thread::sleep_for(200ms);
        ++finished;
      },
      o);
    b.push(1);
    b.push(2);
    b.consume();
    REQUIRE(wait_until([&] { return b.message_count() == 0; }));
    std::thread stopper([&] {
      std::this_thread::sleep_for(50ms);
      rt.shutdown();
    });
    rt.wait();
    stopper.join();
    CHECK(finished == 2); // both were running when wait() began stopping: both finished
  } // the runtime's destructor returns: no actor left behind
  CHECK(finished == 2);
}

TEST_CASE("SIGTERM makes runtime::wait stop gracefully") {
  std::atomic<int> finished{0};
  funboost::runtime rt;
  auto o = memory_queue("stop_sigterm");
  auto b = rt.boost(
    [&](int) {
      std::this_thread::sleep_for(200ms);
      ++finished;
    },
    o);
  b.push(1);
  b.consume();
  REQUIRE(wait_until([&] { return b.message_count() == 0; }));
  std::thread signaller([] {
    std::this_thread::sleep_for(50ms);
    ::kill(::getpid(), SIGTERM);
  });
  rt.wait();
  signaller.join();
  CHECK(finished == 1);
}

namespace {

/// A function's way to hang until the test lets it return (a condition never signalled until
/// then: no busy loop).
struct hang {
  std::mutex mtx;
  std::condition_variable cv;
  bool released = false;
  std::atomic<int> started{0};

  void wait() {
    ++started;
    std::unique_lock lock{mtx};
    cv.wait(lock, [&] { return released; });
  }
  void release() {
    std::lock_guard guard{mtx};
    released = true;
    cv.notify_all();
  }
};

} // namespace

TEST_CASE("stop waits at most stop_timeout for a task that never returns, then gives it back to "
          "the queue") {
  funboost::runtime rt;
  auto h = std::make_shared<hang>();
  auto o = memory_queue("stop_hung");
  o.concurrent_num = 1;
  o.stop_timeout = 200ms;
  auto b = rt.boost([h](int) { h->wait(); }, o);
  b.clear();
  // Actors not yet terminated (CAF's own are hidden): node, publisher, supervisor.
  auto running_before = rt.system().registry().running();
  b.push(1);
  b.push(2);
  b.consume();
  REQUIRE(wait_until([&] { return h->started == 1; }));
  auto stopping = std::async(std::launch::async, [&] { b.stop(); });
  // Without the deadline, stop() never returns. (A hang guard, not a timing check.)
  bool returned = stopping.wait_for(30s) == std::future_status::ready;
  if (!returned)
    h->release(); // so the stop ends and the test fails instead of hanging
  REQUIRE(returned);
  CHECK(b.message_count() == 2); // the hung task and the prefetched one are the queue's again
  CHECK(h->started == 1);

  // Everything of the stopped queue has ended but the abandoned worker, which ends once its
  // function returns (so ~runtime ends the system normally).
  CHECK(wait_until([&] { return rt.system().registry().running() == running_before + 1; }));
  h->release();
  CHECK(wait_until([&] { return rt.system().registry().running() == running_before; }));
  b.consume(); // a new worker runs both; the released function returns at once now
  CHECK(wait_until([&] { return b.message_count() == 0 && h->started == 3; }));
}
