// A function that throws is re-run until max_retries, then recorded as failed with its text.
#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>

#include <funboost/funboost.hpp>

#include "support/fixtures.hpp"

using namespace std::chrono_literals;
using test_support::memory_queue;
using test_support::wait_until;

TEST_CASE("a function that always throws runs exactly max_retries + 1 times") {
  for (int max_retries : {0, 1, 3}) {
    funboost::runtime rt;
    std::atomic<int> attempts{0};
    auto o = memory_queue("retries_always_" + std::to_string(max_retries));
    o.max_retries = max_retries;
    o.is_using_rpc_mode = true;
    auto b = rt.boost(
      [&](int) -> int {
        ++attempts;
        throw std::runtime_error("boom");
      },
      o);
    b.consume();
    auto r = b.push(1);
    CHECK_THROWS_WITH_AS(r.get(10s), doctest::Contains("std::runtime_error: boom"),
                         funboost::task_failed);
    b.stop(); // nothing may run after the final failure
    CHECK(attempts == max_retries + 1);
  }
}

TEST_CASE("the failure carries the exception's type and message") {
  funboost::runtime rt;
  auto o = memory_queue("retries_failure_text");
  o.max_retries = 0;
  o.is_using_rpc_mode = true;
  auto b = rt.boost([](int v) -> int { throw std::invalid_argument("bad " + std::to_string(v)); }, o);
  b.consume();
  try {
    b.push(7).get(10s);
    FAIL("expected task_failed");
  } catch (const funboost::task_failed& e) {
    CHECK(e.exception_type() == "std::invalid_argument");
    CHECK(e.exception_message() == "bad 7");
  }
}

TEST_CASE("a task that fails twice then succeeds returns its result") {
  funboost::runtime rt;
  std::atomic<int> attempts{0};
  auto o = memory_queue("retries_then_ok");
  o.max_retries = 3;
  o.is_using_rpc_mode = true;
  auto b = rt.boost(
    [&](int v) {
      if (++attempts < 3)
        throw std::runtime_error("not yet");
      return v * 2;
    },
    o);
  b.consume();
  CHECK(b.push(21).get(10s) == 42);
  CHECK(attempts == 3);
}

TEST_CASE("a per-task max_retry_times overrides the booster's") {
  funboost::runtime rt;
  std::atomic<int> attempts{0};
  auto o = memory_queue("retries_per_task");
  o.max_retries = 1;
  auto b = rt.boost(
    [&](int) -> int {
      ++attempts;
      throw std::runtime_error("boom");
    },
    o);
  b.consume();
  auto r = b.publish(R"({"arg0":1})", {.max_retry_times = 4, .is_using_rpc_mode = true});
  CHECK_THROWS_AS(r.get(10s), funboost::task_failed);
  CHECK(attempts == 5);
}

// retry_delay is proven on virtual time: test/actors/test_actors_dispatcher.cpp.
