// What push() and publish() write is funboost's message format, key for key.
#include <doctest/doctest.h>

#include <regex>

#include <funboost/funboost.hpp>

#include "support/fixtures.hpp"

namespace {

/// Pops the first raw message waiting in `queue` from the in-memory broker.
std::string pop_raw(const std::string& queue) {
  funboost::booster_options o;
  o.queue_name = queue;
  auto conn = funboost::make_broker(o)->connect();
  std::vector<funboost::fetched_message> out;
  REQUIRE(conn->fetch(queue, 1, std::chrono::milliseconds(100), out) == 1);
  uint64_t tag = out[0].delivery_tag;
  conn->ack(queue, {&tag, 1}); // or closing the connection would give it back
  return out[0].body;
}

int add(int x, int y) {
  return x + y;
}

} // namespace

TEST_CASE("push writes arguments by name first, then extra with task_id and publish times") {
  funboost::runtime rt;
  auto o = test_support::memory_queue("wire_push");
  o.arg_names = {"x", "y"};
  auto b = rt.boost(add, o);
  auto r = b.push(1, 2);
  auto body = pop_raw("wire_push");
  std::regex shape(R"re(^\{"x":1,"y":2,"extra":\{"task_id":"([0-9a-f-]{36})",)re"
                   R"re("publish_time":(\d{10}\.(?:0|\d{0,3}[1-9])),"publish_time_format":")re"
                   R"re((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)"\}\}$)re");
  std::smatch m;
  REQUIRE_MESSAGE(std::regex_match(body, m, shape), body);
  CHECK(m[1] == r.task_id());
  // publish_time is now; publish_time_format is the same instant in UTC+8 (funboost's default).
  double published = std::stod(m[2]);
  auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
  CHECK(std::abs(now.count() - published) < 5.0);
  std::time_t shanghai = static_cast<std::time_t>(published) + 8 * 3600;
  std::tm tm{};
  gmtime_r(&shanghai, &tm);
  char expected[32];
  std::strftime(expected, sizeof(expected), "%Y-%m-%d %H:%M:%S", &tm);
  CHECK(m[3] == std::string{expected});
}

TEST_CASE("default argument names are arg0, arg1, ...") {
  funboost::runtime rt;
  auto b = rt.boost(add, test_support::memory_queue("wire_default_names"));
  b.push(5, 6);
  CHECK(pop_raw("wire_default_names").rfind(R"({"arg0":5,"arg1":6,"extra":{)", 0) == 0);
}

TEST_CASE("task ids are UUIDv7: version 7, RFC variant, time-ordered") {
  std::regex v7(R"(^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$)");
  std::string previous;
  for (int i = 0; i < 1000; ++i) {
    auto id = funboost::new_task_id();
    REQUIRE(std::regex_match(id, v7));
    CHECK(id > previous);
    previous = id;
  }
}

TEST_CASE("publish takes keyword JSON, a caller-chosen task_id and per-task options") {
  funboost::runtime rt;
  auto o = test_support::memory_queue("wire_publish");
  o.arg_names = {"x", "y"};
  auto b = rt.boost(add, o);
  auto r = b.publish(R"({"y": 2, "x": [1, {"a": "b"}]})",
                     {.task_id = "my-task-1", .max_retry_times = 5, .is_using_rpc_mode = true});
  CHECK(r.task_id() == "my-task-1");
  auto body = pop_raw("wire_publish");
  CHECK(body.rfind(R"({"y":2,"x":[1,{"a":"b"}],"extra":{"max_retry_times":5,)"
                   R"("is_using_rpc_mode":true,"task_id":"my-task-1","publish_time":)",
                   0)
        == 0);
}

TEST_CASE("a per-task function_timeout is written first in extra, as funboost's TaskOptions") {
  funboost::runtime rt;
  auto o = test_support::memory_queue("wire_function_timeout");
  o.arg_names = {"x", "y"};
  auto b = rt.boost(add, o);
  b.publish(R"({"x": 1, "y": 2})", {.max_retry_times = 2, .function_timeout = 2.5});
  CHECK(pop_raw("wire_function_timeout")
          .rfind(R"({"x":1,"y":2,"extra":{"function_timeout":2.5,"max_retry_times":2,"task_id":)",
                 0)
        == 0);
  b.publish(R"({"x": 1, "y": 2})", {.function_timeout = 0}); // 0: the booster's, not written
  CHECK(pop_raw("wire_function_timeout").find("function_timeout") == std::string::npos);
}

TEST_CASE("publish rejects what is not a JSON object, and a hand-written extra") {
  funboost::runtime rt;
  auto b = rt.boost(add, test_support::memory_queue("wire_publish_bad"));
  CHECK_THROWS_AS(b.publish("[1,2]"), std::invalid_argument);
  CHECK_THROWS_AS(b.publish("{\"x\":"), std::invalid_argument);
  CHECK_THROWS_AS(b.publish(R"({"x":1,"extra":{}})"), std::invalid_argument);
  CHECK(b.message_count() == 0);
}

TEST_CASE("publish_time is Python's round(time.time(), 4) as Python prints it") {
  auto text = [](int64_t micros) {
    char buf[32];
    return std::string{funboost::publish_time_text(micros, buf)};
  };
  CHECK(text(1774348711212800) == "1774348711.2128");
  CHECK(text(1774348711210000) == "1774348711.21");   // no trailing zeros
  CHECK(text(1774348711000000) == "1774348711.0");    // a whole second keeps ".0"
  CHECK(text(1774348711000049) == "1774348711.0");    // rounded down
  CHECK(text(1774348711000050) == "1774348711.0001"); // rounded up, leading zeros kept
  CHECK(text(1774348711999950) == "1774348712.0");    // rounding carries into the second
  CHECK(text(1774348711050000) == "1774348711.05");
}

TEST_CASE("an RPC booster marks every message it writes with is_using_rpc_mode, a plain one "
          "does not") {
  funboost::runtime rt;
  auto o = test_support::memory_queue("wire_rpc_flag");
  o.arg_names = {"x", "y"};
  o.is_using_rpc_mode = true;
  auto b = rt.boost(add, o);
  auto rpc_prefix = std::string{R"({"x":1,"y":2,"extra":{"is_using_rpc_mode":true,"task_id":)"};
  b.push(1, 2);
  CHECK(pop_raw("wire_rpc_flag").rfind(rpc_prefix, 0) == 0);
  b.push_many({{1, 2}});
  CHECK(pop_raw("wire_rpc_flag").rfind(rpc_prefix, 0) == 0);
  b.publish(R"({"x":1,"y":2})");
  CHECK(pop_raw("wire_rpc_flag").rfind(rpc_prefix, 0) == 0);

  auto plain_options = test_support::memory_queue("wire_no_rpc_flag");
  plain_options.arg_names = {"x", "y"};
  auto plain = rt.boost(add, plain_options);
  plain.push(1, 2);
  CHECK(pop_raw("wire_no_rpc_flag").rfind(R"({"x":1,"y":2,"extra":{"task_id":)", 0) == 0);
  plain.publish(R"({"x":1,"y":2})", {.is_using_rpc_mode = true}); // per message
  auto per_message = pop_raw("wire_no_rpc_flag");
  CHECK_MESSAGE(per_message.rfind(rpc_prefix, 0) == 0, per_message);
}

TEST_CASE("publish refuses an argument the function does not take, naming the queue and the "
          "key, as funboost's FuncParamsError does") {
  funboost::runtime rt;
  auto o = test_support::memory_queue("wire_unknown_kwarg");
  o.arg_names = {"x", "y"};
  auto b = rt.boost(add, o);
  CHECK_THROWS_WITH_AS(b.publish(R"({"x":1,"y":2,"z":3})"),
                       doctest::Contains("queue 'wire_unknown_kwarg': unknown argument 'z'"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(b.publish(R"({"x":1})"),
                       doctest::Contains("missing argument 'y'"), std::invalid_argument);
  CHECK(b.message_count() == 0); // nothing was published
}
