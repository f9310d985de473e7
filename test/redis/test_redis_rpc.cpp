// RPC results across processes on Redis: a consumer in one process writes funboost's status
// record (results db 8), and a producer in another reads it, in both directions; a record
// shaped like Python funboost's is read by rt.result and async_result; 10,000 results are
// awaited at once by one process with no thread or connection per waiter.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <funboost/funboost.hpp>

#include "redis_client.hpp"
#include "redis_server.hpp"
#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using funboost::test::redis_client;
using funboost::test::redis_server;
using funboost::test::wait_until;

namespace {

int add(int x, int y) {
  return x + y;
}

/// The peer program, started with its stdout on a pipe.
struct peer {
  pid_t pid = -1;
  FILE* out = nullptr;

  peer(int port, const std::string& mode, const std::string& queue, int n = 0) {
    const char* program = std::getenv("FUNBOOST_RPC_PEER");
    REQUIRE_MESSAGE(program, "FUNBOOST_RPC_PEER is not set; run through meson test");
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      auto p = std::to_string(port), count = std::to_string(n);
      ::execl(program, program, p.c_str(), mode.c_str(), queue.c_str(), count.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    out = ::fdopen(fds[0], "r");
  }
  ~peer() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (out)
      ::fclose(out);
  }
  std::string line() {
    char buf[256] = {};
    if (!std::fgets(buf, sizeof buf, out))
      return {};
    return std::string{buf};
  }
  int exit_code() {
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  void stop() { ::kill(pid, SIGTERM); }
};

funboost::booster_options rpc_options(const redis_server& server, const std::string& queue) {
  auto o = funboost::test::redis_options(server, funboost::broker_kind::redis, queue);
  o.function_name = "add";
  return o;
}

int thread_count() {
  int n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/task"))
    ++n;
  return n;
}

} // namespace

TEST_CASE("a consumer in another process answers this process's RPC pushes through Redis") {
  redis_server server;
  peer consumer{server.port(), "consume", "rpc_other_consumer"};
  REQUIRE(consumer.line() == "consuming\n");
  funboost::runtime rt;
  auto b = rt.boost(add, rpc_options(server, "rpc_other_consumer")); // never consumes here
  std::vector<funboost::async_result<int>> results;
  for (int i = 0; i < 50; ++i)
    results.push_back(b.push(i, 1));
  for (int i = 0; i < 50; ++i)
    CHECK(results[static_cast<std::size_t>(i)].get(30s) == i + 1);
  // funboost's record, under the task id in db 8, with the expiry its waiters re-apply.
  redis_client results_db{server.port(), 8};
  auto record = results_db.string({"LINDEX", results[0].task_id(), "0"});
  CHECK(record.find(R"("rpc_result_expire_seconds":1800)") != std::string::npos);
  CHECK(record.find(R"("queue_name":"rpc_other_consumer")") != std::string::npos);
  CHECK(record.find(R"("function":"add")") != std::string::npos);
  CHECK(results_db.integer({"LLEN", results[0].task_id()}) == 1); // written once
  CHECK(results_db.integer({"TTL", results[0].task_id()}) > 1700);
  // rt.result by id, as another process (or a later one) would ask.
  auto r = rt.result(results[3].task_id(), 10s);
  CHECK(r.success);
  CHECK(r.result_json == "4");
  consumer.stop();
  CHECK(consumer.exit_code() == 0);
}

TEST_CASE("a producer in another process gets the results of this process's consumer") {
  redis_server server;
  funboost::runtime rt;
  auto b = rt.boost(add, rpc_options(server, "rpc_other_producer"));
  b.consume();
  peer producer{server.port(), "produce", "rpc_other_producer", 200};
  CHECK(producer.line() == "ok 200\n");
  CHECK(producer.exit_code() == 0);
}

TEST_CASE("a task pushed raw, as Python funboost does, is answered and read by task id") {
  redis_server server;
  peer consumer{server.port(), "consume", "rpc_raw_push"};
  REQUIRE(consumer.line() == "consuming\n");
  redis_client queue_db{server.port(), 7};
  queue_db.run({"RPUSH", "rpc_raw_push",
                R"({"x":40,"y":2,"extra":{"task_id":"py-task-1","publish_time":1774348711.2128,)"
                R"("publish_time_format":"2026-03-24 18:38:31","is_using_rpc_mode":true}})"});
  funboost::runtime rt;
  auto p = rt.publisher(rpc_options(server, "rpc_raw_push"));
  (void) p; // knows the results db of this Redis
  auto r = rt.result("py-task-1", 30s);
  CHECK(r.success);
  CHECK(r.result_json == "42");
  CHECK(r.record_json.find(R"("task_id":"py-task-1")") != std::string::npos);
}

TEST_CASE("a record written by Python funboost is read by rt.result and async_result") {
  redis_server server;
  funboost::runtime rt;
  auto o = rpc_options(server, "rpc_python_record");
  auto b = rt.boost(add, o); // not consuming: the "Python consumer" below answers
  auto pending = b.push(1, 2);
  redis_client results_db{server.port(), 8};
  auto python_record = [](const std::string& id, const std::string& result) {
    return R"({"host_process":"pyhost - 4242","queue_name":"rpc_python_record","function":"add",)"
           R"("msg_dict":{"x":1,"y":2,"extra":{"task_id":")" + id + R"("}},"task_id":")" + id
           + R"(","publish_time":1774348711.2128,"publish_time_format":"2026-03-24 18:38:31",)"
             R"("process_id":4242,"thread_id":140000,"params":{"x":1,"y":2},"result":)" + result
           + R"(,"run_times":1,"exception":null,"exception_type":null,"exception_msg":null,)"
             R"("rpc_chain_error_msg_dict":null,"time_start":1774348711.3,"time_cost":0.0001,)"
             R"("time_end":1774348711.3001,"success":true,"run_status":"finish",)"
             R"("rpc_result_expire_seconds":1800,"host_name":"pyhost"})";
  };
  results_db.run({"LPUSH", pending.task_id(), python_record(pending.task_id(), "3")});
  CHECK(pending.get(30s) == 3); // found by the store's sweep: Python sends no notification
  results_db.run({"LPUSH", "py-by-id", python_record("py-by-id", "7")});
  CHECK(rt.result("py-by-id", 30s).result_json == "7");
}

TEST_CASE("10,000 results awaited at once cost no thread or connection per waiter") {
  redis_server server;
  peer consumer{server.port(), "consume", "rpc_ten_thousand"};
  REQUIRE(consumer.line() == "consuming\n");
  funboost::runtime rt;
  auto b = rt.boost(add, rpc_options(server, "rpc_ten_thousand"));
  b.push(0, 0).get(30s); // the store's actors and connections exist from here on
  int threads_before = thread_count();
  redis_client admin{server.port(), 7};
  std::vector<std::tuple<int, int>> calls;
  for (int i = 0; i < 10000; ++i)
    calls.emplace_back(i, 1);
  auto results = b.push_many(calls);
  CHECK(thread_count() <= threads_before + 2);
  int right = 0;
  for (int i = 0; i < 10000; ++i)
    right += results[static_cast<std::size_t>(i)].get(120s) == i + 1;
  CHECK(right == 10000);
  CHECK(thread_count() <= threads_before + 2);
  auto info = admin.string({"INFO", "clients"});
  auto at = info.find("connected_clients:");
  REQUIRE(at != std::string::npos);
  int clients = std::stoi(info.substr(at + 18));
  // This process: publisher, store writer, waiter and its subscriber, admin; the peer's
  // fetcher, publisher, keeper, writer, waiter, subscriber. Never one per waiter.
  CHECK(clients < 20);
}

TEST_CASE("a publish-only booster pushes to a consumer in another process, checked by its registry") {
  redis_server server;
  peer consumer{server.port(), "consume", "rpc_fake_booster"};
  REQUIRE(consumer.line() == "consuming\n");
  funboost::runtime rt;
  funboost::booster_options o;
  o.queue_name = "rpc_fake_booster";
  o.broker_kind = funboost::broker_kind::redis;
  o.broker.url = server.url(7);
  o.logging.level = funboost::log_level::error;
  o.logging.file_dir = "";
  // The consumer registers its queue with its first broker connection, just after it starts.
  redis_client queue_db{server.port(), 7};
  REQUIRE(wait_until([&] {
    return !queue_db.string({"HGET", "funboost_queue__consumer_parmas", "rpc_fake_booster"})
              .empty();
  }));
  auto p = rt.publisher(o); // no function linked: the signature comes from the registry
  CHECK(p.info().function_name == "add");
  CHECK(p.info().arg_names == std::vector<std::string>{"x", "y"});
  auto r = p.publish(R"({"x":19,"y":23})", {.is_using_rpc_mode = true});
  CHECK(r.get(30s).text == "42");
  CHECK_THROWS_WITH_AS(p.publish(R"({"x":19})"),
                       doctest::Contains("queue 'rpc_fake_booster': missing argument 'y'"),
                       std::invalid_argument);
  // The publisher left the consumers' registry record as they wrote it.
  auto params = queue_db.string({"HGET", "funboost_queue__consumer_parmas", "rpc_fake_booster"});
  CHECK(params.find(R"("must_arg_name_list":["x","y"])") != std::string::npos);
  CHECK(params.find(R"("func_name":"add")") != std::string::npos);
}
