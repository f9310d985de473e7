// The Redis brokers against a real redis-server: the seed's pushes, funboost's wire format in
// both directions, the registry keys, dead-lettering, and clear errors.
#include <doctest/doctest.h>

#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include <simdjson.h>

#include <funboost/funboost.hpp>

#include "redis_client.hpp"
#include "redis_server.hpp"
#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using funboost::test::redis_client;
using funboost::test::redis_options;
using funboost::test::redis_server;
using funboost::test::wait_until;

namespace {

int add(int x, int y) {
  return x + y;
}

/// Every (x, y) the recording function was called with.
struct recorder {
  std::mutex mutex;
  std::multiset<std::pair<int, int>> calls;
  void clear() {
    std::lock_guard guard{mutex};
    calls.clear();
  }
  std::size_t size() {
    std::lock_guard guard{mutex};
    return calls.size();
  }
  std::size_t count(int x, int y) {
    std::lock_guard guard{mutex};
    return calls.count({x, y});
  }
};
recorder recorded;

int record_add(int x, int y) {
  std::lock_guard guard{recorded.mutex};
  recorded.calls.insert({x, y});
  return x + y;
}

const std::vector<std::string> kinds{funboost::broker_kind::redis,
                                     funboost::broker_kind::redis_stream};

/// The sample of WIRE.md, byte for byte, as Python funboost writes it.
const std::string wire_sample
  = R"({"x":1,"y":2,"extra":{"task_id":"019d1f6c-b52c-75f7-9bd0-7f1b19becd61",)"
    R"("publish_time":1774348711.2128,"publish_time_format":"2026-03-24 18:38:31"}})";

/// Pushes raw bodies as the Python producer of `kind` does.
void raw_push(redis_client& c, const std::string& kind, const std::string& queue,
              const std::vector<std::string>& bodies) {
  for (const auto& body : bodies) {
    if (kind == funboost::broker_kind::redis)
      c.run({"RPUSH", queue, body});
    else
      c.run({"XADD", queue, "*", "", body});
  }
}

/// What the producer wrote to `queue`, raw.
std::vector<std::string> raw_messages(redis_client& c, const std::string& kind,
                                      const std::string& queue) {
  if (kind == funboost::broker_kind::redis)
    return c.strings({"LRANGE", queue, "0", "-1"});
  return c.stream_values(queue);
}

} // namespace

TEST_CASE("redis brokers: the seed's pushes (add, 101 tasks) are all consumed with right "
          "results") {
  redis_server server;
  for (auto kind : kinds) {
    CAPTURE(kind);
    std::string queue = "queue_test2_" + kind;
    redis_client client{server.port()};
    {
      funboost::runtime rt;
      auto opts = redis_options(server, kind, queue);
      opts.conn_num = 5;
      opts.concurrent_num = 50;
      opts.qps = 500;
      opts.max_retries = 3;
      opts.broker.transport_options = {{"special1", 123LL}};
      auto b = rt.boost(add, opts);
      b.consume();
      auto r = b.push(1, 2);
      std::vector<funboost::async_result<int>> results;
      for (int i = 0; i < 100; ++i)
        results.push_back(b.push(i, i * 2));
      CHECK(r.get(20s) == 3);
      std::set<std::string> ids{r.task_id()};
      for (int i = 0; i < 100; ++i) {
        CHECK(results[static_cast<std::size_t>(i)].get(20s) == 3 * i);
        ids.insert(results[static_cast<std::size_t>(i)].task_id());
      }
      CHECK(ids.size() == 101);
      b.stop();
      CHECK(b.message_count() == 0);
    }
    // Everything acked: no unack zsets / pending entries left behind.
    if (std::string{kind} == funboost::broker_kind::redis) {
      CHECK(client.integer({"SCARD", "funboost_unack_registry:" + queue}) == 0);
      CHECK(client.strings({"KEYS", queue + "__unack_id_*"}).empty());
    } else {
      auto pending = client.run({"XPENDING", queue, "funboost_group"});
      CHECK(pending->element[0]->integer == 0);
      CHECK(client.integer({"XLEN", queue}) == 0);
    }
  }
}

TEST_CASE("redis brokers: messages written byte-for-byte as Python funboost writes them are "
          "consumed") {
  redis_server server;
  for (auto kind : kinds) {
    CAPTURE(kind);
    recorded.clear();
    std::string queue = "py_producer_" + kind;
    redis_client client{server.port()};
    raw_push(client, kind, queue,
             {wire_sample,
              // json.dumps' default separators, and a message without "extra"
              R"({"x": 10, "y": 20, "extra": {"task_id": "019d1f6c-b52c-75f7-9bd0-7f1b19becd62", )"
              R"("publish_time": 1774348711.2128, "publish_time_format": "2026-03-24 18:38:31"}})",
              R"({"x":100,"y":200})"});
    funboost::runtime rt;
    auto b = rt.boost(record_add, redis_options(server, kind, queue));
    b.consume();
    CHECK(wait_until([] { return recorded.size() >= 3; }, 20s));
    b.stop();
    CHECK(recorded.count(1, 2) == 1);
    CHECK(recorded.count(10, 20) == 1);
    CHECK(recorded.count(100, 200) == 1);
    CHECK(recorded.size() == 3);
    CHECK(b.message_count() == 0);
  }
}

TEST_CASE("redis brokers: what we publish has funboost's shape, keys and registry entries") {
  redis_server server;
  std::regex time_format{R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)"};
  for (auto kind : kinds) {
    CAPTURE(kind);
    std::string queue = "shape_" + kind;
    redis_client client{server.port()};
    funboost::runtime rt;
    auto b = rt.boost(add, redis_options(server, kind, queue)); // publish only
    auto r = b.push(5, 7);
    REQUIRE(r.published());
    auto raw = raw_messages(client, kind, queue);
    REQUIRE(raw.size() == 1);
    const auto& body = raw[0];
    CAPTURE(body);
    CHECK(body.starts_with(R"({"x":5,"y":7,"extra":{)")); // arguments first, in call order
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(body);
    CHECK(int64_t(doc["x"]) == 5);
    CHECK(int64_t(doc["y"]) == 7);
    CHECK(std::string_view(doc["extra"]["task_id"]) == r.task_id());
    double publish_time = doc["extra"]["publish_time"];
    auto now = std::chrono::duration<double>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
    CHECK(publish_time > now - 60);
    CHECK(publish_time <= now + 1);
    std::string format{std::string_view(doc["extra"]["publish_time_format"])};
    CHECK(std::regex_match(format, time_format));
    if (std::string{kind} == funboost::broker_kind::redis_stream) {
      auto entries = client.run({"XRANGE", queue, "-", "+"});
      auto* fields = entries->element[0]->element[1];
      REQUIRE(fields->elements == 2);
      CHECK(std::string(fields->element[0]->str, fields->element[0]->len).empty()); // field ""
    }
    // The registry every funboost booster writes, even one that only publishes.
    CHECK(client.integer({"SISMEMBER", "funboost_all_queue_names", queue}) == 1);
    auto params = client.string({"HGET", "funboost_queue__consumer_parmas", queue});
    REQUIRE(!params.empty());
    simdjson::dom::parser params_parser;
    simdjson::dom::element p = params_parser.parse(params);
    CHECK(std::string_view(p["queue_name"]) == queue);
    auto info = p["auto_generate_info"]["final_func_input_params_info"];
    CHECK(std::string_view(info["func_name"]) == queue);
    simdjson::dom::array must = info["must_arg_name_list"];
    std::vector<std::string> names;
    for (auto n : must)
      names.emplace_back(std::string_view(n));
    CHECK(names == std::vector<std::string>{"x", "y"});
    CHECK(simdjson::dom::array(info["optional_arg_name_list"]).size() == 0);
    b.clear();
    CHECK(b.message_count() == 0);
  }
}

TEST_CASE("redis: a consuming connection heartbeats and registers its unack zset as funboost "
          "does, and a graceful stop leaves nothing behind") {
  redis_server server;
  std::string queue = "registry_q";
  redis_client client{server.port()};
  std::mutex gate;
  gate.lock(); // the task blocks until the test has looked at the keys
  std::atomic<bool> running{false};
  {
    funboost::runtime rt;
    auto b = rt.boost(
      [&](int x, int y) {
        running = true;
        std::lock_guard hold{gate};
        return x + y;
      },
      redis_options(server, funboost::broker_kind::redis, queue));
    b.consume();
    auto r = b.push(2, 3);
    REQUIRE(wait_until([&] { return running.load(); }, 10s));
    auto keys = client.strings({"SMEMBERS", "funboost_unack_registry:" + queue});
    REQUIRE(keys.size() == 1);
    std::string prefix = queue + "__unack_id_";
    REQUIRE(keys[0].starts_with(prefix));
    auto consumer_id = keys[0].substr(prefix.size());
    CAPTURE(consumer_id);
    CHECK(std::regex_match(consumer_id,
                           std::regex{R"(.+_.+_\d{4}-\d\d-\d\d \d\d-\d\d-\d\d_\d+_\d+)"}));
    CHECK(client.integer({"ZCARD", keys[0]}) == 1); // the running task, unacked
    auto beats = client.strings({"SMEMBERS", "funboost_hearbeat_queue__str:" + queue});
    bool found = false;
    for (const auto& m : beats) {
      auto sep = m.rfind("&&");
      if (sep != std::string::npos && m.substr(0, sep) == consumer_id) {
        found = true;
        double ts = std::stod(m.substr(sep + 2));
        auto redis_time = client.strings({"TIME"});
        CHECK(std::abs(ts - std::stod(redis_time[0])) < 30);
      }
    }
    CHECK(found);
    gate.unlock();
    CHECK(r.get(10s) == 5);
    b.stop();
    CHECK(client.integer({"SCARD", "funboost_unack_registry:" + queue}) == 0);
    CHECK(client.integer({"EXISTS", keys[0]}) == 0);
    for (const auto& m : client.strings({"SMEMBERS", "funboost_hearbeat_queue__str:" + queue}))
      CHECK(m.rfind(consumer_id + "&&", 0) != 0);
  }
}

TEST_CASE("redis brokers: a closed connection gives its unacked messages back at once; ack and "
          "requeue work on the connection that fetched") {
  redis_server server;
  for (auto kind : kinds) {
    CAPTURE(kind);
    auto opts = redis_options(server, kind, "conn_" + kind);
    auto broker = funboost::make_broker(opts);
    auto producer = broker->connect();
    std::vector<std::string> bodies;
    for (int i = 0; i < 5; ++i)
      bodies.push_back(R"({"x":)" + std::to_string(i) + R"(,"y":0})");
    producer->publish(opts.queue_name, bodies);
    CHECK(producer->count(opts.queue_name) == 5);
    {
      auto consumer = broker->connect();
      std::vector<funboost::fetched_message> got;
      CHECK(consumer->fetch(opts.queue_name, 3, 1000ms, got) == 3);
      REQUIRE(got.size() == 3);
      CHECK(got[0].body == bodies[0]);
      CHECK(producer->count(opts.queue_name) == 2);
      std::vector<uint64_t> first{got[0].delivery_tag};
      consumer->ack(opts.queue_name, first); // done and gone
      consumer->requeue(opts.queue_name, std::span{&got[1], 1});
      CHECK(producer->count(opts.queue_name) == 3);
    } // got[2] is still unacked: the close gives it back
    CHECK(producer->count(opts.queue_name) == 4);
    auto consumer = broker->connect();
    std::vector<funboost::fetched_message> rest;
    while (consumer->fetch(opts.queue_name, 10, 200ms, rest) > 0) {
    }
    std::multiset<std::string> seen;
    for (auto& m : rest)
      seen.insert(m.body);
    CHECK(seen == std::multiset<std::string>{bodies.begin() + 1, bodies.end()});
    // An empty queue: fetch waits about `wait` and returns 0.
    std::vector<funboost::fetched_message> none;
    auto t0 = std::chrono::steady_clock::now();
    CHECK(consumer->fetch(opts.queue_name, 10, 300ms, none) == 0);
    auto took = std::chrono::steady_clock::now() - t0;
    CHECK(took >= 250ms);
    CHECK(took < 3s);
  }
}

TEST_CASE("redis brokers: a malformed message is moved to {queue}_dlx and the next one runs") {
  redis_server server;
  for (auto kind : kinds) {
    CAPTURE(kind);
    recorded.clear();
    std::string queue = "malformed_" + kind;
    redis_client client{server.port()};
    raw_push(client, kind, queue, {"not json", R"({"x":"a","y":2})", R"({"x":7,"y":8})"});
    funboost::runtime rt;
    auto opts = redis_options(server, kind, queue);
    opts.concurrent_num = 1;
    auto b = rt.boost(record_add, opts);
    b.consume();
    CHECK(wait_until([] { return recorded.size() >= 1; }, 20s));
    CHECK(wait_until(
      [&] { return raw_messages(client, kind, funboost::dead_letter_queue(queue)).size() >= 2; },
      10s));
    b.stop();
    CHECK(recorded.count(7, 8) == 1);
    auto dead = raw_messages(client, kind, funboost::dead_letter_queue(queue));
    CHECK(std::multiset<std::string>(dead.begin(), dead.end())
          == std::multiset<std::string>{"not json", R"({"x":"a","y":2})"});
    CHECK(b.message_count() == 0);
  }
}

TEST_CASE("redis brokers: refused connections, wrong passwords and bad URLs give clear errors; "
          "passwords and unix sockets work") {
  redis_server server{{.persistent = false, .extra = {"--requirepass", "s3cret"}}};
  funboost::runtime rt;
  for (auto kind : kinds) {
    CAPTURE(kind);
    auto opts = redis_options(server, kind, "errors_q");
    int closed_port = funboost::test::free_port();
    opts.broker.url = "redis://127.0.0.1:" + std::to_string(closed_port) + "/7";
    auto refused = rt.boost(add, opts);
    try {
      refused.message_count();
      FAIL("no error for a refused connection");
    } catch (const funboost::broker_error& e) {
      std::string what = e.what();
      CAPTURE(what);
      CHECK(what.find("'" + kind + "'") != std::string::npos);
      CHECK(what.find("errors_q") != std::string::npos);
      CHECK(what.find("127.0.0.1:" + std::to_string(closed_port)) != std::string::npos);
      CHECK(what.find("redis-server is running") != std::string::npos);
    }

    opts.broker.url = "redis://:badpw123@127.0.0.1:" + std::to_string(server.port()) + "/7";
    auto wrong = rt.boost(add, opts);
    try {
      wrong.message_count();
      FAIL("no error for a wrong password");
    } catch (const funboost::broker_error& e) {
      std::string what = e.what();
      CAPTURE(what);
      CHECK(what.find("password") != std::string::npos);
      CHECK(what.find("badpw123") == std::string::npos); // never print the password
    }

    opts.broker.url = "redis://:s3cret@127.0.0.1:" + std::to_string(server.port()) + "/7";
    auto good = rt.boost(add, opts);
    CHECK(good.push(1, 1).published());
    CHECK(good.message_count() == 1);
    good.clear();

    opts.broker.url = "unix://" + server.socket_path() + "?db=7";
    opts.broker.transport_options = {{"password", std::string{"s3cret"}}};
    auto unix_socket = rt.boost(add, opts);
    CHECK(unix_socket.push(2, 2).published());
    CHECK(unix_socket.message_count() == 1);
    unix_socket.clear();

    opts.broker.transport_options = {};
    opts.broker.url = "http://127.0.0.1/7";
    CHECK_THROWS_WITH_AS(rt.boost(add, opts), doctest::Contains("redis://"),
                         funboost::broker_error);
    opts.broker.url = "redis://127.0.0.1:99999/7";
    CHECK_THROWS_AS(rt.boost(add, opts), funboost::broker_error);
    opts.broker.url = "redis://127.0.0.1:6379/x";
    CHECK_THROWS_AS(rt.boost(add, opts), funboost::broker_error);
  }
}
