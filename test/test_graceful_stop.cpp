// A graceful stop: fetching stops, tasks in flight finish and are acked, the rest stay queued,
// and the process exits without hanging.
#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <unistd.h>

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
