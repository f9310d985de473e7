// End to end on the in-memory broker: pushes are consumed with the right results, RPC, count,
// clear, and pushing by message from CAF code.
#include <doctest/doctest.h>

#include <atomic>
#include <limits>
#include <set>

#include <caf/all.hpp>

#include <funboost/funboost.hpp>

#include "actors/actors.hpp"
#include "support/fixtures.hpp"
#include "support/log_capture.hpp"

using namespace std::chrono_literals;
using test_support::memory_queue;
using test_support::wait_until;

namespace {
int add(int x, int y) {
  return x + y;
}
} // namespace

TEST_CASE("every pushed task runs once and its RPC result is right (the seed's add)") {
  funboost::runtime rt;
  auto o = memory_queue("consume_add");
  o.conn_num = 5;
  o.concurrent_num = 50;
  o.is_using_rpc_mode = true;
  o.arg_names = {"x", "y"};
  auto b = rt.boost(add, o);
  b.consume();
  std::vector<funboost::async_result<int>> results;
  for (int i = 0; i < 1000; ++i)
    results.push_back(b.push(i, i * 2));
  for (int i = 0; i < 1000; ++i)
    REQUIRE(results[static_cast<std::size_t>(i)].get(10s) == 3 * i);
  CHECK(b.message_count() == 0);
  CHECK(b(1, 2) == 3); // still a plain function
}

TEST_CASE("lambdas, void functions and bound members are boosted too") {
  funboost::runtime rt;
  std::atomic<int> sum{0};
  auto o = memory_queue("consume_void");
  o.is_using_rpc_mode = true;
  auto v = rt.boost([&](int a) { sum += a; }, o);
  v.consume();
  auto r = v.push(5);
  r.get(10s); // void: returns once the task ran
  CHECK(sum == 5);

  struct greeter {
    std::string greeting;
    std::string greet(const std::string& who) const { return greeting + ", " + who; }
  } g{"hello"};
  auto om = memory_queue("consume_member");
  om.is_using_rpc_mode = true;
  auto m = rt.boost<std::string(const std::string&)>(std::bind_front(&greeter::greet, &g), om);
  m.consume();
  CHECK(m.push("world").get(10s) == "hello, world");
}

TEST_CASE("message_count and clear see what waits in the queue") {
  funboost::runtime rt;
  auto b = rt.boost(add, memory_queue("consume_count_clear"));
  for (int i = 0; i < 25; ++i)
    b.push(i, i);
  CHECK(b.message_count() == 25);
  b.clear();
  CHECK(b.message_count() == 0);
}

TEST_CASE("get(timeout) times out when nothing consumes, and get() needs RPC mode") {
  funboost::runtime rt;
  auto o = memory_queue("consume_timeout");
  o.is_using_rpc_mode = true;
  auto b = rt.boost(add, o);
  auto r = b.push(1, 1);
  CHECK_FALSE(r.ready());
  CHECK_THROWS_AS(r.get(50ms), funboost::timeout_error);

  auto no_rpc = rt.boost(add, memory_queue("consume_no_rpc"));
  auto r2 = no_rpc.push(1, 1);
  CHECK(r2.published());
  CHECK_THROWS_WITH_AS(r2.get(), doctest::Contains("is_using_rpc_mode"), std::logic_error);
}

TEST_CASE("RPC can be asked per task with task_options") {
  funboost::runtime rt;
  auto b = rt.boost(add, memory_queue("consume_rpc_per_task"));
  b.consume();
  auto r = b.publish(R"({"arg0":20,"arg1":22})", {.is_using_rpc_mode = true});
  CHECK(r.get(10s) == 42);
}

TEST_CASE("a message without extra (a minimal foreign producer) still runs") {
  funboost::runtime rt;
  std::atomic<int> got{0};
  auto o = memory_queue("consume_no_extra");
  o.arg_names = {"x", "y"};
  auto b = rt.boost([&](int x, int y) { got = x + y; }, o);
  auto conn = funboost::make_broker(o)->connect();
  std::string raw = R"({"x":40,"y":2})";
  conn->publish("consume_no_extra", std::span{&raw, 1});
  b.consume();
  CHECK(wait_until([&] { return got == 42; }));
}

TEST_CASE("CAF code pushes by message to the supervisor's handle") {
  funboost::runtime rt;
  auto o = memory_queue("consume_by_message");
  o.is_using_rpc_mode = true;
  o.arg_names = {"x", "y"};
  std::atomic<int> got{0};
  auto b = rt.boost([&](int x, int y) { got = x * y; }, o);
  b.consume();
  caf::scoped_actor self{rt.system()};
  std::string task_id;
  self->request(b.supervisor(), 5s, funboost::push_atom_v, std::string{R"({"x":6,"y":7})"})
    .receive([&](const funboost::push_receipt& r) { task_id = r.task_id; },
             [&](const caf::error& err) { FAIL("push failed: " << rt.system().render(err)); });
  CHECK(task_id.size() == 36);
  CHECK(wait_until([&] { return got == 42; }));
  // In RPC mode its result is found by id, even when asked after the task finished.
  CHECK(rt.result(task_id, 5s).success);
  // Bad input by message gets an error back that says what was wrong, and the supervisor
  // lives on.
  caf::error refused;
  self->request(b.supervisor(), 5s, funboost::push_atom_v, std::string{"[1]"})
    .receive([&](const funboost::push_receipt&) {}, [&](const caf::error& err) { refused = err; });
  CHECK(refused == funboost::ec::bad_message);
  self->request(b.supervisor(), 5s, funboost::push_atom_v, std::string{R"({"x":2,"y":3})"})
    .receive([&](const funboost::push_receipt&) {},
             [&](const caf::error&) { FAIL("supervisor died"); });
  CHECK(wait_until([&] { return got == 6; }));
}

TEST_CASE("bad options are refused with a message naming the queue and the fix") {
  funboost::runtime rt;
  auto o = memory_queue("consume_bad_options");
  o.arg_names = {"only_one"};
  CHECK_THROWS_WITH_AS(rt.boost(add, o), doctest::Contains("queue 'consume_bad_options': arg_names has 1"),
                       std::invalid_argument);
  auto unknown = memory_queue("consume_unknown_broker");
  unknown.broker_kind = "kafkaa";
  CHECK_THROWS_WITH_AS(rt.boost(add, unknown), doctest::Contains("unknown broker_kind 'kafkaa'"),
                       std::invalid_argument);
  CHECK_THROWS_AS(rt.boost(add, funboost::booster_options{}), std::invalid_argument);
}

TEST_CASE("qps that is NaN, infinite, negative or too small to schedule is refused at boost(), "
          "naming the queue and the fix, as are other absurd options") {
  funboost::runtime rt;
  for (double qps : {std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity(), -1.0, 1e-9}) {
    CAPTURE(qps);
    auto o = memory_queue("consume_bad_qps");
    o.qps = qps;
    CHECK_THROWS_WITH_AS(rt.boost(add, o), doctest::Contains("queue 'consume_bad_qps': qps"),
                         std::invalid_argument);
  }
  auto nan = memory_queue("consume_nan_qps");
  nan.qps = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH_AS(rt.boost(add, nan), doctest::Contains("set it to 0 (unlimited) or a positive"),
                       std::invalid_argument);
  auto ok = memory_queue("consume_good_qps"); // the edges still work
  ok.qps = 1e-6;
  CHECK_NOTHROW(rt.boost(add, ok));

  using setter = void (*)(funboost::booster_options&);
  for (auto [what, set] : std::vector<std::pair<const char*, setter>>{
         {"conn_num", [](funboost::booster_options& o) { o.conn_num = 0; }},
         {"concurrent_num", [](funboost::booster_options& o) { o.concurrent_num = -3; }},
         {"max_retries", [](funboost::booster_options& o) { o.max_retries = -1; }},
         {"fetch_wait", [](funboost::booster_options& o) { o.fetch_wait = -1ms; }},
         {"restart_backoff", [](funboost::booster_options& o) { o.restart_backoff = 0ms; }},
         {"restart_backoff_max",
          [](funboost::booster_options& o) { o.restart_backoff_max = o.restart_backoff / 2; }},
         {"publish_retry_interval",
          [](funboost::booster_options& o) { o.publish_retry_interval = 0ms; }}}) {
    CAPTURE(what);
    auto o = memory_queue("consume_absurd");
    set(o);
    CHECK_THROWS_WITH_AS(rt.boost(add, o), doctest::Contains(what), std::invalid_argument);
  }
}

TEST_CASE("text from a message is escaped in log lines: a task id cannot forge a line, a result "
          "that is not UTF-8 cannot break the log file") {
  test_support::log_capture logs;
  logs.clear();
  funboost::runtime rt;
  auto o = memory_queue("consume_log_escape");
  o.logging.level = funboost::log_level::info;
  o.max_retries = 0;
  auto b = rt.boost([](std::string s) -> std::string {
    if (s == "throw")
      throw std::runtime_error("bad\ninput \xff");
    return s + "\xff";
  }, o);
  b.consume();
  b.publish(R"({"arg0":"ok"})",
            {.task_id = "id\n2026-01-01 00:00:00.000 info  [funboost.x] forged"});
  b.publish(R"({"arg0":"throw"})", {.task_id = "failing"});
  REQUIRE(wait_until([&] {
    return logs.any_contains("task failing failed for good") && logs.any_contains("done in");
  }));

  auto started = logs.containing("task id\\n2026-01-01 00:00:00.000 info  [funboost.x] forged starts");
  CHECK(started.size() == 1);
  CHECK(logs.any_contains(R"(task id\n2026)"));
  CHECK(logs.any_contains(R"(result "ok\xff")"));
  CHECK(logs.any_contains(R"(std::runtime_error: bad\ninput \xff)"));
  for (const auto& line : logs.lines()) {
    CAPTURE(line);
    CHECK(test_support::is_valid_utf8(line));
    // One log record is one line: its only line break is the one spdlog ends it with.
    CHECK(line.find('\n') == line.size() - 1);
  }
}
