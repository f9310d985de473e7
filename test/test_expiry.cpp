// msg_expire_seconds (funboost's): a message published longer ago than that when a worker gets
// it is dropped unrun and acked, with a warning naming the queue and the task; per booster, and
// per message in extra (which Python producers write), truthy values only. Publish times are
// 100 s in the past against limits of 10 s, or fresh against an hour: no wall-clock race.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>

#include <caf/scoped_actor.hpp>
#include <funboost/funboost.hpp>

#include "support/fixtures.hpp"
#include "support/log_capture.hpp"

using namespace std::chrono_literals;
using test_support::memory_queue;
using test_support::stats_of;
using test_support::wait_until;

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// A message as Python funboost's publisher writes it (publish_time round(t, 4)), with
/// `expire` as extra.msg_expire_seconds unless it is "".
std::string python_message(int x, const std::string& task_id, double published,
                           const std::string& expire) {
  char time[32];
  std::snprintf(time, sizeof time, "%.4f", published);
  std::string extra = R"("task_id":")" + task_id + R"(","publish_time":)" + time
                      + R"(,"publish_time_format":"2026-11-24 12:00:00")";
  if (!expire.empty())
    extra = R"("msg_expire_seconds":)" + expire + "," + extra;
  return R"({"x":)" + std::to_string(x) + R"(,"extra":{)" + extra + "}}";
}

} // namespace

TEST_CASE("a Python producer's message older than its extra.msg_expire_seconds is not run: "
          "acked, counted, logged with queue and task; a fresh one runs") {
  test_support::log_capture logs;
  logs.clear();
  funboost::runtime rt;
  std::atomic<int> sum{0};
  auto o = memory_queue("expiry_per_message");
  o.arg_names = {"x"};
  o.logging.level = funboost::log_level::warn; // the drop is a warning
  auto b = rt.boost([&](int x) { sum += x; }, o);
  auto conn = funboost::make_broker(o)->connect();
  std::vector<std::string> messages{
    python_message(1, "old-1", unix_now() - 100, "10"),
    python_message(2, "fresh-2", unix_now(), "3600"),
    python_message(4, "old-no-limit-4", unix_now() - 100, ""),  // the booster's: never
    python_message(8, "old-zero-8", unix_now() - 100, "0"),     // 0 is not truthy: never
  };
  conn->publish(o.queue_name, messages);
  b.consume();
  REQUIRE(wait_until([&] { return stats_of(rt, o.queue_name).done == 3; }));
  CHECK(wait_until([&] { return stats_of(rt, o.queue_name).expired == 1; }));
  CHECK(sum == 2 + 4 + 8);
  CHECK(conn->count(o.queue_name) == 0);
  CHECK(wait_until([&] { return stats_of(rt, o.queue_name).in_flight == 0; })); // acked
  CHECK(conn->count(o.queue_name + "_dlx") == 0);
  CHECK(logs.any_contains("queue 'expiry_per_message': task old-1 was published 100."));
  CHECK(logs.any_contains("more than msg_expire_seconds 10: dropped without running"));
}

TEST_CASE("the booster's msg_expire_seconds drops old messages that do not name one") {
  funboost::runtime rt;
  std::atomic<int> sum{0};
  auto o = memory_queue("expiry_booster");
  o.arg_names = {"x"};
  o.msg_expire_seconds = 10;
  auto b = rt.boost([&](int x) { sum += x; }, o);
  auto conn = funboost::make_broker(o)->connect();
  conn->publish(o.queue_name, std::vector<std::string>{
                                python_message(1, "old-1", unix_now() - 100, ""),
                                python_message(2, "old-but-allowed-2", unix_now() - 100, "3600"),
                              });
  b.push(4); // ours, published now
  b.consume();
  REQUIRE(wait_until([&] { return stats_of(rt, o.queue_name).done == 2; }));
  CHECK(wait_until([&] { return stats_of(rt, o.queue_name).expired == 1; }));
  CHECK(sum == 2 + 4);
}

TEST_CASE("publish writes task_options.msg_expire_seconds into extra, before task_id") {
  funboost::runtime rt;
  auto o = memory_queue("expiry_publish");
  o.arg_names = {"x"};
  auto b = rt.boost([](int) {}, o);
  funboost::task_options options;
  options.msg_expire_seconds = 2.5;
  b.publish(R"({"x":1})", options);
  auto conn = funboost::make_broker(o)->connect();
  std::vector<funboost::fetched_message> got;
  conn->fetch(o.queue_name, 1, 100ms, got);
  REQUIRE(got.size() == 1);
  CHECK(got[0].body.starts_with(R"({"x":1,"extra":{"msg_expire_seconds":2.5,"task_id":")"));
}

TEST_CASE("an RPC waiter of an expired task is told why it did not run") {
  funboost::runtime rt;
  auto o = memory_queue("expiry_rpc");
  o.arg_names = {"x"};
  o.is_using_rpc_mode = true;
  o.msg_expire_seconds = 10;
  auto b = rt.boost([](int x) { return x; }, o);
  auto conn = funboost::make_broker(o)->connect();
  conn->publish(o.queue_name, std::vector<std::string>{R"({"x":1,"extra":{"task_id":"old-rpc",)"
                                                       R"("is_using_rpc_mode":true,)"
                                                       R"("publish_time":1.5}})"});
  b.consume();
  auto r = rt.result("old-rpc", 10s); // kept for a lookup by id even if it finished first
  CHECK_FALSE(r.success);
  CHECK(r.exception_type == "funboost::expired");
  CHECK(r.exception_message.find("more than msg_expire_seconds 10") != std::string::npos);
}

TEST_CASE("a msg_expire_seconds that is not a number of seconds is refused: per message to the "
          "dead-letter queue, per booster by boost()") {
  funboost::runtime rt;
  auto o = memory_queue("expiry_bad");
  o.arg_names = {"x"};
  std::atomic<int> runs{0};
  auto b = rt.boost([&](int) { ++runs; }, o);
  auto conn = funboost::make_broker(o)->connect();
  conn->publish(o.queue_name, std::vector<std::string>{
                                R"({"x":1,"extra":{"task_id":"t","msg_expire_seconds":"soon"}})"});
  b.consume();
  CHECK(wait_until([&] { return conn->count(o.queue_name + "_dlx") == 1; }));
  CHECK(runs == 0);

  for (double bad : {-1.0, std::nan(""), HUGE_VAL}) {
    auto o2 = memory_queue("expiry_bad_option");
    o2.arg_names = {"x"};
    o2.msg_expire_seconds = bad;
    CHECK_THROWS_WITH_AS(rt.boost([](int) {}, o2),
                         doctest::Contains("msg_expire_seconds must be 0 (never expire)"),
                         std::invalid_argument);
  }
}
