// The task filter's value (src/core/filter_key.cpp): byte for byte what Python funboost puts in
// filter_set:{q} / filter_zset:{q} for a message, so C++ and Python consumers share one filter.
// Then the in-memory task filter (src/core/task_filter.cpp); the Redis one is in
// test/redis/test_redis_filter.cpp.
//
// Every expected text below was printed by real Python 3.11 with orjson, running the steps of
// funboost's RedisFilter.generate_filter_str on the message (orjson.loads, drop "extra", an
// OrderedDict in sorted key order, json.dumps): see test/filter_key_expected.py, whose output
// these tables are. None was written by hand or taken from the C++ code. Where plain
// json.dumps(args, sort_keys=True) differs (nested objects), the script says so in a comment:
// funboost does NOT sort nested objects.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <simdjson.h>

#include "core/filter_key.hpp"
#include "core/task_filter.hpp"

namespace {

struct filter_case {
  const char* message;
  const char* python;
};

// clang-format off
const filter_case filter_value_cases[] = {
  {R"py({"x":1,"y":2,"extra":{"task_id":"t1","publish_time":1774348711.2128,"publish_time_format":"2026-03-24 18:38:31"}})py",
   R"py({"x": 1, "y": 2})py"},
  {R"py({"y":2,"x":1})py",
   R"py({"x": 1, "y": 2})py"},
  {R"py({})py",
   R"py({})py"},
  {R"py({"extra":{"task_id":"t2"}})py",
   R"py({})py"},
  {R"py({"name":"张三","city":"北京","extra":{"task_id":"t3"}})py",
   R"py({"city": "\u5317\u4eac", "name": "\u5f20\u4e09"})py"},
  {R"py({"e":"😀👍","k":"é ü ß","mixed":"a中b\u00e9\ud83d\ude00"})py",
   R"py({"e": "\ud83d\ude00\ud83d\udc4d", "k": "\u00e9 \u00fc \u00df", "mixed": "a\u4e2db\u00e9\ud83d\ude00"})py"},
  {R"py({"é":1,"z":2,"😀":3,"\uffff":4,"中":5,"Z":6,"a":7,"":8})py",
   R"py({"": 8, "Z": 6, "a": 7, "z": 2, "\u00e9": 1, "\u4e2d": 5, "\uffff": 4, "\ud83d\ude00": 3})py"},
  {R"py({"s":"quote \" backslash \\ slash \/ / nl \n cr \r tab \t bs \b ff \f nul \u0000 us \u001f del \u007f nbsp \u00a0"})py",
   R"py({"s": "quote \" backslash \\ slash / / nl \n cr \r tab \t bs \b ff \f nul \u0000 us \u001f del \u007f nbsp \u00a0"})py"},
  {R"py({"a\"b":1,"a\\b":2,"a\nb":3,"a\u0001b":4})py",
   R"py({"a\u0001b": 4, "a\nb": 3, "a\"b": 1, "a\\b": 2})py"},
  {R"py({"b":{"z":1,"a":{"y":2,"x":3}},"a":[{"d":1,"c":2},3]})py",
   R"py({"a": [{"d": 1, "c": 2}, 3], "b": {"z": 1, "a": {"y": 2, "x": 3}}})py"},
  // json.dumps(args, sort_keys=True) would give {"a": [{"c": 2, "d": 1}, 3], "b": {"a": {"x": 3, "y": 2}, "z": 1}}
  {R"py({"a":{"extra":1,"b":2}})py",
   R"py({"a": {"extra": 1, "b": 2}})py"},
  // json.dumps(args, sort_keys=True) would give {"a": {"b": 2, "extra": 1}}
  {R"py({"a":1.0,"b":0.1,"c":1e16,"d":1e-7,"e":123456789.123,"f":-0.0,"g":1.5e-07,"h":1E5,"i":0.0001,"j":0.00001,"k":1e15,"l":123456789012345678.0,"m":5e-324,"n":1.7976931348623157e308,"o":2.5,"p":-3.14159,"q":1e22,"r":0.30000000000000004,"s":1234567890123456.7,"t":100000000000000000000.5,"u":0.0,"v":-1e-300})py",
   R"py({"a": 1.0, "b": 0.1, "c": 1e+16, "d": 1e-07, "e": 123456789.123, "f": -0.0, "g": 1.5e-07, "h": 100000.0, "i": 0.0001, "j": 1e-05, "k": 1000000000000000.0, "l": 1.2345678901234568e+17, "m": 5e-324, "n": 1.7976931348623157e+308, "o": 2.5, "p": -3.14159, "q": 1e+22, "r": 0.30000000000000004, "s": 1234567890123456.8, "t": 1e+20, "u": 0.0, "v": -1e-300})py"},
  {R"py({"a":1,"b":1.0,"c":1e0,"d":10E-1,"e":-0,"f":0})py",
   R"py({"a": 1, "b": 1.0, "c": 1.0, "d": 1.0, "e": 0, "f": 0})py"},
  {R"py({"a":9223372036854775807,"b":-9223372036854775808,"c":18446744073709551615,"d":9223372036854775808,"e":-1,"f":12345678901234567890})py",
   R"py({"a": 9223372036854775807, "b": -9223372036854775808, "c": 18446744073709551615, "d": 9223372036854775808, "e": -1, "f": 12345678901234567890})py"},
  {R"py({"t":true,"f":false,"n":null})py",
   R"py({"f": false, "n": null, "t": true})py"},
  {R"py({"a":[],"b":[1,[2,[3]],{}],"c":{},"d":[{"b":1,"a":2},null,"x"]})py",
   R"py({"a": [], "b": [1, [2, [3]], {}], "c": {}, "d": [{"b": 1, "a": 2}, null, "x"]})py"},
  // json.dumps(args, sort_keys=True) would give {"a": [], "b": [1, [2, [3]], {}], "c": {}, "d": [{"a": 2, "b": 1}, null, "x"]}
  {R"py({"a":1,"a":2,"b":{"y":1,"x":2,"y":3}})py",
   R"py({"a": 2, "b": {"y": 3, "x": 2}})py"},
  // json.dumps(args, sort_keys=True) would give {"a": 2, "b": {"x": 2, "y": 3}}
  {R"py( { "b" : 1 ,
 "a" : [ 1 , 2 ] , "extra" : { } } )py",
   R"py({"a": [1, 2], "b": 1})py"},
  {R"py({"user_id":42,"payload":{"tags":["x","y"],"score":9.5},"extra":{"filter_str":"u42","task_id":"t4"}})py",
   R"py({"payload": {"tags": ["x", "y"], "score": 9.5}, "user_id": 42})py"},
  // json.dumps(args, sort_keys=True) would give {"payload": {"score": 9.5, "tags": ["x", "y"]}, "user_id": 42}
};

struct override_case {
  const char* message;
  std::optional<std::string> python;
};

const override_case filter_str_cases[] = {
  {R"py({"a":1,"extra":{"filter_str":"u42"}})py", R"py(u42)py"},
  {R"py({"a":1,"extra":{"filter_str":"用户😀"}})py", R"py(用户😀)py"},
  {R"py({"a":1,"extra":{"filter_str":""}})py", std::nullopt},
  {R"py({"a":1,"extra":{"filter_str":null}})py", std::nullopt},
  {R"py({"a":1,"extra":{"filter_str":0}})py", std::nullopt},
  {R"py({"a":1,"extra":{"filter_str":0.0}})py", std::nullopt},
  {R"py({"a":1,"extra":{"filter_str":false}})py", std::nullopt},
  {R"py({"a":1,"extra":{"filter_str":17}})py", R"py(17)py"},
  {R"py({"a":1,"extra":{"filter_str":-5}})py", R"py(-5)py"},
  {R"py({"a":1,"extra":{"filter_str":1.5}})py", R"py(1.5)py"},
  {R"py({"a":1,"extra":{"filter_str":1e16}})py", R"py(1e+16)py"},
  {R"py({"a":1,"extra":{"task_id":"x"}})py", std::nullopt},
  {R"py({"a":1})py", std::nullopt},
};
// clang-format on

simdjson::dom::object parse(simdjson::dom::parser& parser, const std::string& text) {
  simdjson::dom::object object;
  auto error = parser.parse(text).get_object().get(object);
  REQUIRE_MESSAGE(!error, "the test message is not a JSON object: " << text);
  return object;
}

} // namespace

TEST_CASE("filter value: the text Python funboost computes for each message") {
  simdjson::dom::parser parser;
  for (const auto& c : filter_value_cases) {
    CAPTURE(c.message);
    CHECK(funboost::detail::filter_value(parse(parser, c.message)) == std::string{c.python});
  }
}

TEST_CASE("filter value: extra.filter_str replaces the arguments when funboost would use it") {
  simdjson::dom::parser parser;
  for (const auto& c : filter_str_cases) {
    CAPTURE(c.message);
    auto message = parse(parser, c.message);
    CHECK(funboost::detail::filter_str_override(message) == c.python);
    auto expected = c.python ? *c.python : funboost::detail::filter_value(message);
    CHECK(funboost::detail::task_filter_value(message) == expected);
  }
  // A filter_str funboost cannot send (redis-py refuses bools, lists, dicts): the arguments.
  for (const char* odd : {R"({"a":1,"extra":{"filter_str":true}})",
                          R"({"a":1,"extra":{"filter_str":[1]}})",
                          R"({"a":1,"extra":{"filter_str":{"k":1}}})",
                          R"({"a":1,"extra":"not an object"})"}) {
    CAPTURE(odd);
    auto message = parse(parser, odd);
    CHECK_FALSE(funboost::detail::filter_str_override(message).has_value());
    CHECK(funboost::detail::task_filter_value(message) == R"({"a": 1})");
  }
}

TEST_CASE("filter value: Python's repr of non-finite floats (not in JSON, but repr is public)") {
  // python3 -c 'print(repr(float("inf")), repr(float("-inf")), repr(float("nan")))'
  CHECK(funboost::detail::python_float_repr(std::numeric_limits<double>::infinity()) == "inf");
  CHECK(funboost::detail::python_float_repr(-std::numeric_limits<double>::infinity()) == "-inf");
  CHECK(funboost::detail::python_float_repr(std::nan("")) == "nan");
}

TEST_CASE("filter value: bytes that are not UTF-8 become U+FFFD, never raw bytes") {
  // simdjson refuses such strings in a message; the string writer is public, so it stays ASCII.
  std::string out;
  funboost::detail::append_python_json_string(out, std::string{"a\xff" "b\xe4\xb8"});
  CHECK(out == R"("a\ufffdb\ufffd\ufffd")");
}

// -- the in-memory task filter (src/core/task_filter.cpp) ----------------------------------------

namespace {

/// A clock the test moves by hand (Unix seconds).
struct manual_clock {
  std::shared_ptr<std::atomic<double>> now = std::make_shared<std::atomic<double>>(1.7e9);
  funboost::detail::unix_clock get() const {
    return [now = now] { return now->load(); };
  }
  void set(double t) const { now->store(t); }
};

/// A queue name no other test case uses: the in-memory store is process-wide.
std::string unique_queue(const char* what) {
  static std::atomic<int> n{0};
  return std::string{"filter_test_"} + what + "_" + std::to_string(n++);
}

} // namespace

TEST_CASE("task filter keys: funboost's set without an expiry, its zset with one") {
  using funboost::detail::task_filter_key;
  CHECK(task_filter_key("q1", 0) == "filter_set:q1");
  CHECK(task_filter_key("q1", 1800) == "filter_zset:q1");
  CHECK(task_filter_key("q1", 0.5) == "filter_zset:q1");
}

TEST_CASE("memory task filter: a remembered value is seen, per queue and value, by every filter "
          "of the process") {
  auto q = unique_queue("forever");
  auto other = unique_queue("other");
  auto filter = funboost::detail::make_memory_task_filter(0);
  CHECK(filter->expire_seconds() == 0);
  CHECK_FALSE(filter->seen(q, R"({"x": 1})"));
  filter->remember(q, R"({"x": 1})");
  CHECK(filter->seen(q, R"({"x": 1})"));
  CHECK_FALSE(filter->seen(q, R"({"x": 2})"));
  CHECK_FALSE(filter->seen(other, R"({"x": 1})"));

  // Process-wide: another filter (another booster or worker of the queue) sees it too.
  auto second = funboost::detail::make_memory_task_filter(0);
  CHECK(second->seen(q, R"({"x": 1})"));
  // A filter with an expiry keeps funboost's other key (the zset): it does not see the set's.
  auto with_expiry = funboost::detail::make_memory_task_filter(60);
  CHECK_FALSE(with_expiry->seen(q, R"({"x": 1})"));

  CHECK(filter->remove_expired(q) == 0); // nothing expires without an expiry
  CHECK(filter->seen(q, R"({"x": 1})"));
  second->clear(q);
  CHECK_FALSE(filter->seen(q, R"({"x": 1})"));
}

TEST_CASE("memory task filter: with an expiry a value counts for expire seconds after it was "
          "remembered; remembering again restarts that; remove_expired drops the old ones") {
  manual_clock clock;
  auto q = unique_queue("expiry");
  auto filter = funboost::detail::make_memory_task_filter(60, clock.get());
  clock.set(1000);
  filter->remember(q, "a");
  clock.set(1059.5);
  CHECK(filter->seen(q, "a"));
  clock.set(1060); // as old as the expiry: funboost's ZREMRANGEBYSCORE 0 (now - 60) drops it
  CHECK_FALSE(filter->seen(q, "a"));

  filter->remember(q, "a"); // again at 1060
  clock.set(1100);
  CHECK(filter->seen(q, "a"));

  filter->remember(q, "b"); // at 1100
  clock.set(1125);
  CHECK(filter->remove_expired(q) == 1); // "a" (1060 <= 1125 - 60); "b" stays
  CHECK_FALSE(filter->seen(q, "a"));
  CHECK(filter->seen(q, "b"));
  clock.set(1000000);
  CHECK(filter->remove_expired(q) == 1);
  CHECK(filter->remove_expired(q) == 0);
}

TEST_CASE("memory task filter: remember() drops a queue's expired values once a minute, so the "
          "store does not grow with an expiry") {
  manual_clock clock;
  auto q = unique_queue("cleanup");
  auto filter = funboost::detail::make_memory_task_filter(10, clock.get());
  clock.set(5000);
  for (int i = 0; i < 100; ++i)
    filter->remember(q, "old" + std::to_string(i));
  clock.set(5100); // all expired, and a minute after the last cleanup (at the first remember)
  filter->remember(q, "new");
  CHECK(filter->remove_expired(q) == 0); // the remember above already dropped the 100
  CHECK(filter->seen(q, "new"));
}

TEST_CASE("memory task filter: thread-safe under concurrent remember and seen") {
  auto q = unique_queue("threads");
  auto filter = funboost::detail::make_memory_task_filter(3600);
  std::vector<std::thread> threads;
  std::atomic<int> misses{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        auto value = std::to_string(t) + ":" + std::to_string(i);
        filter->remember(q, value);
        if (!filter->seen(q, value))
          ++misses;
        filter->seen(q, std::to_string((t + 1) % 4) + ":" + std::to_string(i));
      }
    });
  for (auto& th : threads)
    th.join();
  CHECK(misses.load() == 0);
  CHECK(filter->seen(q, "3:1999"));
  CHECK(filter->describe() == "in-memory task filter");
}
