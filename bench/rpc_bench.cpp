// RPC result benchmarks: push to result in hand, one task at a time under light load
// (p50/p99 round trip), on the memory broker (in-process results) and on Redis with the
// consumer in ANOTHER process (so every result crosses Redis: funboost's status record, read
// by this process's result store), and the Redis throughput with 1,000 results in flight.
// Usage: rpc_bench [NAME-FILTER]   (rpc_bench --consumer PORT QUEUE is the consumer process)
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <tuple>
#include <vector>

#include <funboost/funboost.hpp>

#include "../test/redis/redis_client.hpp"
#include "../test/redis/redis_server.hpp"
#include "bench_report.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using funboost::test::redis_server;

namespace {

constexpr const char* consumer_flag = "--consumer";

int noop(int x) {
  return x;
}

funboost::booster_options queue_options(std::string queue) {
  funboost::booster_options o;
  o.queue_name = std::move(queue);
  o.arg_names = {"x"};
  o.is_using_rpc_mode = true;
  o.logging.level = funboost::log_level::error;
  o.logging.file_dir = "";
  o.logging.stats_interval = 0s;
  return o;
}

funboost::booster_options redis_options(int port, std::string queue) {
  auto o = queue_options(std::move(queue));
  o.broker_kind = funboost::broker_kind::redis;
  o.broker.url = "redis://127.0.0.1:" + std::to_string(port) + "/7";
  // 8 workers, as redis.drain: no-op tasks on 2 cores. (With funboost's default of 50, the
  // same run measures 39-52 k/s: 50 threads switching for tasks that take microseconds.)
  o.concurrent_num = 8;
  return o;
}

/// The consumer process: consumes until its parent dies or it is killed.
int consumer(int port, const std::string& queue) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  funboost::runtime rt;
  auto b = rt.boost(noop, redis_options(port, queue));
  b.consume();
  rt.wait();
  return 0;
}

pid_t start_consumer(int port, const std::string& queue) {
  std::string self = "/proc/self/exe", p = std::to_string(port);
  pid_t child = ::fork();
  if (child == 0) {
    ::execl(self.c_str(), self.c_str(), consumer_flag, p.c_str(), queue.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return child;
}

/// Microseconds from push to result, one task at a time.
std::vector<double> roundtrips(const funboost::booster<int(int)>& b, int n) {
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto t0 = clock_type::now();
    if (b.push(i).get(30s) != i)
      throw std::runtime_error("wrong result");
    us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
  }
  return us;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

void report_roundtrip(const std::string& prefix, const std::vector<double>& us, double p50_target,
                      double p99_target, const std::string& note) {
  bench::report(prefix + ".roundtrip_p50_us", percentile(us, 0.5), "us", p50_target, "<=", note);
  bench::report(prefix + ".roundtrip_p99_us", percentile(us, 0.99), "us", p99_target, "<=", note);
}

void memory_roundtrip() {
  funboost::runtime rt;
  auto b = rt.boost(noop, queue_options("rpc_bench_memory"));
  b.consume();
  roundtrips(b, 500); // warm up: threads, caches, the dispatcher's task-time estimate
  report_roundtrip("rpc.memory", roundtrips(b, 5000), 300, 1000, "5000 sequential push().get()");
}

void redis_figures(bool roundtrip, bool throughput) {
  redis_server server;
  std::string queue = "rpc_bench_redis";
  pid_t child = start_consumer(server.port(), queue);
  {
    funboost::runtime rt;
    auto b = rt.boost(noop, redis_options(server.port(), queue)); // pushes; never consumes
    roundtrips(b, 300); // warm up, and wait for the consumer process to be up
    if (roundtrip)
      report_roundtrip("rpc.redis", roundtrips(b, 3000), 2000, 5000,
                       "3000 sequential push().get(), consumer in another process");
    if (throughput) {
      // A sliding window: 1,000 results in flight, topped up 100 at a time as the oldest
      // arrive, so the consumer never runs dry between windows.
      constexpr int total = 50000;
      constexpr int in_flight = 1000;
      constexpr int chunk = 100;
      std::vector<std::tuple<int>> calls;
      for (int i = 0; i < chunk; ++i)
        calls.emplace_back(i);
      std::deque<funboost::async_result<int>> pending;
      auto t0 = clock_type::now();
      int pushed = 0;
      while (pushed < total || !pending.empty()) {
        while (pushed < total && static_cast<int>(pending.size()) + chunk <= in_flight) {
          for (auto& r : b.push_many(calls))
            pending.push_back(std::move(r));
          pushed += chunk;
        }
        for (int i = 0; i < chunk && !pending.empty(); ++i) {
          pending.front().get(60s);
          pending.pop_front();
        }
      }
      auto s = std::chrono::duration<double>(clock_type::now() - t0).count();
      bench::report("rpc.redis.throughput", total / s, "tasks/s", 50000, ">=",
                    "50000 no-op tasks, 1000 in flight (sliding), consumer in another "
                    "process (concurrent_num 8, as redis.drain)");
    }
  }
  if (std::getenv("RPC_BENCH_COMMANDSTATS")) { // where Redis spent its time, per command
    funboost::test::redis_client admin{server.port(), 7};
    std::fprintf(stderr, "%s\n", admin.string({"INFO", "commandstats"}).c_str());
  }
  ::kill(child, SIGTERM);
  ::waitpid(child, nullptr, 0);
}

} // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string{argv[1]} == consumer_flag)
    return consumer(std::stoi(argv[2]), argv[3]);
  std::string filter = argc > 1 ? argv[1] : "";
  auto wanted = [&](const std::string& name) { return name.find(filter) != std::string::npos; };
  try {
    if (wanted("rpc.memory.roundtrip_p50_us") || wanted("rpc.memory.roundtrip_p99_us"))
      memory_roundtrip();
    bool roundtrip = wanted("rpc.redis.roundtrip_p50_us") || wanted("rpc.redis.roundtrip_p99_us");
    bool throughput = wanted("rpc.redis.throughput");
    if (roundtrip || throughput)
      redis_figures(roundtrip, throughput);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rpc_bench: %s\n", e.what());
    return 1;
  }
}
