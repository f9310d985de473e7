// The Redis result store against a REAL redis-server: records written by one store (another
// process, as far as Redis can tell) or by Python funboost finish the slots another store
// watches; the record stays for other readers; 10,000 waiters cost no thread or connection
// each; outages and shutdown lose nothing that can be kept.
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <funboost/async_result.hpp>
#include <funboost/codec.hpp>

#include "core/status_record.hpp"
#include "redis_client.hpp"
#include "redis_server.hpp"
#include "results/redis_result_store.hpp"

namespace {

using namespace std::chrono_literals;
using funboost::detail::make_redis_result_store;
using funboost::detail::result_slot;
using funboost::test::redis_client;
using funboost::test::redis_server;
using funboost::test::wait_until;

constexpr int results_db = 8; // funboost's REDIS_DB_FILTER_AND_RPC_RESULT

funboost::brokers::redis::redis_address results_address(const redis_server& server,
                                                        std::string key_prefix = "") {
  funboost::brokers::redis::redis_address a;
  a.port = server.port();
  a.db = results_db;
  a.key_prefix = std::move(key_prefix);
  return a;
}

std::shared_ptr<spdlog::logger> quiet_log() {
  static auto log = [] {
    auto l = spdlog::default_logger()->clone("results-test");
    l->set_level(spdlog::level::err);
    return l;
  }();
  return log;
}

/// A sweep period no test outlives: what finds a record then is the check of a newly watched
/// id, a notification, or the check after a reconnect, not the periodic sweep.
constexpr std::chrono::milliseconds no_sweep = 1h;

std::shared_ptr<funboost::detail::result_store>
make_store(caf::actor_system& sys, const redis_server& server, std::string key_prefix = "",
           std::chrono::milliseconds sweep_period = 100ms) {
  funboost::detail::redis_result_timing timing;
  timing.sweep_period = sweep_period;
  return make_redis_result_store(sys, results_address(server, std::move(key_prefix)), 1800s,
                                 quiet_log(), timing);
}

std::shared_ptr<result_slot> slot_for(const std::string& task_id) {
  auto s = std::make_shared<result_slot>();
  s->queue_name = "q_results";
  s->task_id = task_id;
  s->rpc = true;
  return s;
}

/// What a funboost-cpp consumer writes for `task_id` returning `result_json`.
std::string record_for(const std::string& task_id, const std::string& result_json) {
  std::string message = R"({"x":1,"extra":{"task_id":")" + task_id
                        + R"(","publish_time":1718000000.1234,)"
                          R"("publish_time_format":"2024-06-10 14:13:20"}})";
  funboost::detail::status_record_input in;
  in.queue_name = "q_results";
  in.function_name = "f";
  in.task_id = task_id;
  in.message_json = message;
  in.success = true;
  in.result_json = result_json;
  in.time_start = 1718000000.2;
  in.time_end = 1718000000.3;
  return funboost::detail::make_status_record(in);
}

/// A failure record shaped exactly as Python funboost 54.8 writes it (orjson, compact).
std::string python_failure_record(const std::string& task_id) {
  return R"({"host_process":"worker-1 - 4242","queue_name":"q_results","function":"div",)"
         R"("msg_dict":{"a":1,"b":0,"extra":{"task_id":")"
         + task_id
         + R"(","publish_time":1742600000.1234,"publish_time_format":"2025-03-22 07:33:20"}},)"
           R"("task_id":")"
         + task_id
         + R"(","publish_time":1742600000.1234,"publish_time_format":"2025-03-22 07:33:20",)"
           R"("process_id":4242,"thread_id":140234567890432,"params":{"a":1,"b":0},)"
           R"("result":"FUNC_RUN_ERROR","run_times":1,)"
           R"("exception":"ZeroDivisionError    division by zero",)"
           R"("exception_type":"ZeroDivisionError","exception_msg":"division by zero",)"
           R"("rpc_chain_error_msg_dict":null,"time_start":1742600000.2345678,)"
           R"("time_cost":0.0031,"time_end":1742600000.2376678,"success":false,)"
           R"("run_status":"finish","rpc_result_expire_seconds":1800,"user_context":{},)"
           R"("params_str":"{\"a\":1,\"b\":0}","total_thread":7,"host_name":"worker-1",)"
           R"("script_name":"consume.py","script_name_long":"/srv/app/consume.py",)"
           R"("insert_time_str":"2025-03-22 07:33:20","insert_minutes":"2025-03-22 07:33",)"
           R"("_id":")"
         + task_id + R"("})";
}

bool finishes(const std::shared_ptr<result_slot>& slot, std::chrono::milliseconds limit = 10s) {
  return wait_until([&] { return slot->is_finished(); }, limit);
}

std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator{"/proc/self/task"})
    ++n;
  return n;
}

long long connected_clients(redis_client& client) {
  auto info = client.string({"INFO", "clients"});
  auto at = info.find("connected_clients:");
  REQUIRE(at != std::string::npos);
  return std::stoll(info.substr(at + std::string{"connected_clients:"}.size()));
}

} // namespace

/// A real redis-server, a client on the results db, and an actor system for the stores (which
/// the tests declare after it, so they end first).
struct results_fixture {
  redis_server server;
  redis_client client{server.port(), results_db};
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
};

TEST_CASE_FIXTURE(results_fixture, "a record written by one store finishes the slot another store watches; it is "
          "pushed once and expires in rpc_result_expire_seconds") {
  auto writer = make_store(sys, server);
  auto waiter = make_store(sys, server, "", no_sweep); // found by the notification

  auto slot = slot_for("task-a-to-b");
  waiter->watch(slot);
  // The waiter has subscribed and made its first check before the record exists.
  REQUIRE(wait_until([&] { return connected_clients(client) >= 3; }, 10s));
  std::this_thread::sleep_for(50ms);
  auto record = record_for("task-a-to-b", R"({"sum":42})");
  writer->write("task-a-to-b", record);

  REQUIRE(finishes(slot));
  CHECK(slot->success);
  CHECK(funboost::from_json<std::map<std::string, int>>(slot->result_json).at("sum") == 42);
  CHECK(slot->record_json == record);
  CHECK(client.integer({"LLEN", "task-a-to-b"}) == 1);
  auto ttl = client.integer({"TTL", "task-a-to-b"});
  CHECK(ttl > 1790);
  CHECK(ttl <= 1800);
  CHECK(client.strings({"LRANGE", "task-a-to-b", "0", "-1"}) == std::vector{record});
}

TEST_CASE("the writer announces each record after storing it, on the channel without the key "
          "prefix; a store with the same prefix finds it") {
  redis_server server;
  redis_client client{server.port(), results_db};
  // A raw subscriber, as another funboost-cpp process's waiter would be.
  timeval tv{10, 0};
  std::unique_ptr<redisContext, void (*)(redisContext*)> sub{
    redisConnectWithTimeout("127.0.0.1", server.port(), tv), redisFree};
  REQUIRE((sub && !sub->err));
  redisSetTimeout(sub.get(), tv);
  freeReplyObject(redisCommand(sub.get(), "SUBSCRIBE %s", "funboost_cpp_result_ready"));

  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto writer = make_store(sys, server, "app1:");
  auto waiter = make_store(sys, server, "app1:", no_sweep);
  writer->write("task-announced", record_for("task-announced", "7"));

  void* raw = nullptr;
  REQUIRE(redisGetReply(sub.get(), &raw) == REDIS_OK);
  funboost::test::reply note{static_cast<redisReply*>(raw)};
  REQUIRE(note->type == REDIS_REPLY_ARRAY);
  REQUIRE(note->elements == 3);
  CHECK(std::string{note->element[0]->str} == "message");
  // One notification per written batch: its task ids, one per line.
  CHECK(std::string{note->element[2]->str, note->element[2]->len} == "task-announced\n");
  // By the time anyone hears of it, the record is there, under the prefixed key only.
  CHECK(client.integer({"LLEN", "app1:task-announced"}) == 1);
  CHECK(client.integer({"EXISTS", "task-announced"}) == 0);

  auto slot = slot_for("task-announced");
  waiter->watch(slot);
  REQUIRE(finishes(slot));
  CHECK(funboost::from_json<int>(slot->result_json) == 7);
}

TEST_CASE_FIXTURE(results_fixture, "a Python funboost record (plain LPUSH, no announcement) is found by the sweep and "
          "stays in Redis for other readers") {
  auto waiter = make_store(sys, server);

  auto slot = slot_for("task-from-python");
  waiter->watch(slot);
  // Let the waiter's first check pass empty-handed: only the sweep can find what comes now.
  std::this_thread::sleep_for(50ms);
  auto record = python_failure_record("task-from-python");
  client.run({"LPUSH", "task-from-python", record});
  client.run({"EXPIRE", "task-from-python", "1800"});

  REQUIRE(finishes(slot));
  CHECK_FALSE(slot->success);
  CHECK(slot->exception_type == "ZeroDivisionError");
  CHECK(slot->exception_message == "division by zero");
  CHECK(slot->record_json == record);
  CHECK(client.strings({"LRANGE", "task-from-python", "0", "-1"}) == std::vector{record});
}

TEST_CASE_FIXTURE(results_fixture, "a watch started after the record exists finishes") {
  auto waiter = make_store(sys, server, "", no_sweep); // found by the first check
  // Records pushed raw come with no notification (as Python funboost's do), and the waiter is
  // connected and idle first, so only the check of a newly watched id can find the second.
  client.run({"LPUSH", "task-warmup", record_for("task-warmup", "0")});
  auto warmup = slot_for("task-warmup");
  waiter->watch(warmup);
  REQUIRE(finishes(warmup));

  client.run({"LPUSH", "task-early", record_for("task-early", R"("done")")});
  auto slot = slot_for("task-early");
  waiter->watch(slot);
  REQUIRE(finishes(slot));
  CHECK(slot->success);
  CHECK(funboost::from_json<std::string>(slot->result_json) == "done");
  CHECK(client.integer({"LLEN", "task-early"}) == 1);
}

TEST_CASE_FIXTURE(results_fixture, "10,000 slots watched by one store all finish, without a thread or a connection "
          "per waiter") {
  auto writer = make_store(sys, server);
  auto waiter = make_store(sys, server);
  auto threads_before = thread_count();

  constexpr int n = 10'000;
  std::vector<std::shared_ptr<result_slot>> slots;
  slots.reserve(n);
  for (int i = 0; i < n; ++i) {
    slots.push_back(slot_for("task-many-" + std::to_string(i)));
    waiter->watch(slots.back());
  }
  // The waiter is watching (its two connections are up) before anything is written.
  REQUIRE(wait_until([&] { return connected_clients(client) >= 3; }, 10s));
  auto threads_watching = thread_count();
  auto clients_watching = connected_clients(client);

  for (int i = 0; i < n; ++i) {
    auto id = "task-many-" + std::to_string(i);
    writer->write(id, record_for(id, std::to_string(i)));
  }
  std::size_t max_threads = threads_watching;
  long long max_clients = clients_watching;
  bool all = wait_until(
    [&] {
      max_threads = std::max(max_threads, thread_count());
      max_clients = std::max(max_clients, connected_clients(client));
      for (const auto& s : slots)
        if (!s->is_finished())
          return false;
      return true;
    },
    60s);
  REQUIRE(all);
  for (int i = 0; i < n; i += 997)
    CHECK(funboost::from_json<int>(slots[i]->result_json) == i);
  // The stores' actors were spawned before threads_before; watching adds none.
  CHECK(threads_watching <= threads_before + 2);
  CHECK(max_threads <= threads_before + 2);
  // This test's client, the waiter's command and subscriber connections, the writer's one.
  CHECK(clients_watching <= 3);
  CHECK(max_clients <= 4);
}

TEST_CASE_FIXTURE(results_fixture, "a record that is not funboost JSON fails the slot with a clear message") {
  auto waiter = make_store(sys, server, "", no_sweep);

  client.run({"LPUSH", "task-garbage", "this is not funboost json"});
  auto slot = slot_for("task-garbage");
  waiter->watch(slot);
  REQUIRE(finishes(slot));
  CHECK_FALSE(slot->success);
  CHECK(slot->exception_type == "funboost::bad_result_record");
  CHECK(slot->exception_message.find("task-garbage") != std::string::npos);
  CHECK(slot->exception_message.find("not JSON") != std::string::npos);
  CHECK(slot->exception_message.find("this is not funboost json") != std::string::npos);
}

TEST_CASE_FIXTURE(results_fixture, "the store keeps only a weak reference to watched slots, and a slot finished "
          "elsewhere first keeps that outcome") {
  auto writer = make_store(sys, server);
  auto waiter = make_store(sys, server);

  auto local = slot_for("task-local");
  waiter->watch(local);
  local->finish(true, "1", "", ""); // this process's own worker was first
  auto gone = slot_for("task-gone");
  std::weak_ptr<result_slot> gone_weak = gone;
  waiter->watch(gone);
  gone.reset();
  CHECK(gone_weak.expired()); // the store holds no strong reference

  writer->write("task-local", record_for("task-local", "2"));
  auto probe = slot_for("task-probe"); // written after, found after: the waiter saw both
  waiter->watch(probe);
  writer->write("task-probe", record_for("task-probe", "3"));
  REQUIRE(finishes(probe));
  CHECK(local->result_json == "1");
}

TEST_CASE("records written and watched during a Redis outage arrive once it is back") {
  redis_server server;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto writer = make_store(sys, server);
  auto waiter = make_store(sys, server, "", no_sweep); // found after reconnecting
  // Both stores have connected once before the outage.
  auto before = slot_for("task-before");
  waiter->watch(before);
  writer->write("task-before", record_for("task-before", "0"));
  REQUIRE(finishes(before));

  server.stop();
  auto slot = slot_for("task-outage");
  waiter->watch(slot);
  writer->write("task-outage", record_for("task-outage", "5"));
  std::this_thread::sleep_for(300ms); // both fail at least once meanwhile
  CHECK_FALSE(slot->is_finished());
  server.start();

  REQUIRE(finishes(slot, 30s));
  CHECK(funboost::from_json<int>(slot->result_json) == 5);
  redis_client client{server.port(), results_db};
  CHECK(client.integer({"LLEN", "task-outage"}) == 1);
}

TEST_CASE("records written just before the store is destroyed are still stored") {
  redis_server server;
  redis_client client{server.port(), results_db};
  {
    caf::actor_system_config cfg;
    caf::actor_system sys{cfg};
    auto writer = make_store(sys, server);
    for (int i = 0; i < 500; ++i)
      writer->write("task-last-" + std::to_string(i), record_for("x", std::to_string(i)));
  } // the store, then the actor system (which waits for the writer to finish)
  for (int i = 0; i < 500; i += 50)
    CHECK(client.integer({"LLEN", "task-last-" + std::to_string(i)}) == 1);
}
