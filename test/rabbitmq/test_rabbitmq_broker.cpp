// The rabbitmq broker against a real rabbitmq-server: the seed's pushes all run with the right
// results, Python-funboost-shaped messages are consumed, what we publish has funboost's shape
// and is persistent, bad messages are dead-lettered, prefetch is bounded, and wrong
// credentials or vhosts give clear errors.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <simdjson.h>

#include <caf/scoped_actor.hpp>
#include <funboost/funboost.hpp>

#include "core/unix_time.hpp"

#include "rabbitmq/amqp_raw.hpp"
#include "rabbitmq/rabbitmq_fixtures.hpp"

using namespace std::chrono_literals;
using rabbitmq_test::rabbit_queue;
using rabbitmq_test::raw_amqp;
using rabbitmq_test::shared_server;
using rabbitmq_test::wait_until;

namespace {

int add(int x, int y) {
  return x + y;
}

} // namespace

TEST_CASE("rabbitmq-server starts as its own node on run-time ports") {
  auto& server = shared_server();
  MESSAGE("rabbitmq-server " << server.node() << " on 127.0.0.1:" << server.port()
                             << " accepted logins after " << server.last_start_duration().count()
                             << " ms");
  CHECK(server.running());
  CHECK(rabbitmq_test::amqp_login_works(server.port()));
}

TEST_CASE("the seed example's pushes are all consumed with the right results on rabbitmq") {
  auto& server = shared_server();
  raw_amqp(server.port()).purge("queue_test2");
  raw_amqp(server.port()).purge("queue_test33");
  funboost::runtime rt;
  // The seed: add on queue_test2 and print_value on queue_test33, conn_num 5, qps 500, retries 3.
  auto o = rabbit_queue("queue_test2", server);
  o.conn_num = 5;
  o.concurrent_num = 50;
  o.qps = 500;
  o.max_retries = 3;
  o.is_using_rpc_mode = true;
  o.arg_names = {"x", "y"};
  o.broker.transport_options = {{"special1", 123LL}};
  auto add_booster = rt.boost(add, o);

  std::mutex mutex;
  std::vector<std::string> printed;
  auto p = rabbit_queue("queue_test33", server);
  p.conn_num = 5;
  p.concurrent_num = 20;
  p.qps = 500;
  p.max_retries = 3;
  p.arg_names = {"a"};
  p.broker.transport_options = {{"special1", 123LL}, {"special2", std::string{"aaaa"}}};
  auto print_booster = rt.boost(
    [&](std::string a) {
      std::lock_guard guard{mutex};
      printed.push_back(std::move(a));
    },
    p);

  add_booster.consume();
  print_booster.consume();
  auto first = add_booster.push(1, 2);
  print_booster.push("hello world");
  std::vector<funboost::async_result<int>> results;
  constexpr int n = 150;
  for (int i = 0; i < n; ++i) {
    results.push_back(add_booster.push(i, i * 2));
    print_booster.push("message " + std::to_string(i));
  }
  CHECK(first.get(30s) == 3);
  std::set<std::string> ids{first.task_id()};
  for (int i = 0; i < n; ++i) {
    CAPTURE(i);
    REQUIRE(results[i].published());
    CHECK(results[i].get(30s) == 3 * i);
    ids.insert(results[i].task_id());
  }
  CHECK(ids.size() == n + 1);
  CHECK(wait_until([&] {
    std::lock_guard guard{mutex};
    return printed.size() == n + 1;
  }));
  CHECK(add_booster(1, 2) == 3); // still a plain function
  add_booster.stop();
  print_booster.stop();
  CHECK(add_booster.message_count() == 0);
  CHECK(print_booster.message_count() == 0);
  std::lock_guard guard{mutex};
  std::set<std::string> distinct(printed.begin(), printed.end());
  CHECK(distinct.size() == n + 1);
  CHECK(distinct.count("hello world") == 1);
  CHECK(distinct.count("message 149") == 1);
}

TEST_CASE("a message published raw, byte for byte as Python funboost writes it, is consumed") {
  auto& server = shared_server();
  const std::string queue = "raw_python_queue";
  raw_amqp raw{server.port()};
  raw.purge(queue);
  // The sample from WIRE.md, and one without "extra" (valid too).
  raw.publish(queue, R"({"x":1,"y":2,"extra":{"task_id":"019d1f6c-b52c-75f7-9bd0-7f1b19becd61",)"
                     R"("publish_time":1774348711.2128,"publish_time_format":"2026-03-24 18:38:31"}})");
  raw.publish(queue, R"({"x":30,"y":12})");
  funboost::runtime rt;
  std::mutex mutex;
  std::vector<std::pair<int, int>> calls;
  auto o = rabbit_queue(queue, server);
  o.concurrent_num = 1;
  o.arg_names = {"x", "y"};
  auto b = rt.boost(
    [&](int x, int y) {
      std::lock_guard guard{mutex};
      calls.emplace_back(x, y);
      return x + y;
    },
    o);
  b.consume();
  CHECK(wait_until([&] {
    std::lock_guard guard{mutex};
    return calls.size() == 2;
  }));
  b.stop();
  std::lock_guard guard{mutex};
  REQUIRE(calls.size() == 2);
  CHECK(calls[0] == std::pair{1, 2});
  CHECK(calls[1] == std::pair{30, 12});
  CHECK(raw.count(queue) == 0); // acked: gone from the broker
}

TEST_CASE("what we publish is funboost-shaped, persistent, and on the broker when push returns") {
  auto& server = shared_server();
  const std::string queue = "shape_queue";
  raw_amqp raw{server.port()};
  raw.purge(queue);
  funboost::runtime rt;
  auto o = rabbit_queue(queue, server);
  o.arg_names = {"x", "y"};
  auto b = rt.boost(add, o);
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    auto r = b.push(5, i);
    REQUIRE(r.published());
    ids.push_back(r.task_id());
    // Publisher confirms: once push returned, the broker holds the message.
    CHECK(raw.count(queue) == static_cast<uint32_t>(i + 1));
  }
  CHECK(b.message_count() == 20);
  // Declared as funboost declares it (durable, no arguments): the same declare succeeds.
  CHECK_NOTHROW(raw.declare(queue));

  simdjson::dom::parser parser;
  for (int i = 0; i < 20; ++i) {
    auto m = raw.get(queue);
    REQUIRE(m.found);
    CHECK(m.has_delivery_mode);
    CHECK(m.delivery_mode == 2);
    CHECK(m.content_encoding == "utf-8"); // as funboost's amqpstorm publisher sends a str body
    INFO(m.body);
    simdjson::dom::object obj;
    REQUIRE(parser.parse(m.body).get(obj) == simdjson::SUCCESS);
    std::vector<std::string> keys;
    for (auto field : obj)
      keys.emplace_back(field.key);
    CHECK(keys == std::vector<std::string>{"x", "y", "extra"}); // arguments first, then extra
    CHECK(int64_t(obj["x"]) == 5);
    CHECK(int64_t(obj["y"]) == i);
    simdjson::dom::object extra;
    REQUIRE(obj["extra"].get(extra) == simdjson::SUCCESS);
    std::string_view task_id, format;
    double publish_time = 0;
    REQUIRE(extra["task_id"].get(task_id) == simdjson::SUCCESS);
    CHECK(task_id == ids[i]); // FIFO, and the id push() returned
    REQUIRE(extra["publish_time"].get(publish_time) == simdjson::SUCCESS);
    CHECK(publish_time > 1.7e9);
    REQUIRE(extra["publish_time_format"].get(format) == simdjson::SUCCESS);
    CHECK(std::regex_match(std::string{format},
                           std::regex{R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)"}));
  }
  CHECK_FALSE(raw.get(queue).found);
}

TEST_CASE("a malformed message goes to {q}_dlx and the next one runs") {
  auto& server = shared_server();
  const std::string queue = "malformed_queue";
  raw_amqp raw{server.port()};
  raw.purge(queue);
  raw.purge(funboost::dead_letter_queue(queue));
  raw.publish(queue, "not json");
  raw.publish(queue, R"({"x":"a","y":2})");
  funboost::runtime rt;
  std::atomic<int> sum{0};
  auto o = rabbit_queue(queue, server);
  o.concurrent_num = 1; // in order: the good message comes after the bad ones
  o.arg_names = {"x", "y"};
  auto b = rt.boost([&](int x, int y) { sum += x + y; }, o);
  b.push(40, 2);
  b.consume();
  REQUIRE(wait_until([&] { return sum == 42; }));
  REQUIRE(wait_until([&] { return raw.count(queue + "_dlx") == 2; }));
  b.push(1, 1);
  CHECK(wait_until([&] { return sum == 44; })); // still consuming
  b.stop();
  // Byte for byte, in order, and persistent: nothing lost.
  auto first = raw.get(queue + "_dlx");
  auto second = raw.get(queue + "_dlx");
  CHECK(first.body == "not json");
  CHECK(second.body == R"({"x":"a","y":2})");
  CHECK(first.delivery_mode == 2);
  CHECK(raw.count(queue) == 0);
}

TEST_CASE("prefetch is bounded: about 2 x concurrent_num messages leave the queue at a time") {
  auto& server = shared_server();
  const std::string queue = "prefetch_queue";
  raw_amqp raw{server.port()};
  raw.purge(queue);
  funboost::runtime rt;
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  auto o = rabbit_queue(queue, server);
  o.concurrent_num = 3;
  o.prefetch_per_worker = 2;
  o.is_using_rpc_mode = true;
  o.arg_names = {"x"};
  auto b = rt.boost(
    [&](int x) {
      ++started;
      while (!release)
        std::this_thread::sleep_for(1ms);
      return x;
    },
    o);
  std::vector<funboost::async_result<int>> results;
  for (int i = 0; i < 30; ++i)
    results.push_back(b.push(i));
  b.consume();
  REQUIRE(wait_until([&] { return started == 3; }));
  std::this_thread::sleep_for(500ms); // time to over-fetch, if it would
  CHECK(raw.count(queue) == 30 - 6);
  CHECK(started == 3);
  release = true;
  for (int i = 0; i < 30; ++i)
    CHECK(results[i].get(30s) == i);
  b.stop();
  CHECK(raw.count(queue) == 0);
}

namespace {

std::string connect_error(const std::string& queue, const std::string& url) {
  funboost::booster_options o;
  o.queue_name = queue;
  o.broker_kind = funboost::broker_kind::rabbitmq;
  o.broker.url = url;
  try {
    auto conn = funboost::make_broker(o)->connect();
  } catch (const funboost::broker_error& e) {
    return e.what();
  }
  return {};
}

} // namespace

TEST_CASE("a wrong password gives a broker_error naming broker, queue and address") {
  auto& server = shared_server();
  auto address = "127.0.0.1:" + std::to_string(server.port());
  auto text = connect_error("q_wrong_password", "amqp://guest:n0t-the-pw@" + address + "/");
  INFO(text);
  CHECK(text.find("rabbitmq") != std::string::npos);
  CHECK(text.find("q_wrong_password") != std::string::npos);
  CHECK(text.find(address) != std::string::npos);
  CHECK(text.find("ACCESS_REFUSED") != std::string::npos);
  CHECK(text.find("password") != std::string::npos);
  CHECK(text.find("n0t-the-pw") == std::string::npos);
}

TEST_CASE("a missing vhost gives a broker_error saying how to create it") {
  auto& server = shared_server();
  auto address = "127.0.0.1:" + std::to_string(server.port());
  auto text = connect_error("q_no_vhost", "amqp://guest:guest@" + address + "/no_such_vhost");
  INFO(text);
  CHECK(text.find("rabbitmq") != std::string::npos);
  CHECK(text.find("q_no_vhost") != std::string::npos);
  CHECK(text.find(address) != std::string::npos);
  CHECK(text.find("no_such_vhost") != std::string::npos);
  CHECK(text.find("add_vhost") != std::string::npos);
}

TEST_CASE("a wrong password or a missing vhost is a configuration error (broker_config_error), "
          "not an outage") {
  auto& server = shared_server();
  auto address = "127.0.0.1:" + std::to_string(server.port());
  funboost::booster_options o;
  o.queue_name = "q_config_error";
  o.broker_kind = funboost::broker_kind::rabbitmq;
  for (const std::string& url : {"amqp://guest:n0t-the-pw@" + address + "/",
                                "amqp://guest:guest@" + address + "/no_such_vhost"}) {
    CAPTURE(url);
    o.broker.url = url;
    auto broker = funboost::make_broker(o);
    CHECK_THROWS_AS((void) broker->connect(), funboost::broker_config_error);
  }
}

TEST_CASE("the right credentials connect, and count/clear work on the connection") {
  auto& server = shared_server();
  funboost::booster_options o;
  o.queue_name = "count_clear_queue";
  o.broker_kind = funboost::broker_kind::rabbitmq;
  o.broker.url = server.url();
  auto conn = funboost::make_broker(o)->connect();
  conn->clear(o.queue_name);
  std::vector<std::string> bodies{R"({"x":1})", R"({"x":2})", R"({"x":3})"};
  conn->publish(o.queue_name, bodies);
  CHECK(conn->count(o.queue_name) == 3);
  // A second connection fetches, requeues one, acks the others.
  auto consumer = funboost::make_broker(o)->connect();
  std::vector<funboost::fetched_message> got;
  CHECK(consumer->fetch(o.queue_name, 10, 2000ms, got) >= 1);
  wait_until([&] {
    consumer->fetch(o.queue_name, 10 - got.size(), 100ms, got);
    return got.size() == 3;
  });
  REQUIRE(got.size() == 3);
  CHECK(got[0].body == bodies[0]);
  CHECK(got[2].body == bodies[2]);
  CHECK(conn->count(o.queue_name) == 0); // delivered, unacked: not waiting
  std::vector<uint64_t> tags{got[1].delivery_tag, got[2].delivery_tag};
  consumer->ack(o.queue_name, tags);
  consumer->requeue(o.queue_name, std::span{got.data(), 1});
  // The requeued one is delivered again (to this consumer: it still has prefetch room).
  std::vector<funboost::fetched_message> again;
  CHECK(consumer->fetch(o.queue_name, 10, 2000ms, again) == 1);
  REQUIRE(again.size() == 1);
  CHECK(again[0].body == bodies[0]);
  consumer->ack(o.queue_name, std::vector<uint64_t>{again[0].delivery_tag});
  consumer.reset(); // closes; nothing left unacked
  CHECK(conn->count(o.queue_name) == 0);
  conn->publish(o.queue_name, bodies);
  conn->clear(o.queue_name);
  CHECK(conn->count(o.queue_name) == 0);
}

TEST_CASE("with max_priority the queue gets x-max-priority and funboost's priroty is honoured") {
  auto& server = shared_server();
  funboost::booster_options o;
  o.queue_name = "priority_queue";
  o.broker_kind = funboost::broker_kind::rabbitmq;
  o.broker.url = server.url();
  o.broker.transport_options["max_priority"] = 10LL;
  auto conn = funboost::make_broker(o)->connect();
  std::vector<std::string> bodies{
    R"({"x":1,"extra":{"task_id":"low"}})",
    R"({"x":2,"extra":{"other_extra_params":{"priroty":5},"task_id":"high"}})",
  };
  conn->publish(o.queue_name, bodies);
  // Declared with x-max-priority: a declare without it is refused (406), as in funboost.
  CHECK_THROWS(raw_amqp(server.port()).declare(o.queue_name));
  auto consumer = funboost::make_broker(o)->connect();
  std::vector<funboost::fetched_message> got;
  wait_until([&] {
    consumer->fetch(o.queue_name, 2 - got.size(), 200ms, got);
    return got.size() == 2;
  });
  REQUIRE(got.size() == 2);
  CHECK(got[0].body == bodies[1]); // the higher priority first
  CHECK(got[1].body == bodies[0]);
  consumer->ack(o.queue_name, std::vector<uint64_t>{got[0].delivery_tag, got[1].delivery_tag});
}

TEST_CASE("a queue deleted while in use is declared again: pushes are not lost, consuming resumes") {
  auto& server = shared_server();
  const std::string queue = "deleted_queue";
  raw_amqp(server.port()).purge(queue);
  funboost::runtime rt;
  auto o = rabbit_queue(queue, server);
  o.is_using_rpc_mode = true;
  o.arg_names = {"x"};
  auto b = rt.boost([](int x) { return x + 1; }, o);
  b.consume();
  CHECK(b.push(1).get(20s) == 2);
  raw_amqp(server.port()).remove(queue); // the server cancels our consumer
  auto r = b.push(2);                    // our publisher declared it before: must declare again
  REQUIRE(r.published());
  CHECK(r.get(30s) == 3);
  b.stop();
}

TEST_CASE("with queue_type quorum the queue and its _dlx are quorum queues; messages are "
          "fetched, requeued and acked as on a classic queue") {
  auto& server = shared_server();
  funboost::booster_options o;
  o.queue_name = "quorum_queue";
  o.broker_kind = funboost::broker_kind::rabbitmq;
  o.broker.url = server.url();
  o.broker.transport_options["queue_type"] = std::string{"quorum"};
  auto conn = funboost::make_broker(o)->connect();
  std::vector<std::string> bodies{R"({"x":1,"extra":{"task_id":"q1"}})",
                                  R"({"x":2,"extra":{"task_id":"q2"}})"};
  conn->publish(o.queue_name, bodies);
  conn->publish(funboost::dead_letter_queue(o.queue_name), std::vector<std::string>{"{}"});
  // Declared with x-queue-type quorum: a declare without it (funboost's classic) is refused.
  CHECK_THROWS(raw_amqp(server.port()).declare(o.queue_name));
  CHECK_THROWS(raw_amqp(server.port()).declare(funboost::dead_letter_queue(o.queue_name)));
  CHECK(conn->count(o.queue_name) == 2);

  auto consumer = funboost::make_broker(o)->connect();
  std::vector<funboost::fetched_message> got;
  wait_until([&] {
    consumer->fetch(o.queue_name, 2 - got.size(), 200ms, got);
    return got.size() == 2;
  });
  REQUIRE(got.size() == 2);
  CHECK(got[0].body == bodies[0]);
  consumer->requeue(o.queue_name, std::span<const funboost::fetched_message>{&got[1], 1});
  consumer->ack(o.queue_name, std::vector<uint64_t>{got[0].delivery_tag});
  std::vector<funboost::fetched_message> again;
  wait_until([&] {
    consumer->fetch(o.queue_name, 1, 200ms, again);
    return again.size() == 1;
  });
  REQUIRE(again.size() == 1);
  CHECK(again[0].body == bodies[1]);
  consumer->ack(o.queue_name, std::vector<uint64_t>{again[0].delivery_tag});
  CHECK(wait_until([&] { return conn->count(o.queue_name) == 0; }));
}

TEST_CASE("queue_type other than classic or quorum, or quorum with max_priority, is refused "
          "with the fix") {
  funboost::booster_options o;
  o.queue_name = "bad_type";
  o.broker_kind = funboost::broker_kind::rabbitmq;
  o.broker.url = "amqp://guest:guest@127.0.0.1:5672/";
  o.broker.transport_options["queue_type"] = std::string{"stream"};
  CHECK_THROWS_WITH_AS(funboost::make_broker(o), doctest::Contains("use 'classic' (the default) or 'quorum'"),
                       funboost::broker_error);
  o.broker.transport_options["queue_type"] = std::string{"quorum"};
  o.broker.transport_options["max_priority"] = 5LL;
  CHECK_THROWS_WITH_AS(funboost::make_broker(o), doctest::Contains("do not go together"),
                       funboost::broker_error);
}

TEST_CASE("a broker that does not answer in time is a timeout, not a lost connection") {
  auto& server = shared_server();
  funboost::booster_options o;
  o.queue_name = "q_timeouts";
  o.broker_kind = funboost::broker_kind::rabbitmq;
  o.broker.url = server.url();
  o.broker.transport_options["connect_timeout_ms"] = 500LL;
  o.broker.transport_options["rpc_timeout_ms"] = 500LL;
  auto broker = funboost::make_broker(o);

  // Paused before we connect: the kernel accepts the TCP connection, no handshake comes.
  std::string handshake_text;
  server.pause();
  try {
    broker->connect();
  } catch (const funboost::broker_error& e) {
    handshake_text = e.what();
  }
  server.resume();
  CAPTURE(handshake_text);
  CHECK(handshake_text.find("q_timeouts") != std::string::npos);
  CHECK(handshake_text.find("timed out: the TCP connection is open but no AMQP handshake came "
                            "within 500 ms (connect_timeout_ms)")
        != std::string::npos);
  CHECK(handshake_text.find("does not answer in time") != std::string::npos);
  CHECK(handshake_text.find("lost") == std::string::npos);

  // Paused while connected: a method call waits in vain for its reply.
  auto conn = broker->connect();
  std::string rpc_text;
  server.pause();
  try {
    conn->count("q_timeouts");
  } catch (const funboost::broker_error& e) {
    rpc_text = e.what();
  }
  server.resume();
  CAPTURE(rpc_text);
  CHECK(rpc_text.find("timed out: no answer within 500 ms (rpc_timeout_ms)") != std::string::npos);
  CHECK(rpc_text.find("lost") == std::string::npos);
  // The broker works again once it runs.
  CHECK(wait_until([&] {
    try {
      broker->connect()->count("q_timeouts");
      return true;
    } catch (const funboost::broker_error&) {
      return false;
    }
  }, 60s));
}

TEST_CASE("a countdown task on rabbitmq is acked, kept by the consumer and runs once, not before "
          "its time") {
  auto o = rabbit_queue("rabbit_delay", shared_server());
  o.arg_names = {"x"};
  funboost::runtime rt;
  std::mutex m;
  std::vector<double> ran_at;
  auto b = rt.boost(
    [&](int) {
      std::lock_guard guard{m};
      ran_at.push_back(funboost::detail::unix_now());
    },
    o);
  b.clear();
  b.consume();
  funboost::task_options delayed;
  delayed.countdown = 1;
  auto published = funboost::detail::unix_now();
  REQUIRE(b.publish(R"({"x":1})", delayed).published());
  // Kept by the consumer's scheduler, its message acked: nothing of it is in flight.
  auto stats = [&] {
    caf::scoped_actor self{rt.system()};
    funboost::queue_stats out;
    self->request(rt.node(), 10s, funboost::stats_atom_v, o.queue_name)
      .receive([&](funboost::queue_stats& s) { out = s; }, [](caf::error&) {});
    return out;
  };
  REQUIRE(wait_until([&] { auto s = stats(); return s.delayed == 1 && s.in_flight == 0; }));
  REQUIRE(wait_until([&] {
    std::lock_guard guard{m};
    return ran_at.size() == 1;
  }));
  std::lock_guard guard{m};
  CHECK(ran_at[0] >= published + 1 - 0.0002);
}
