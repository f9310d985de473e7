// QPS: task starts are spaced on a schedule, whatever the function's duration.
#include <doctest/doctest.h>

#include <mutex>

#include <funboost/funboost.hpp>

#include "support/fixtures.hpp"

using namespace std::chrono_literals;
using test_support::memory_queue;
using test_support::wait_until;

namespace {

struct start_log {
  std::mutex mutex;
  std::vector<std::chrono::steady_clock::time_point> starts;
  void record() {
    std::lock_guard g{mutex};
    starts.push_back(std::chrono::steady_clock::now());
  }
  std::size_t size() {
    std::lock_guard g{mutex};
    return starts.size();
  }
};

} // namespace

TEST_CASE("qps 20 is held within 5 % over 3 s") {
  funboost::runtime rt;
  start_log log;
  auto o = memory_queue("qps_20");
  o.qps = 20;
  o.concurrent_num = 10;
  auto b = rt.boost([&](int) { log.record(); }, o);
  for (int i = 0; i < 200; ++i)
    b.push(i);
  b.consume();
  REQUIRE(wait_until([&] { return log.size() >= 62; }, 10s));
  std::lock_guard g{log.mutex};
  // Rate over the 60 intervals after the first start: ideal 3.0 s.
  double seconds = std::chrono::duration<double>(log.starts[60] - log.starts[0]).count();
  double rate = 60 / seconds;
  CHECK(rate >= 19.0);
  CHECK(rate <= 21.0);
}

TEST_CASE("qps holds with slow functions: concurrency is the separate cap") {
  funboost::runtime rt;
  start_log log;
  auto o = memory_queue("qps_slow");
  o.qps = 10;
  o.concurrent_num = 10;
  auto b = rt.boost(
    [&](int) {
      log.record();
      std::this_thread::sleep_for(500ms); // 5 run at once at 10/s
    },
    o);
  for (int i = 0; i < 40; ++i)
    b.push(i);
  b.consume();
  REQUIRE(wait_until([&] { return log.size() >= 21; }, 10s));
  std::lock_guard g{log.mutex};
  double seconds = std::chrono::duration<double>(log.starts[20] - log.starts[0]).count();
  CHECK(seconds == doctest::Approx(2.0).epsilon(0.05));
}

TEST_CASE("fractional qps spaces starts evenly (2.5/s: one every 400 ms)") {
  funboost::runtime rt;
  start_log log;
  auto o = memory_queue("qps_fractional");
  o.qps = 2.5; // the schedule math is the same at 0.02/s, only slower to test
  o.concurrent_num = 4;
  auto b = rt.boost([&](int) { log.record(); }, o);
  for (int i = 0; i < 5; ++i)
    b.push(i);
  b.consume();
  REQUIRE(wait_until([&] { return log.size() == 5; }, 10s));
  std::lock_guard g{log.mutex};
  for (std::size_t i = 1; i < 5; ++i) {
    auto gap = std::chrono::duration<double>(log.starts[i] - log.starts[i - 1]).count();
    CHECK(gap == doctest::Approx(0.4).epsilon(0.05));
  }
}

TEST_CASE("an idle queue earns no burst: after a pause the spacing resumes") {
  funboost::runtime rt;
  start_log log;
  auto o = memory_queue("qps_idle");
  o.qps = 10;
  o.concurrent_num = 4;
  auto b = rt.boost([&](int) { log.record(); }, o);
  b.consume();
  std::this_thread::sleep_for(1s); // a second of unused tokens must not pile up
  for (int i = 0; i < 6; ++i)
    b.push(i);
  REQUIRE(wait_until([&] { return log.size() == 6; }, 10s));
  std::lock_guard g{log.mutex};
  double seconds = std::chrono::duration<double>(log.starts[5] - log.starts[0]).count();
  CHECK(seconds >= 0.45); // 5 intervals of 100 ms, not a burst
}
