// The Redis task filter (src/results/redis_task_filter.cpp) against a REAL redis-server: funboost's
// keys in the results db, values Python funboost wrote are seen by ours and ours are found by
// Python's commands, expiry by score without sleeping, and a server restart in between; and a
// consuming booster that filters with Python on those keys.
//
// The Python texts below are output of test/filter_key_expected.py (real Python and orjson, the
// steps of funboost's RedisFilter.generate_filter_str), copied from its table, not written by
// hand. PY_TIME is repr(time.time()) printed by python3, as redis-py sends it in ZADD.
#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <memory>
#include <string>

#include <simdjson.h>

#include <funboost/broker.hpp>
#include <funboost/funboost.hpp>

#include "core/filter_key.hpp"
#include "redis_client.hpp"
#include "redis_server.hpp"
#include "redis_test_support.hpp"
#include "results/redis_task_filter.hpp"

namespace {

using funboost::detail::make_redis_task_filter;
using funboost::detail::unix_now;
using funboost::test::redis_client;
using funboost::test::redis_server;

constexpr int results_db = 8; // funboost's REDIS_DB_FILTER_AND_RPC_RESULT
constexpr int queue_db = 7;

funboost::brokers::redis::redis_address results_address(const redis_server& server,
                                                        std::string key_prefix = "") {
  funboost::brokers::redis::redis_address a;
  a.port = server.port();
  a.db = results_db;
  a.key_prefix = std::move(key_prefix);
  return a;
}

struct python_case {
  const char* message;
  const char* python; // funboost's filter text for it
};

// From test/filter_key_expected.py's output.
const python_case cjk{R"py({"name":"张三","city":"北京","extra":{"task_id":"t3"}})py",
                      R"py({"city": "\u5317\u4eac", "name": "\u5f20\u4e09"})py"};
const python_case nested{R"py({"b":{"z":1,"a":{"y":2,"x":3}},"a":[{"d":1,"c":2},3]})py",
                         R"py({"a": [{"d": 1, "c": 2}, 3], "b": {"z": 1, "a": {"y": 2, "x": 3}}})py"};
const python_case emoji{R"py({"e":"😀👍","k":"é ü ß","mixed":"a中b\u00e9\ud83d\ude00"})py",
                        R"py({"e": "\ud83d\ude00\ud83d\udc4d", "k": "\u00e9 \u00fc \u00df", "mixed": "a\u4e2db\u00e9\ud83d\ude00"})py"};
const python_case plain{R"py({"x":1,"y":2,"extra":{"task_id":"t1","publish_time":1774348711.2128,"publish_time_format":"2026-03-24 18:38:31"}})py",
                        R"py({"x": 1, "y": 2})py"};

// python3 -c 'import time; t=time.time(); print(repr(t), repr(t+30), repr(t+61))'
constexpr const char* py_time = "1795568010.2022567";
constexpr double py_time_plus_30 = 1795568040.2022567;
constexpr double py_time_plus_61 = 1795568071.2022567;

/// Our filter value for a message, as the worker will compute it.
std::string ours(const char* message) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  REQUIRE(!parser.parse(std::string{message}).get_object().get(object));
  return funboost::detail::task_filter_value(object);
}

} // namespace

TEST_CASE("redis task filter: our values are the Python texts") {
  for (const auto* c : {&cjk, &nested, &emoji, &plain}) {
    CAPTURE(c->message);
    CHECK(ours(c->message) == c->python);
  }
}

TEST_CASE("redis task filter without expiry: SADD/SISMEMBER on filter_set:{q} in the results db, "
          "shared with Python funboost both ways") {
  redis_server server;
  redis_client results{server.port(), results_db};
  redis_client queues{server.port(), queue_db};
  auto filter = make_redis_task_filter(results_address(server), 0);
  CHECK(filter->expire_seconds() == 0);
  CHECK(filter->describe()
        == "redis task filter at redis://127.0.0.1:" + std::to_string(server.port()) + "/8");

  // Ours, read as Python funboost reads it: SISMEMBER filter_set:q <its own text>.
  CHECK_FALSE(filter->seen("q_set", ours(cjk.message)));
  filter->remember("q_set", ours(cjk.message));
  CHECK(filter->seen("q_set", ours(cjk.message)));
  CHECK(results.integer({"SISMEMBER", "filter_set:q_set", cjk.python}) == 1);
  CHECK(results.strings({"SMEMBERS", "filter_set:q_set"}) == std::vector<std::string>{cjk.python});
  CHECK(results.integer({"TTL", "filter_set:q_set"}) == -1); // no expiry, as funboost's set
  CHECK(queues.integer({"EXISTS", "filter_set:q_set"}) == 0); // the results db, not the queue db
  CHECK(results.integer({"EXISTS", "filter_zset:q_set"}) == 0);

  // Python's, seen by ours: SADD the Python text directly.
  results.run({"SADD", "filter_set:q_set", nested.python});
  results.run({"SADD", "filter_set:q_set", emoji.python});
  CHECK(filter->seen("q_set", ours(nested.message)));
  CHECK(filter->seen("q_set", ours(emoji.message)));
  CHECK_FALSE(filter->seen("q_set", ours(plain.message)));
  CHECK_FALSE(filter->seen("other_queue", ours(nested.message)));

  // extra.filter_str: the string itself is the value, on both sides.
  results.run({"SADD", "filter_set:q_set", "user-42"});
  CHECK(filter->seen("q_set", ours(R"({"user_id":42,"name":"x","extra":{"filter_str":"user-42"}})")));

  CHECK(filter->remove_expired("q_set") == 0);
  CHECK(results.integer({"SCARD", "filter_set:q_set"}) == 4);
  filter->clear("q_set");
  CHECK(results.integer({"EXISTS", "filter_set:q_set"}) == 0);
  CHECK_FALSE(filter->seen("q_set", ours(cjk.message)));
}

TEST_CASE("redis task filter with expiry: ZADD with the time on filter_zset:{q}; an entry as old "
          "as the expiry is not seen; remove_expired is funboost's ZREMRANGEBYSCORE") {
  redis_server server;
  redis_client results{server.port(), results_db};
  auto filter = make_redis_task_filter(results_address(server), 60);
  CHECK(filter->expire_seconds() == 60);

  // Ours, read as Python funboost reads it: ZSCORE filter_zset:q <its text> is not nil, and the
  // score is the time it was added.
  double before = unix_now();
  filter->remember("q_zset", ours(plain.message));
  double after = unix_now();
  auto score = results.string({"ZSCORE", "filter_zset:q_zset", plain.python});
  REQUIRE_FALSE(score.empty());
  CHECK(std::stod(score) >= before - 0.001);
  CHECK(std::stod(score) <= after + 0.001);
  CHECK(filter->seen("q_zset", ours(plain.message)));
  CHECK(results.integer({"EXISTS", "filter_set:q_zset"}) == 0);

  // Written the way Python funboost writes: ZADD with time.time(), an old one and a recent one.
  auto now = unix_now();
  results.run({"ZADD", "filter_zset:q_zset", std::to_string(now - 3600), cjk.python});
  results.run({"ZADD", "filter_zset:q_zset", std::to_string(now - 59), nested.python});
  CHECK_FALSE(filter->seen("q_zset", ours(cjk.message)));  // older than the expiry
  CHECK(filter->seen("q_zset", ours(nested.message)));     // younger

  // Remembering again moves the score to now: seen again.
  filter->remember("q_zset", ours(cjk.message));
  CHECK(filter->seen("q_zset", ours(cjk.message)));
  CHECK(std::stod(results.string({"ZSCORE", "filter_zset:q_zset", cjk.python})) > now - 1);

  // funboost's cleanup: ZREMRANGEBYSCORE key 0 (now - expire). Only the old entry goes.
  results.run({"ZADD", "filter_zset:q_zset", std::to_string(now - 61), emoji.python});
  CHECK(filter->remove_expired("q_zset") == 1);
  CHECK(results.string({"ZSCORE", "filter_zset:q_zset", emoji.python}).empty());
  CHECK(results.integer({"ZCARD", "filter_zset:q_zset"}) == 3);

  filter->clear("q_zset");
  CHECK(results.integer({"EXISTS", "filter_zset:q_zset"}) == 0);
}

TEST_CASE("redis task filter with expiry: a score in Python's repr counts until expire seconds "
          "after it (the filter's clock moved, no sleeping)") {
  redis_server server;
  redis_client results{server.port(), results_db};
  double clock_now = py_time_plus_30;
  auto filter = make_redis_task_filter(results_address(server), 60, [&] { return clock_now; });
  results.run({"ZADD", "filter_zset:q_clock", py_time, plain.python});
  CHECK(filter->seen("q_clock", ours(plain.message)));
  CHECK(filter->remove_expired("q_clock") == 0);
  clock_now = py_time_plus_61;
  CHECK_FALSE(filter->seen("q_clock", ours(plain.message)));
  CHECK(filter->remove_expired("q_clock") == 1);

  // Our score is Python's repr of the time, as redis-py would send it.
  filter->remember("q_clock", ours(plain.message));
  CHECK(results.string({"ZSCORE", "filter_zset:q_clock", plain.python}) == "1795568071.2022567");
}

TEST_CASE("redis task filter: the address's key prefix applies to funboost's key") {
  redis_server server;
  redis_client results{server.port(), results_db};
  auto filter = make_redis_task_filter(results_address(server, "app1:"), 0);
  filter->remember("q_prefix", "v");
  CHECK(results.integer({"SISMEMBER", "app1:filter_set:q_prefix", "v"}) == 1);
  CHECK(results.integer({"EXISTS", "filter_set:q_prefix"}) == 0);
}

TEST_CASE("redis task filter: a restarted server costs no call; Redis away or a wrong key type "
          "throws broker_error, and the filter works again afterwards") {
  redis_server server;
  redis_client results{server.port(), results_db};
  auto filter = make_redis_task_filter(results_address(server), 0);
  filter->remember("q_outage", "v1");

  // The filter's connection dies with the server (no persistence: the set is gone too).
  server.stop(SIGKILL);
  server.start();
  CHECK_FALSE(filter->seen("q_outage", "v1")); // a new connection, no exception
  filter->remember("q_outage", "v2");
  CHECK(filter->seen("q_outage", "v2"));

  server.stop(SIGKILL);
  CHECK_THROWS_AS(filter->seen("q_outage", "v2"), funboost::broker_error);
  CHECK_THROWS_AS(filter->remember("q_outage", "v3"), funboost::broker_error);
  server.start();
  filter->remember("q_outage", "v3");
  CHECK(filter->seen("q_outage", "v3"));

  redis_client again{server.port(), results_db};
  again.run({"SET", "filter_set:q_wrongtype", "a string"});
  CHECK_THROWS_WITH_AS(filter->seen("q_wrongtype", "v"), doctest::Contains("WRONGTYPE"),
                       funboost::broker_error);
  CHECK(filter->seen("q_outage", "v3")); // the connection stays
}

TEST_CASE("a consuming booster filters on funboost's keys: a value a Python consumer kept stops "
          "our run, and what ours ran is kept where Python looks") {
  redis_server server;
  redis_client results{server.port(), results_db};
  auto o = funboost::test::redis_options(server, funboost::broker_kind::redis, "filter_e2e");
  o.do_task_filtering = true;
  o.is_using_rpc_mode = true;
  results.run({"SADD", "filter_set:filter_e2e", plain.python}); // {"x": 1, "y": 2} ran in Python
  funboost::runtime rt;
  std::atomic<int> runs{0};
  auto b = rt.boost([&](int x, int y) { ++runs; return x + y; }, o);
  b.consume();
  try {
    b.push(1, 2).get(std::chrono::seconds(10));
    FAIL("a task Python ran must be filtered");
  } catch (const funboost::task_failed& e) {
    CHECK(e.exception_type() == "funboost::filtered");
  }
  CHECK(b.push(3, 4).get(std::chrono::seconds(10)) == 7);
  CHECK(runs == 1);
  // As funboost's RedisFilter.check_value_exists would ask.
  CHECK(results.integer({"SISMEMBER", "filter_set:filter_e2e", R"({"x": 3, "y": 4})"}) == 1);
}
