// The node's protocol, message by message, as CAF code (or the HTTP gateway, gRPC, CLI later)
// uses it: list queues, push by name, results by task id, stats, consume and stop, and the
// errors each answers with. Plus the supervision and publishing guarantees behind it.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <set>

#include <filesystem>
#include <thread>

#include <caf/scoped_actor.hpp>

#include <funboost/funboost.hpp>

#include "actors/actors.hpp"
#include "core/result_registry.hpp"
#include "support/faulty_broker.hpp"
#include "support/fixtures.hpp"

using namespace std::chrono_literals;
using test_support::memory_queue;
using test_support::wait_until;

namespace {

int add(int x, int y) {
  return x + y;
}

/// Asks the node and returns the reply or the error.
template <class Reply, class... Ts>
std::pair<std::optional<Reply>, caf::error> ask(funboost::runtime& rt, Ts&&... xs) {
  caf::scoped_actor self{rt.system()};
  std::pair<std::optional<Reply>, caf::error> out;
  self->request(rt.node(), 10s, std::forward<Ts>(xs)...)
    .receive([&](Reply& r) { out.first = std::move(r); },
             [&](caf::error& e) { out.second = std::move(e); });
  return out;
}

std::string text_of(funboost::runtime& rt, const caf::error& e) {
  return rt.system().render(e);
}

} // namespace

TEST_CASE("the node lists every queue with its function's arg names and options") {
  funboost::runtime rt;
  auto o = memory_queue("node_list_add");
  o.arg_names = {"x", "y"};
  o.function_name = "add";
  o.concurrent_num = 7;
  auto b = rt.boost(add, o);
  auto opt = memory_queue("node_list_optional");
  auto c = rt.boost([](int a, std::optional<int> b2) { return a + b2.value_or(0); }, opt);
  b.consume(); // returns at once; the supervisor starts right after
  std::optional<std::vector<funboost::queue_info>> queues;
  REQUIRE(wait_until([&] {
    queues = ask<std::vector<funboost::queue_info>>(rt, funboost::queues_atom_v).first;
    return queues && queues->size() == 2
           && (queues->at(0).consuming || queues->at(1).consuming);
  }));
  std::map<std::string, funboost::queue_info> by_name;
  for (auto& q : *queues)
    by_name[q.queue_name] = q;
  REQUIRE(by_name.count("node_list_add"));
  auto& a = by_name["node_list_add"];
  CHECK(a.arg_names == std::vector<std::string>{"x", "y"});
  CHECK(a.function_name == "add");
  CHECK(a.concurrent_num == 7);
  CHECK(a.broker_kind == "memory");
  CHECK(a.consuming);
  CHECK_FALSE(a.publish_only);
  REQUIRE(by_name.count("node_list_optional"));
  CHECK(by_name["node_list_optional"].optional_arg_names == std::vector<std::string>{"arg1"});
  CHECK_FALSE(by_name["node_list_optional"].consuming);
}

TEST_CASE("push by queue name runs the task and its result is fetched by task id") {
  funboost::runtime rt;
  auto o = memory_queue("node_push");
  o.arg_names = {"x", "y"};
  o.is_using_rpc_mode = true;
  auto b = rt.boost(add, o);
  b.consume();
  auto [receipt, err] = ask<funboost::push_receipt>(rt, funboost::push_atom_v,
                                                    std::string{"node_push"},
                                                    std::string{R"({"x":20,"y":22})"},
                                                    funboost::task_options{});
  REQUIRE_MESSAGE(receipt, text_of(rt, err));
  CHECK(receipt->status == funboost::ec::none);
  CHECK(receipt->task_id.size() == 36);
  auto [result, rerr] = ask<funboost::task_result>(rt, funboost::result_atom_v, receipt->task_id,
                                                   caf::timespan{10s});
  REQUIRE_MESSAGE(result, text_of(rt, rerr));
  CHECK(result->success);
  CHECK(result->result_json == "42");
  CHECK(result->task_id == receipt->task_id);
  // The same result by the blocking call, and a second time (waiters don't consume it).
  CHECK(rt.result(receipt->task_id, 5s).result_json == "42");
}

TEST_CASE("a failed task's result says so, with the exception") {
  funboost::runtime rt;
  auto o = memory_queue("node_failed_result");
  o.is_using_rpc_mode = true;
  o.max_retries = 0;
  auto b = rt.boost([](int) -> int { throw std::runtime_error("no good"); }, o);
  b.consume();
  auto [receipt, err] = ask<funboost::push_receipt>(
    rt, funboost::push_atom_v, std::string{"node_failed_result"}, std::string{R"({"arg0":1})"},
    funboost::task_options{});
  REQUIRE(receipt);
  auto [result, rerr] = ask<funboost::task_result>(rt, funboost::result_atom_v, receipt->task_id,
                                                   caf::timespan{10s});
  REQUIRE(result);
  CHECK_FALSE(result->success);
  CHECK(result->exception_message == "no good");
}

TEST_CASE("push to an unknown queue answers unknown_queue naming it and the known ones") {
  funboost::runtime rt;
  auto b = rt.boost(add, memory_queue("node_known"));
  auto [receipt, err] = ask<funboost::push_receipt>(rt, funboost::push_atom_v,
                                                    std::string{"node_nope"},
                                                    std::string{R"({"x":1})"},
                                                    funboost::task_options{});
  CHECK_FALSE(receipt);
  CHECK(err == funboost::ec::unknown_queue);
  CHECK(text_of(rt, err).find("node_nope") != std::string::npos);
  CHECK(text_of(rt, err).find("node_known") != std::string::npos);
  auto [stats, serr] = ask<funboost::queue_stats>(rt, funboost::stats_atom_v,
                                                  std::string{"node_nope"});
  CHECK(serr == funboost::ec::unknown_queue);
  auto [consumed, cerr] = ask<bool>(rt, funboost::consume_atom_v, std::string{"node_nope"});
  CHECK(cerr == funboost::ec::unknown_queue);
  auto [stopped, terr] = ask<bool>(rt, funboost::stop_atom_v, std::string{"node_nope"});
  CHECK(terr == funboost::ec::unknown_queue);
}

TEST_CASE("bad kwargs are refused with bad_message naming the queue and the argument") {
  funboost::runtime rt;
  auto o = memory_queue("node_bad_kwargs");
  o.arg_names = {"x", "y"};
  auto b = rt.boost(add, o);
  auto push = [&](std::string kwargs) {
    return ask<funboost::push_receipt>(rt, funboost::push_atom_v, std::string{"node_bad_kwargs"},
                                       std::move(kwargs), funboost::task_options{});
  };
  auto [r1, missing] = push(R"({"x":1})");
  CHECK_FALSE(r1);
  CHECK(missing == funboost::ec::bad_message);
  CHECK(text_of(rt, missing).find("missing argument 'y'") != std::string::npos);
  CHECK(text_of(rt, missing).find("node_bad_kwargs") != std::string::npos);
  auto [r2, unknown] = push(R"({"x":1,"y":2,"z":3})");
  CHECK(unknown == funboost::ec::bad_message);
  CHECK(text_of(rt, unknown).find("unknown argument 'z'") != std::string::npos);
  auto [r3, not_object] = push("[1,2]");
  CHECK(not_object == funboost::ec::bad_message);
  CHECK(b.message_count() == 0); // nothing bad was published
}

TEST_CASE("a push to the queue's supervisor is checked and written as one to the node") {
  funboost::runtime rt;
  auto o = memory_queue("node_supervisor_push");
  o.arg_names = {"x", "y"};
  o.is_using_rpc_mode = true;
  auto b = rt.boost(add, o);
  caf::scoped_actor self{rt.system()};
  auto push = [&](std::string kwargs) {
    std::pair<std::optional<funboost::push_receipt>, caf::error> out;
    self->request(b.supervisor(), 10s, funboost::push_atom_v, std::move(kwargs))
      .receive([&](funboost::push_receipt& r) { out.first = std::move(r); },
               [&](caf::error& e) { out.second = std::move(e); });
    return out;
  };
  auto [refused, unknown] = push(R"({"x":1,"y":2,"z":3})");
  CHECK_FALSE(refused);
  CHECK(unknown == funboost::ec::bad_message);
  CHECK(text_of(rt, unknown).find("queue 'node_supervisor_push': unknown argument 'z'")
        != std::string::npos);
  CHECK(b.message_count() == 0);
  auto [receipt, err] = push(R"({"x":1,"y":2})");
  REQUIRE(receipt);
  // The booster is in RPC mode: the message says so, for a consumer of any language.
  auto conn = funboost::make_broker(o)->connect();
  std::vector<funboost::fetched_message> out;
  REQUIRE(conn->fetch("node_supervisor_push", 1, 100ms, out) == 1);
  CHECK(out[0].body.rfind(R"({"x":1,"y":2,"extra":{"is_using_rpc_mode":true,"task_id":")", 0)
        == 0);
}

TEST_CASE("waiting for a result that never comes answers timeout") {
  funboost::runtime rt;
  auto [result, err] = ask<funboost::task_result>(rt, funboost::result_atom_v,
                                                  std::string{"no-such-task"},
                                                  caf::timespan{50ms});
  CHECK_FALSE(result);
  CHECK(err == funboost::ec::timeout);
  CHECK_THROWS_AS(rt.result("no-such-task", 50ms), funboost::timeout_error);
}

TEST_CASE("stats, stop and consume by queue name") {
  funboost::runtime rt;
  auto o = memory_queue("node_control");
  std::atomic<int> runs{0};
  auto b = rt.boost([&](int) { ++runs; }, o);
  auto [started, err] = ask<bool>(rt, funboost::consume_atom_v, std::string{"node_control"});
  REQUIRE(started);
  for (int i = 0; i < 5; ++i)
    b.push(i);
  REQUIRE(wait_until([&] { return runs == 5; }));
  REQUIRE(wait_until([&] {
    auto s = ask<funboost::queue_stats>(rt, funboost::stats_atom_v, std::string{"node_control"});
    return s.first && s.first->done == 5;
  }));
  auto [stats, serr] = ask<funboost::queue_stats>(rt, funboost::stats_atom_v,
                                                  std::string{"node_control"});
  REQUIRE(stats);
  CHECK(stats->queue_name == "node_control");
  CHECK(stats->consuming);
  CHECK(stats->failed == 0);
  auto [stopped, terr] = ask<bool>(rt, funboost::stop_atom_v, std::string{"node_control"});
  CHECK(stopped == true);
  b.push(99); // stays in the queue: nothing consumes
  auto [queues, qerr] = ask<std::vector<funboost::queue_info>>(rt, funboost::queues_atom_v);
  REQUIRE(queues);
  CHECK_FALSE(queues->at(0).consuming);
  CHECK(b.message_count() == 1);
  ask<bool>(rt, funboost::consume_atom_v, std::string{"node_control"});
  CHECK(wait_until([&] { return runs == 6; }));
}

TEST_CASE("a publish-only booster pushes by name, checked against the consumer's signature") {
  funboost::runtime rt;
  auto o = memory_queue("node_publisher");
  o.arg_names = {"x", "y"};
  o.is_using_rpc_mode = true;
  auto consumer = rt.boost(add, o);
  consumer.consume();
  auto p = rt.publisher(memory_queue("node_publisher"));
  CHECK(p.info().arg_names == std::vector<std::string>{"x", "y"});
  CHECK(p.info().publish_only);
  auto r = p.publish(R"({"x":2,"y":3})", {.is_using_rpc_mode = true});
  CHECK(r.get(10s).text == "5");
  CHECK_THROWS_WITH_AS(p.publish(R"({"x":2})"), doctest::Contains("missing argument 'y'"),
                       std::invalid_argument);
  CHECK_THROWS_AS(p.publish(R"({"x":2,"y":3,"w":1})"), std::invalid_argument);
  // The node keeps the consumer's entry for the queue, not the publisher's.
  auto [queues, err] = ask<std::vector<funboost::queue_info>>(rt, funboost::queues_atom_v);
  REQUIRE(queues);
  REQUIRE(queues->size() == 1);
  CHECK_FALSE(queues->at(0).publish_only);
}

TEST_CASE("a publish-only booster made before any consumer learns the signature when it publishes") {
  funboost::runtime rt;
  auto p = rt.publisher(memory_queue("node_late_consumer"));
  CHECK(p.info().arg_names.empty()); // nobody has said yet
  auto o = memory_queue("node_late_consumer");
  o.arg_names = {"x", "y"};
  auto consumer = rt.boost(add, o);
  CHECK_THROWS_WITH_AS(p.publish(R"({"x":2})"), doctest::Contains("missing argument 'y'"),
                       std::invalid_argument);
  CHECK(p.info().arg_names == std::vector<std::string>{"x", "y"});
}

TEST_CASE("a publish-only queue cannot be consumed, and says why") {
  funboost::runtime rt;
  auto p = rt.publisher(memory_queue("node_only_publisher"));
  auto [ok, err] = ask<bool>(rt, funboost::consume_atom_v, std::string{"node_only_publisher"});
  CHECK(err == funboost::ec::publish_only);
  CHECK(text_of(rt, err).find("rt.publisher") != std::string::npos);
}

TEST_CASE("a killed dispatcher restarts the queue's actors and no task is lost") {
  funboost::runtime rt;
  auto o = memory_queue("node_dispatcher_killed");
  o.concurrent_num = 4;
  o.restart_backoff = 50ms;
  std::mutex mutex;
  std::set<int> seen;
  auto b = rt.boost(
    [&](int i) {
      std::this_thread::sleep_for(2ms);
      std::lock_guard guard{mutex};
      seen.insert(i);
    },
    o);
  for (int i = 0; i < 300; ++i)
    b.push(i);
  b.consume();
  REQUIRE(wait_until([&] {
    std::lock_guard guard{mutex};
    return seen.size() >= 20;
  }));
  caf::scoped_actor self{rt.system()};
  auto internal = caf::actor_cast<funboost::actors::supervisor_actor>(b.supervisor());
  funboost::actors::dispatcher_actor first;
  self->request(internal, 5s, funboost::actors::dispatch_atom::value)
    .receive([&](funboost::actors::dispatcher_actor d) { first = d; }, [](caf::error&) {});
  REQUIRE(first);
  self->send_exit(first, caf::exit_reason::kill);
  REQUIRE(wait_until([&] {
    std::lock_guard guard{mutex};
    return seen.size() == 300;
  }));
  funboost::actors::dispatcher_actor second;
  self->request(internal, 5s, funboost::actors::dispatch_atom::value)
    .receive([&](funboost::actors::dispatcher_actor d) { second = d; }, [](caf::error&) {});
  CHECK(second);
  CHECK(second != first);
  CHECK(b.message_count() == 0);
}

TEST_CASE("publish retries for one queue do not hold up another queue on one scheduler thread") {
  test_support::faults::instance().reset();
  caf::actor_system_config cfg;
  funboost::add_message_types(cfg);
  cfg.set("scheduler.max-threads", 1);
  caf::actor_system system{cfg};
  auto outbox = std::filesystem::temp_directory_path() / "funboost_node_test_retries";
  std::filesystem::remove_all(outbox); // an earlier run's outbox would be replayed first
  {
    funboost::runtime rt{system};
    auto down = test_support::faulty_queue(memory_queue("node_down_queue"));
    down.publish_retry_interval = 60s; // the refused push stays in its retries for minutes
    down.publish_retries = 3;
    down.broker.outbox_dir = outbox.string();
    auto refused = rt.boost(add, down);
    test_support::faults::instance().publish_down = true;
    caf::anon_send(rt.node(), funboost::push_atom_v, std::string{"node_down_queue"},
                   std::string{R"({"arg0":1,"arg1":2})"}, funboost::task_options{});
    // The refused push is in its retry window once the broker has refused it once.
    REQUIRE(wait_until([] { return test_support::faults::instance().publish_failures >= 1; }));
    // Another queue, on the same single scheduler thread, runs all its tasks meanwhile.
    std::atomic<int> runs{0};
    auto healthy = rt.boost([&](int) { ++runs; }, memory_queue("node_healthy_queue"));
    healthy.consume();
    for (int i = 0; i < 50; ++i)
      healthy.push(i);
    REQUIRE(wait_until([&] { return runs == 50; }));
    // Still in the first retry wait (one try = an attempt and one reconnect): its next try is a
    // timer message to the publisher, not a blocked scheduler thread.
    CHECK(test_support::faults::instance().publish_failures <= 2);
  } // the publisher keeps the waiting push in the outbox as the runtime ends
  CHECK(wait_until([&] { return std::filesystem::exists(outbox / "node_down_queue.outbox"); }));
  test_support::faults::instance().publish_down = false;
  std::filesystem::remove_all(outbox);
}

TEST_CASE("a push the broker refuses through every retry answers kept_in_outbox, and is "
          "delivered once the broker is back") {
  test_support::faults::instance().reset();
  auto outbox = std::filesystem::temp_directory_path() / "funboost_node_test_outbox";
  std::filesystem::remove_all(outbox);
  funboost::runtime rt;
  auto down = test_support::faulty_queue(memory_queue("node_outbox_queue"));
  down.publish_retries = 0;
  down.publish_retry_interval = 100ms; // also the outbox replay period
  down.broker.outbox_dir = outbox.string();
  std::atomic<int> runs{0};
  auto b = rt.boost([&](int, int) { ++runs; }, down);
  test_support::faults::instance().publish_down = true;
  auto [receipt, err] = ask<funboost::push_receipt>(
    rt, funboost::push_atom_v, std::string{"node_outbox_queue"},
    std::string{R"({"arg0":1,"arg1":2})"}, funboost::task_options{});
  REQUIRE(receipt); // not an error: nothing is lost
  CHECK(receipt->status == funboost::ec::kept_in_outbox);
  CHECK(receipt->detail.find("node_outbox_queue.outbox") != std::string::npos);
  test_support::faults::instance().publish_down = false;
  b.consume();
  CHECK(wait_until([&] { return runs == 1; }));
  std::filesystem::remove_all(outbox);
}

TEST_CASE("RPC pushes whose results nobody holds any more do not stay in memory, and a result "
          "is still found by task id after its async_result is gone") {
  funboost::runtime rt;
  auto o = memory_queue("node_rpc_bounded");
  o.arg_names = {"x", "y"};
  o.is_using_rpc_mode = true;
  auto b = rt.boost(add, o);
  // 100,000 RPC pushes with no consumer, their async_results dropped at once: a producer loop
  // that never calls get(). Each one used to stay registered until its task finished.
  for (int i = 0; i < 100000; ++i)
    b.push(i, i);
  CHECK(funboost::detail::waiting_result_entries() <= 16 * 1024);

  b.clear(); // the backlog is not what this test runs

  auto kept = b.push(20, 22);
  std::string dropped_id;
  {
    auto dropped = b.push(1, 2);
    dropped_id = dropped.task_id();
  }
  b.consume();
  CHECK(kept.get(10s) == 42);
  CHECK(rt.result(dropped_id, 10s).result_json == "3");
}
