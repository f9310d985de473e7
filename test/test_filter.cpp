// Task filtering (funboost's do_task_filtering) through a consuming booster on the memory
// broker: a task whose arguments ran before is acked without running, counted, logged, and its
// RPC waiter told funboost::filtered; per booster or per message; extra.filter_str replaces the
// arguments as the key. (The keys and texts Python shares: test/redis/test_redis_filter.cpp.)
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>

#include <caf/scoped_actor.hpp>
#include <funboost/funboost.hpp>

#include "support/fixtures.hpp"
#include "support/log_capture.hpp"

using namespace std::chrono_literals;
using test_support::memory_queue;
using test_support::stats_of;
using test_support::wait_until;

TEST_CASE("with do_task_filtering a task whose arguments ran before is not run again: acked, "
          "counted, logged, its RPC waiter told; other arguments run") {
  test_support::log_capture logs;
  logs.clear();
  funboost::runtime rt;
  auto o = memory_queue("filter_booster");
  o.arg_names = {"x", "y"};
  o.do_task_filtering = true;
  o.is_using_rpc_mode = true;
  o.logging.level = funboost::log_level::info;
  std::atomic<int> runs{0};
  auto b = rt.boost([&](int x, int y) { ++runs; return x + y; }, o);
  b.consume();
  CHECK(b.push(1, 2).get(10s) == 3);
  try {
    b.push(1, 2).get(10s);
    FAIL("a filtered task has no result");
  } catch (const funboost::task_failed& e) {
    CHECK(e.exception_type() == "funboost::filtered");
  }
  CHECK(b.push(2, 1).get(10s) == 3); // other arguments: other key
  CHECK(runs == 2);
  auto s = stats_of(rt, o.queue_name);
  CHECK(s.filtered == 1);
  CHECK(s.done == 2);
  CHECK(wait_until([&] { return stats_of(rt, o.queue_name).in_flight == 0; })); // acked
  CHECK(logs.any_contains(R"(is filtered: a task with the same {"x": 1, "y": 2} ran before)"));
}

TEST_CASE("do_task_filtering per message: only the messages that ask are filtered; filter_str "
          "is the key instead of the arguments") {
  funboost::runtime rt;
  auto o = memory_queue("filter_per_message");
  o.arg_names = {"x"};
  std::atomic<int> runs{0};
  auto b = rt.boost([&](int) { ++runs; }, o);
  b.consume();
  funboost::task_options filtered;
  filtered.do_task_filtering = true;
  b.publish(R"({"x":1})", filtered).published();
  REQUIRE(wait_until([&] { return stats_of(rt, o.queue_name).done == 1; }));
  b.push(1); // does not ask: runs although its arguments ran
  REQUIRE(wait_until([&] { return stats_of(rt, o.queue_name).done == 2; }));
  b.publish(R"({"x":1})", filtered);
  REQUIRE(wait_until([&] { return stats_of(rt, o.queue_name).filtered == 1; }));

  funboost::task_options by_text = filtered;
  by_text.filter_str = "order-17";
  b.publish(R"({"x":5})", by_text);
  REQUIRE(wait_until([&] { return stats_of(rt, o.queue_name).done == 3; }));
  b.publish(R"({"x":6})", by_text); // other arguments, same filter_str
  REQUIRE(wait_until([&] { return stats_of(rt, o.queue_name).filtered == 2; }));
  CHECK(runs == 3);
}

TEST_CASE("publish writes do_task_filtering and filter_str into extra, before task_id") {
  funboost::runtime rt;
  auto o = memory_queue("filter_publish");
  o.arg_names = {"x"};
  auto b = rt.boost([](int) {}, o);
  funboost::task_options options;
  options.do_task_filtering = true;
  options.filter_str = "k\"1";
  b.publish(R"({"x":1})", options);
  auto conn = funboost::make_broker(o)->connect();
  std::vector<funboost::fetched_message> got;
  conn->fetch(o.queue_name, 1, 100ms, got);
  REQUIRE(got.size() == 1);
  CHECK(got[0].body.starts_with(
    R"({"x":1,"extra":{"do_task_filtering":true,"filter_str":"k\"1","task_id":")"));
}

TEST_CASE("a task_filtering_expire_seconds that is not seconds is refused by boost()") {
  funboost::runtime rt;
  auto o = memory_queue("filter_bad_expire");
  o.arg_names = {"x"};
  o.task_filtering_expire_seconds = -1;
  CHECK_THROWS_WITH_AS(rt.boost([](int) {}, o),
                       doctest::Contains("task_filtering_expire_seconds must be 0"),
                       std::invalid_argument);
}
