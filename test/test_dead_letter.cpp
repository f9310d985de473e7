// Bad input is never run and never lost: it goes to {queue}_dlx and the consumer keeps going.
#include <doctest/doctest.h>

#include <atomic>

#include <funboost/funboost.hpp>

#include "core/log_text.hpp"
#include "support/fixtures.hpp"
#include "support/log_capture.hpp"

using namespace std::chrono_literals;
using test_support::memory_queue;
using test_support::wait_until;

namespace {

std::vector<std::string> drain(const std::string& queue) {
  funboost::booster_options o;
  o.queue_name = queue;
  auto conn = funboost::make_broker(o)->connect();
  std::vector<funboost::fetched_message> out;
  conn->fetch(queue, 100, 10ms, out);
  std::vector<std::string> bodies;
  for (auto& m : out)
    bodies.push_back(m.body);
  return bodies;
}

} // namespace

TEST_CASE("malformed messages are dead-lettered and the next one runs") {
  funboost::runtime rt;
  std::atomic<int> sum{0};
  auto o = memory_queue("dlq_malformed");
  o.arg_names = {"x", "y"};
  o.concurrent_num = 1; // in order: the good message comes after the bad ones
  auto b = rt.boost([&](int x, int y) { sum += x + y; }, o);
  auto conn = funboost::make_broker(o)->connect();
  std::vector<std::string> bad{
    "not json",
    R"([1,2])",
    R"({"x":"a","y":2,"extra":{"task_id":"wrong-type"}})",
    R"({"y":2,"extra":{"task_id":"missing-x"}})",
  };
  conn->publish("dlq_malformed", bad);
  b.push(40, 2);
  b.consume();
  REQUIRE(wait_until([&] { return sum == 42; }));
  REQUIRE(wait_until([&] { return conn->count("dlq_malformed_dlx") == 4; }));
  CHECK(drain("dlq_malformed_dlx") == bad); // byte for byte, in order: nothing lost
  b.push(1, 1);
  CHECK(wait_until([&] { return sum == 44; })); // still consuming
}

TEST_CASE("a message with an argument the function does not take is not run: it fails, is "
          "dead-lettered and the log names the queue, the task and the argument") {
  test_support::log_capture logs;
  logs.clear();
  funboost::runtime rt;
  std::atomic<int> runs{0};
  auto o = memory_queue("dlq_unknown_arg");
  o.arg_names = {"x", "y"};
  o.concurrent_num = 1;
  auto b = rt.boost([&](int, int) { ++runs; }, o);
  auto conn = funboost::make_broker(o)->connect();
  // What a Python producer without funboost's publish check (or a typo'd hand-written message)
  // sends: funboost's own consumer fails it with a TypeError.
  std::vector<std::string> bad{R"({"x":1,"y":2,"z":3,"extra":{"task_id":"has-z"}})"};
  conn->publish("dlq_unknown_arg", bad);
  b.consume();
  REQUIRE(wait_until([&] { return conn->count("dlq_unknown_arg_dlx") == 1; }));
  CHECK(runs == 0);
  CHECK(drain("dlq_unknown_arg_dlx") == bad);
  CHECK(logs.any_contains("queue 'dlq_unknown_arg': task has-z: unknown argument 'z': the "
                      "function takes (x, y)"));
}

TEST_CASE("with dead_letter_on_failure, tasks that exhaust retries go to the DLQ too") {
  funboost::runtime rt;
  auto o = memory_queue("dlq_failed");
  o.max_retries = 1;
  o.dead_letter_on_failure = true;
  o.is_using_rpc_mode = true;
  auto b = rt.boost([](int) -> int { throw std::runtime_error("always"); }, o);
  b.consume();
  auto r = b.push(5);
  CHECK_THROWS_AS(r.get(10s), funboost::task_failed);
  auto conn = funboost::make_broker(o)->connect();
  REQUIRE(wait_until([&] { return conn->count("dlq_failed_dlx") == 1; }));
  auto bodies = drain("dlq_failed_dlx");
  CHECK(bodies.at(0).find(r.task_id()) != std::string::npos);
}

TEST_CASE("a bad message in RPC mode answers the waiter with the decode error") {
  funboost::runtime rt;
  auto o = memory_queue("dlq_rpc");
  o.arg_names = {"x"};
  o.is_using_rpc_mode = true;
  auto b = rt.boost([](int x) { return x; }, o);
  b.consume();
  auto r = b.publish(R"({"x":"seven"})");
  CHECK_THROWS_WITH_AS(r.get(10s),
                       doctest::Contains("argument 'x' expected int32 but the message has a string"),
                       funboost::task_failed);
}

TEST_CASE("a message the parser refuses is still dead-lettered, and its log line says what is "
          "wrong with it and shows it escaped") {
  test_support::log_capture logs;
  logs.clear();
  funboost::runtime rt;
  std::atomic<int> sum{0};
  auto o = memory_queue("dlq_reasons");
  o.arg_names = {"x"};
  o.concurrent_num = 1;
  auto b = rt.boost([&](int x) { sum += x; }, o);
  auto conn = funboost::make_broker(o)->connect();
  std::vector<std::string> bad{
    R"({"x":123456789012345678901234567890,"extra":{"task_id":"huge"}})",
    std::string(100000, '[') + std::string(100000, ']'),
    R"({"x":1,})",
    R"([{"x":1}])",
    "{\"x\":\"caf\xe9\"}", // Latin-1, not UTF-8
  };
  conn->publish("dlq_reasons", bad);
  b.push(42);
  b.consume();
  REQUIRE(wait_until([&] { return sum == 42; }));
  REQUIRE(wait_until([&] { return conn->count("dlq_reasons_dlx") == bad.size(); }));
  CHECK(drain("dlq_reasons_dlx") == bad); // nothing lost, byte for byte

  auto lines = logs.containing("queue 'dlq_reasons': a message cannot be read");
  REQUIRE(lines.size() == bad.size());
  CHECK(lines[0].find("moved to 'dlq_reasons_dlx': a number out of range at offset 5 "
                      "(123456789012345678901234567890)")
        != std::string::npos);
  CHECK(lines[1].find(": nesting too deep: depth 1025 at offset 1024") != std::string::npos);
  CHECK(lines[2].find(": invalid JSON at offset 7 (expected '\"' to start an object key)")
        != std::string::npos);
  CHECK(lines[3].find(": it is JSON but not an object: an array") != std::string::npos);
  CHECK(lines[4].find(": invalid UTF-8 at offset 9") != std::string::npos);
  CHECK(lines[4].find(R"(Message: {"x":"caf\xe9"})") != std::string::npos);
  for (const auto& line : logs.lines()) {
    CAPTURE(line);
    CHECK(line.find("not a JSON object") == std::string::npos);
    CHECK(test_support::is_valid_utf8(line)); // the Latin-1 byte is shown as \xe9
  }
}

TEST_CASE("a function that throws funboost::dead_letter sends its message to {q}_dlx at once "
          "with the reason, without retries") {
  funboost::runtime rt;
  std::atomic<int> runs{0};
  auto o = memory_queue("dlq_thrown");
  o.arg_names = {"x"};
  o.max_retries = 3;
  auto b = rt.boost([&](int) {
    ++runs;
    throw funboost::dead_letter("x is from a deleted account");
  }, o);
  auto conn = funboost::make_broker(o)->connect();
  b.push(7);
  b.consume();
  REQUIRE(wait_until([&] { return conn->count("dlq_thrown_dlx") == 1; }));
  CHECK(runs == 1);
  auto dead = drain("dlq_thrown_dlx");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].find(R"("dead_letter_reason":"the function threw funboost::dead_letter: x is )"
                     R"(from a deleted account")") != std::string::npos);
  CHECK(dead[0].find(R"({"x":7,)") == 0);
}

TEST_CASE("a function that throws funboost::requeue_task gets its message back later, not "
          "counted as a retry") {
  funboost::runtime rt;
  std::atomic<int> runs{0}, done{0};
  auto o = memory_queue("requeue_thrown");
  o.arg_names = {"x"};
  o.max_retries = 0; // a retry would not be allowed: requeues are not retries
  auto b = rt.boost([&](int) {
    if (++runs < 3)
      throw funboost::requeue_task("the database is in maintenance");
    ++done;
  }, o);
  b.push(1);
  b.consume();
  REQUIRE(wait_until([&] { return done == 1; }));
  CHECK(runs == 3);
  auto conn = funboost::make_broker(o)->connect();
  CHECK(conn->count("requeue_thrown_dlx") == 0);
}