// Poison tasks on RabbitMQ against a real rabbitmq-server: a message held by a connection that
// closed without settling it (what a dead consumer leaves) comes back with its crash count
// raised, one given back gracefully does not, a death counts fully only for the message marked
// running alone; and a poison task that aborts every consumer process running it ends up in
// {queue}_dlx after max_crash_deliveries deaths while every healthy task completes.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <funboost/funboost.hpp>

#include "rabbitmq/amqp_raw.hpp"
#include "rabbitmq/rabbitmq_fixtures.hpp"
#include "support/child_process.hpp"

#include "../src/brokers/rabbitmq/rabbitmq_crash_counts.hpp"

using namespace std::chrono_literals;
using rabbitmq_test::rabbit_queue;
using rabbitmq_test::raw_amqp;
using rabbitmq_test::shared_server;
using rabbitmq_test::wait_until;

namespace {

/// A consuming connection of `o`'s broker that fetches until it holds `n` messages.
struct consumer {
  explicit consumer(const funboost::booster_options& o)
    : queue(o.queue_name), conn(funboost::make_broker(o)->connect()) {}

  /// Fetches until `n` messages are held; returns their crash counts by body.
  std::map<std::string, uint32_t> fetch(std::size_t n) {
    wait_until([&] {
      conn->fetch(queue, n - got.size(), 200ms, got);
      return got.size() >= n;
    });
    REQUIRE(got.size() == n);
    std::map<std::string, uint32_t> counts;
    for (const auto& m : got)
      counts[m.body] = m.crash_deliveries;
    return counts;
  }

  const funboost::fetched_message& message(const std::string& body) {
    auto i = std::find_if(got.begin(), got.end(), [&](const auto& m) { return m.body == body; });
    REQUIRE(i != got.end());
    return *i;
  }

  /// Closes the connection with everything still held: what the broker sees of a dead
  /// consumer (its connection gone, nothing settled).
  void die() { conn.reset(); }

  std::string queue;
  std::unique_ptr<funboost::broker_connection> conn;
  std::vector<funboost::fetched_message> got;
};

funboost::booster_options counting_queue(const std::string& name) {
  auto o = rabbit_queue(name, shared_server());
  o.max_crash_deliveries = 3;
  o.broker.transport_options["prefetch_count"] = 10LL;
  return o;
}

} // namespace

TEST_CASE("rabbitmq: a message a dead consumer held comes back with its crash count raised, "
          "up to max_crash_deliveries - 1 while nothing marked it; one given back is not "
          "counted") {
  auto o = counting_queue("rabbit_crash_counts");
  raw_amqp raw{shared_server().port()};
  raw.purge(o.queue_name);
  const std::string held = R"({"i":1,"extra":{"task_id":"held-1"}})";
  const std::string returned = R"({"i":2,"extra":{"task_id":"returned-2"}})";
  raw.publish(o.queue_name, held);
  raw.publish(o.queue_name, returned);

  {
    consumer c{o};
    auto counts = c.fetch(2);
    CHECK(counts[held] == 0); // fresh messages, no header
    CHECK(counts[returned] == 0);
    c.conn->requeue(o.queue_name, std::span{&c.message(returned), 1}); // a graceful give-back
    c.die();
  }
  {
    consumer c{o};
    auto counts = c.fetch(2);
    CHECK(counts[held] == 1);     // its consumer died holding it
    CHECK(counts[returned] == 0); // given back, no death: RabbitMQ's redelivered flag is not
                                  // taken for one
    c.die();
  }
  {
    consumer c{o};
    auto counts = c.fetch(2);
    CHECK(counts[held] == 2);
    CHECK(counts[returned] == 1); // its first death
    c.die();
  }
  // The count stops at max - 1 (2): none of these deaths blames the message.
  consumer last{o};
  auto counts = last.fetch(2);
  CHECK(counts[held] == 2);
  CHECK(counts[returned] == 2);
  last.die();
  last = consumer{o};
  counts = last.fetch(2);
  CHECK(counts[held] == 2);
  CHECK(counts[returned] == 2);
  std::vector<uint64_t> tags{last.message(held).delivery_tag, last.message(returned).delivery_tag};
  last.conn->ack(o.queue_name, tags);
  CHECK(raw.count(o.queue_name) == 0);
}

TEST_CASE("rabbitmq: a death while a suspect ran alone (marked) raises its count to "
          "max_crash_deliveries; settling it removes its mark queue") {
  auto o = counting_queue("rabbit_crash_marked");
  raw_amqp raw{shared_server().port()};
  raw.purge(o.queue_name);
  const std::string suspect = R"({"i":-1,"extra":{"task_id":"suspect"}})";
  const std::string mark = funboost::brokers::rabbitmq::mark_queue_name(o.queue_name, suspect);
  raw.remove(mark);
  raw.publish(o.queue_name, suspect);
  for (uint32_t expected : {0u, 1u}) { // two deaths with nothing marked
    consumer c{o};
    CHECK(c.fetch(1)[suspect] == expected);
    c.die();
  }
  {
    consumer c{o};
    REQUIRE(c.fetch(1)[suspect] == 2); // at max - 1: the dispatcher runs it alone, marked
    c.conn->mark_running(o.queue_name, c.message(suspect).delivery_tag);
    CHECK(raw.exists(mark));
    c.die(); // the death while it ran alone
  }
  {
    consumer c{o};
    CHECK(c.fetch(1)[suspect] == 3); // blamed: the dispatcher dead-letters it now
    CHECK_FALSE(raw.exists(mark));   // read and removed by the consumer that counted it
    c.die();                          // held only: no further blame beyond the mark's
  }
  {
    consumer c{o};
    CHECK(c.fetch(1)[suspect] == 3);
    // Marked, then finished: the mark goes with the ack.
    c.conn->mark_running(o.queue_name, c.message(suspect).delivery_tag);
    CHECK(raw.exists(mark));
    c.conn->ack(o.queue_name, std::vector<uint64_t>{c.message(suspect).delivery_tag});
    CHECK_FALSE(raw.exists(mark));
  }
  CHECK(raw.count(o.queue_name) == 0);
}

TEST_CASE("rabbitmq: what RabbitMQ pushed to a consumer and nobody fetched goes back uncounted "
          "when the consumer stops") {
  auto o = counting_queue("rabbit_crash_unfetched");
  raw_amqp raw{shared_server().port()};
  raw.purge(o.queue_name);
  for (int i = 0; i < 5; ++i)
    raw.publish(o.queue_name, R"({"i":)" + std::to_string(i) + "}");
  {
    consumer c{o};
    c.fetch(1); // RabbitMQ pushes up to prefetch_count (10): the other 4 wait in the connection
    c.conn->requeue(o.queue_name, std::span{c.got.data(), 1});
  } // a clean close
  consumer c{o};
  auto counts = c.fetch(5);
  for (const auto& [body, n] : counts) {
    CAPTURE(body);
    CHECK(n == 0);
  }
  std::vector<uint64_t> tags;
  for (const auto& m : c.got)
    tags.push_back(m.delivery_tag);
  c.conn->ack(o.queue_name, tags);
}

TEST_CASE("rabbitmq: with max_crash_deliveries 0 nothing is counted") {
  auto o = counting_queue("rabbit_crash_off");
  o.max_crash_deliveries = 0;
  raw_amqp raw{shared_server().port()};
  raw.purge(o.queue_name);
  raw.publish(o.queue_name, R"({"i":1})");
  for (int death = 0; death < 3; ++death) {
    consumer c{o};
    CHECK(c.fetch(1)[R"({"i":1})"] == 0);
    c.die();
  }
  raw.purge(o.queue_name);
}

namespace {

pid_t start_consumer(int port, const std::string& queue, const std::string& done_dir,
                     const std::string& stderr_path) {
  const char* program = std::getenv("FUNBOOST_RABBITMQ_POISON_CONSUMER");
  REQUIRE_MESSAGE(program, "FUNBOOST_RABBITMQ_POISON_CONSUMER is not set; run through meson test");
  std::string p = std::to_string(port);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int fd = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, STDERR_FILENO);
    ::execl(program, program, p.c_str(), queue.c_str(), done_dir.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

std::size_t files_in(const std::string& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir))
    ++n;
  return n;
}

} // namespace

TEST_CASE("rabbitmq: a poison task that aborts its process goes to the dead-letter queue after "
          "max_crash_deliveries deaths, and the healthy tasks fetched with it all complete") {
  auto& server = shared_server();
  const std::string queue = "rabbit_poisoned";
  const std::string done_dir = std::filesystem::absolute("rabbit_poison_done").string();
  std::filesystem::remove_all(done_dir);
  std::filesystem::create_directories(done_dir);
  raw_amqp raw{server.port()};
  raw.purge(queue);
  raw.purge(queue + "_dlx");
  constexpr int healthy = 100;

  // The poison first, so it is fetched with healthy ones; raw, so the test knows its bytes.
  const std::string poison_body = R"({"i":-1,"extra":{"task_id":"poison-1",)"
                                  R"("publish_time":1764000000.5,)"
                                  R"("publish_time_format":"2026-11-24 12:00:00"}})";
  raw.publish(queue, poison_body);
  funboost::runtime rt;
  auto producer_options = rabbit_queue(queue, server);
  producer_options.arg_names = {"i"};
  producer_options.is_using_rpc_mode = false;
  auto producer = rt.boost([](int) {}, producer_options);
  for (int i = 0; i < healthy; ++i)
    REQUIRE(producer.push(i).published());

  // An operator's supervisor (systemd, Kubernetes) restarts a consumer that died.
  const std::string log_path = "rabbit_poison_consumers.stderr";
  std::remove(log_path.c_str());
  funboost::test::restarted_child consumer_process{
    [&] { return start_consumer(server.port(), queue, done_dir, log_path); }, 12};
  bool finished = wait_until(
    [&] {
      consumer_process.poll();
      return files_in(done_dir) == healthy && raw.count(queue + "_dlx") == 1;
    },
    120s);
  // At-least-once: a copy of a healthy task given back after a death may still be waiting or
  // running; the live consumer finishes it before anything is checked.
  CHECK(wait_until([&] { return raw.count(queue) == 0; }, 60s));
  CHECK(consumer_process.exits() == 0); // every death was the poison's abort

  CHECK(finished);
  CHECK(files_in(done_dir) == healthy);
  // Blamed once per death it caused, never the healthy tasks: exactly max_crash_deliveries.
  CHECK(consumer_process.deaths() == 3);
  auto dead = raw.get(queue + "_dlx");
  REQUIRE(dead.found);
  CAPTURE(dead.body);
  CHECK(dead.body.find("\"i\":-1") != std::string::npos);
  CHECK(dead.body.find("\"dead_letter_reason\":\"a consumer process died while running it 3 "
                       "times")
        != std::string::npos);
  // Each dying process named the task it died of.
  CHECK(funboost::test::occurrences_in_file(
          log_path, "dies of SIGABRT while running task poison-1 of queue '" + queue + "'")
        == 3);
  // The mark of its last run alone was read by the consumer that counted the death.
  CHECK_FALSE(raw.exists(funboost::brokers::rabbitmq::mark_queue_name(queue, poison_body)));
}
