// Delayed tasks (funboost's countdown, eta, misfire_grace_time) on the memory broker: the wire
// (what publish writes, which eta texts a Python producer's message may carry, the message a
// delayed task becomes), and the flow: a delayed task never runs before its time and runs once;
// one whose time has passed runs at once unless later than its misfire grace. Timing asserts
// only "not before its time" (what users rely on): the scheduler's lateness is measured by
// bench/delay_bench, not here.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <vector>

#include <caf/scoped_actor.hpp>
#include <funboost/funboost.hpp>

#include "core/delay_controls.hpp"
#include "support/fixtures.hpp"
#include "support/log_capture.hpp"

using namespace std::chrono_literals;
using funboost::detail::parse_eta_text;
using funboost::detail::unix_now;
using funboost::detail::without_delay;
using test_support::memory_queue;
using test_support::stats_of;
using test_support::wait_until;

namespace {

constexpr int shanghai = 480; // funboost's default time zone, minutes east of UTC

std::string fetch_one(const funboost::booster_options& o) {
  auto conn = funboost::make_broker(o)->connect();
  std::vector<funboost::fetched_message> got;
  conn->fetch(o.queue_name, 1, 100ms, got);
  REQUIRE(got.size() == 1);
  conn->ack(o.queue_name, std::vector<uint64_t>{got[0].delivery_tag});
  return got[0].body;
}

/// A Python producer's message with these extra members before task_id.
std::string python_message(int x, const std::string& task_id, const std::string& controls) {
  char time[32];
  std::snprintf(time, sizeof time, "%.4f", unix_now());
  return R"({"x":)" + std::to_string(x) + R"(,"extra":{)" + controls + R"("task_id":")" + task_id
         + R"(","publish_time":)" + time + "}}";
}

} // namespace

TEST_CASE("eta texts as Python producers write them: funboost's format in its time zone, ISO "
          "8601 with a zone or fraction") {
  // 2026-03-24 18:38:31 in Asia/Shanghai is 10:38:31 UTC = 1774348711 (docs/WIRE.md's example).
  CHECK(parse_eta_text("2026-03-24 18:38:31", shanghai) == 1774348711.0);
  CHECK(parse_eta_text("2026-03-24T18:38:31", shanghai) == 1774348711.0);
  CHECK(parse_eta_text("2026-03-24T10:38:31Z", shanghai) == 1774348711.0);
  CHECK(parse_eta_text("2026-03-24T18:38:31+08:00", 0) == 1774348711.0);
  CHECK(parse_eta_text("2026-03-24T05:38:31-0500", 0) == 1774348711.0);
  CHECK(parse_eta_text("2026-03-24 10:38:31", 0) == 1774348711.0);
  CHECK(parse_eta_text("2026-03-24T18:38:31.25+08:00", 0) == doctest::Approx(1774348711.25));
  CHECK(parse_eta_text("2028-02-29 00:00:00", 0) == 1835395200.0); // a leap day
  for (const char* bad : {"", "tomorrow", "2026-03-24", "2026-03-24 18:38", "2026-13-01 00:00:00",
                          "2026-02-30 00:00:00", "2026-03-24 25:00:00", "2026-03-24 18:38:31 ",
                          "2026-03-24T18:38:31+8", "2026-03-24 18:38:31."})
    CHECK_MESSAGE(!parse_eta_text(bad, shanghai), bad);
}

TEST_CASE("a delayed task's message when due: countdown and eta gone, everything else byte for "
          "byte") {
  CHECK(without_delay(R"({"x":1,"extra":{"countdown":5,"task_id":"a","publish_time":1.0}})")
        == R"({"x":1,"extra":{"task_id":"a","publish_time":1.0}})");
  CHECK(without_delay(R"({"x":1,"extra":{"task_id":"a","eta":"2026-03-24 18:38:31"}})")
        == R"({"x":1,"extra":{"task_id":"a"}})");
  CHECK(without_delay(
          R"({"x":1, "extra": {"eta": 1774348711.25, "misfire_grace_time": 3, "task_id": "a"}})")
        == R"({"x":1, "extra": {"misfire_grace_time": 3, "task_id": "a"}})");
  // An argument that happens to hold such keys is the function's, not a control.
  CHECK(without_delay(R"({"cfg":{"countdown":5},"extra":{"task_id":"a"}})")
        == R"({"cfg":{"countdown":5},"extra":{"task_id":"a"}})");
  // Keys are compared as JSON readers decode them: an escaped "countdown" is countdown.
  CHECK(without_delay(R"({"x":1,"\u0065xtra":{"count\u0064own":5,"task_id":"a"}})")
        == R"({"x":1,"\u0065xtra":{"task_id":"a"}})");
  CHECK(without_delay(R"({"x":1})") == R"({"x":1})");
  CHECK(without_delay("not json") == "not json");
}

TEST_CASE("publish writes countdown, eta (Unix seconds, as publish_time) and misfire_grace_time "
          "into extra before task_id, and refuses what funboost refuses") {
  funboost::runtime rt;
  auto o = memory_queue("delay_publish");
  o.arg_names = {"x"};
  auto b = rt.boost([](int) {}, o);
  funboost::task_options countdown;
  countdown.countdown = 2.5;
  countdown.misfire_grace_time = 10;
  b.publish(R"({"x":1})", countdown);
  CHECK(fetch_one(o).starts_with(
    R"({"x":1,"extra":{"countdown":2.5,"misfire_grace_time":10,"task_id":")"));

  funboost::task_options eta;
  eta.eta = std::chrono::system_clock::time_point{std::chrono::microseconds(1774348711212800)};
  b.publish(R"({"x":2})", eta);
  CHECK(fetch_one(o).starts_with(R"({"x":2,"extra":{"eta":1774348711.2128,"task_id":")"));

  funboost::task_options both = countdown;
  both.eta = eta.eta;
  CHECK_THROWS_WITH_AS(b.publish(R"({"x":3})", both),
                       doctest::Contains("set countdown or eta, not both"),
                       std::invalid_argument);
  funboost::task_options negative;
  negative.countdown = -1;
  CHECK_THROWS_AS(b.publish(R"({"x":3})", negative), std::invalid_argument);
}

TEST_CASE("a countdown task runs once, not before its time; the queue counts it delayed") {
  funboost::runtime rt;
  auto o = memory_queue("delay_countdown");
  o.arg_names = {"x"};
  std::mutex m;
  std::vector<double> ran_at;
  auto b = rt.boost(
    [&](int) {
      std::lock_guard guard{m};
      ran_at.push_back(unix_now());
    },
    o);
  b.consume();
  funboost::task_options options;
  options.countdown = 0.5;
  auto published = unix_now();
  b.publish(R"({"x":1})", options);
  REQUIRE(wait_until([&] { return stats_of(rt, o.queue_name).done == 1; }));
  auto s = stats_of(rt, o.queue_name);
  CHECK(s.delayed == 1);
  std::lock_guard guard{m};
  REQUIRE(ran_at.size() == 1);
  // publish_time is rounded to 0.1 ms, so the due time may be that much before `published`.
  CHECK(ran_at[0] >= published + 0.5 - 0.0002);
}

TEST_CASE("a Python producer's eta text in the future delays the task; a past eta runs at once; "
          "one later than its misfire_grace_time is dropped and its RPC waiter told") {
  test_support::log_capture logs;
  logs.clear();
  funboost::runtime rt;
  auto o = memory_queue("delay_python");
  o.arg_names = {"x"};
  o.is_using_rpc_mode = true;
  o.logging.level = funboost::log_level::warn;
  std::mutex m;
  std::vector<std::pair<int, double>> runs;
  auto b = rt.boost(
    [&](int x) {
      std::lock_guard guard{m};
      runs.emplace_back(x, unix_now());
      return x;
    },
    o);
  // Whole seconds in funboost's format, at least 1 s ahead.
  auto due = std::floor(unix_now()) + 2;
  auto text = [](double t) {
    std::time_t secs = static_cast<std::time_t>(t) + shanghai * 60;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return std::string{buf};
  };
  auto conn = funboost::make_broker(o)->connect();
  conn->publish(o.queue_name,
                std::vector<std::string>{
                  python_message(1, "future", R"("eta":")" + text(due) + R"(",)"),
                  python_message(2, "past", R"("eta":")" + text(due - 100) + R"(",)"),
                  python_message(4, "missed",
                                 R"("eta":")" + text(due - 100) + R"(","misfire_grace_time":10,)"),
                });
  b.consume();
  REQUIRE(wait_until([&] { return stats_of(rt, o.queue_name).done == 2; }));
  auto missed = rt.result("missed", 10s);
  CHECK_FALSE(missed.success);
  CHECK(missed.exception_type == "funboost::misfired");
  CHECK(stats_of(rt, o.queue_name).expired == 1);
  CHECK(logs.any_contains("queue 'delay_python': task missed came"));
  std::lock_guard guard{m};
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].first == 2); // the past one first, at once
  CHECK(runs[1].first == 1);
  CHECK(runs[1].second >= due);
}

TEST_CASE("an eta that is not a time sends the message to the dead-letter queue, unrun") {
  funboost::runtime rt;
  auto o = memory_queue("delay_bad_eta");
  o.arg_names = {"x"};
  std::atomic<int> runs{0};
  auto b = rt.boost([&](int) { ++runs; }, o);
  auto conn = funboost::make_broker(o)->connect();
  conn->publish(o.queue_name, std::vector<std::string>{python_message(1, "t", R"("eta":"soon",)")});
  b.consume();
  REQUIRE(wait_until([&] { return conn->count(o.queue_name + "_dlx") == 1; }));
  std::vector<funboost::fetched_message> got;
  conn->fetch(o.queue_name + "_dlx", 1, 100ms, got);
  REQUIRE(got.size() == 1);
  CHECK(got[0].body.find(R"(extra.eta \"soon\" is not a time)") != std::string::npos);
  CHECK(runs == 0);
}
