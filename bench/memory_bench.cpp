// In-memory broker benchmarks: push rate, end-to-end drain rate, latency, QPS precision.
// Usage: memory_bench [NAME-FILTER]   (substring of the figure names; default: all)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <funboost/funboost.hpp>

#include "bench_report.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

funboost::booster_options quiet(std::string queue) {
  funboost::booster_options o;
  o.queue_name = std::move(queue);
  o.logging.level = funboost::log_level::error; // per-task info lines would dominate
  o.logging.file_dir = "";
  o.logging.stats_interval = 0s;
  return o;
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

void push_rate(funboost::runtime& rt) {
  auto b = rt.boost([](int, int) {}, quiet("bench_push"));
  constexpr int n = 1'000'000;
  auto t0 = clock_type::now();
  for (int i = 0; i < n; ++i)
    b.push(i, i);
  double rate = n / seconds_since(t0);
  b.clear();
  bench::report("memory.push", rate, "tasks/s", 3'000'000, ">=", "one thread, 1M pushes");
}

void drain_rate(funboost::runtime& rt, const std::string& name, int concurrent, double target) {
  std::atomic<int> done{0};
  auto o = quiet("bench_" + name);
  o.concurrent_num = concurrent;
  auto b = rt.boost([&](int) { done.fetch_add(1, std::memory_order_relaxed); }, o);
  constexpr int n = 1'000'000;
  for (int i = 0; i < n; ++i)
    b.push(i);
  auto t0 = clock_type::now();
  b.consume();
  while (done.load(std::memory_order_relaxed) < n)
    std::this_thread::sleep_for(1ms);
  double rate = n / seconds_since(t0);
  b.stop();
  bench::report(name, rate, "tasks/s", target, ">=",
                "drain of 1M pre-pushed no-op tasks, concurrent_num " + std::to_string(concurrent));
}

void latency(funboost::runtime& rt) {
  std::mutex m;
  std::vector<double> micros;
  auto b = rt.boost(
    [&](int64_t pushed_ns) {
      auto now = clock_type::now().time_since_epoch().count();
      std::lock_guard g{m};
      micros.push_back(static_cast<double>(now - pushed_ns) / 1000.0);
    },
    quiet("bench_latency"));
  b.consume();
  std::this_thread::sleep_for(200ms);
  constexpr int n = 2000;
  for (int i = 0; i < n; ++i) {
    b.push(static_cast<int64_t>(clock_type::now().time_since_epoch().count()));
    std::this_thread::sleep_for(500us); // light load: one task at a time
  }
  for (int i = 0; i < 5000; ++i) {
    {
      std::lock_guard g{m};
      if (micros.size() == n)
        break;
    }
    std::this_thread::sleep_for(1ms);
  }
  b.stop();
  std::sort(micros.begin(), micros.end());
  auto pct = [&](double p) { return micros[static_cast<std::size_t>(p * (micros.size() - 1))]; };
  bench::report("memory.latency_p50_us", pct(0.50), "us", 20, "<=", "push to function start");
  bench::report("memory.latency_p99_us", pct(0.99), "us", 500, "<=", "push to function start");
}

void qps_error(funboost::runtime& rt) {
  std::atomic<int> started{0};
  auto o = quiet("bench_qps");
  o.qps = 500;
  o.concurrent_num = 100; // 500/s x 0.1 s = 50 running at once; room to spare
  auto b = rt.boost(
    [&](int) {
      started.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::sleep_for(100ms);
    },
    o);
  for (int i = 0; i < 6000; ++i)
    b.push(i);
  b.consume();
  std::this_thread::sleep_for(1s); // warm up
  int s0 = started.load();
  auto t0 = clock_type::now();
  std::this_thread::sleep_for(8s);
  int s1 = started.load();
  double rate = (s1 - s0) / seconds_since(t0);
  b.stop();
  b.clear();
  double error = std::abs(rate - 500.0) / 500.0 * 100.0;
  bench::report("qps.error_pct", error, "%", 1, "<=",
                "qps 500, function sleeps 100 ms; measured " + std::to_string(rate) + "/s over 8 s");
}

/// What process_isolation adds to a task: a fork (page tables copied, so it grows with the
/// process's memory), the child's run, a pipe read and a waitpid. Measured as the difference
/// in time per task between a drain with and one without it, one worker, RPC results.
void isolation_cost(funboost::runtime& rt) {
  auto seconds_per_task = [&](bool isolated) {
    auto o = quiet(isolated ? "bench_isolated" : "bench_in_process");
    o.concurrent_num = 1;
    o.is_using_rpc_mode = true;
    o.process_isolation = isolated;
    auto b = rt.boost([](int x) { return x; }, o);
    constexpr int n = 2000;
    std::vector<std::tuple<int>> calls;
    for (int i = 0; i < n; ++i)
      calls.emplace_back(i);
    auto results = b.push_many(calls);
    auto t0 = clock_type::now();
    b.consume();
    for (auto& r : results)
      r.get(60s);
    double per_task = seconds_since(t0) / n;
    b.stop();
    return per_task;
  };
  double plain = seconds_per_task(false);
  double isolated = seconds_per_task(true);
  bench::report("memory.isolation_us", (isolated - plain) * 1e6, "us", 2000, "<=",
                "per task: process_isolation minus in-process, 2000 no-op tasks, one worker");
}

} // namespace

int main(int argc, char** argv) {
  std::string filter = argc > 1 ? argv[1] : "";
  auto wanted = [&](const std::string& name) { return name.find(filter) != std::string::npos; };
  funboost::runtime rt;
  if (wanted("memory.push"))
    push_rate(rt);
  if (wanted("memory.e2e") && (filter.empty() || filter.find("c50") == std::string::npos))
    drain_rate(rt, "memory.e2e", 8, 500'000);
  if (wanted("memory.e2e_c50"))
    drain_rate(rt, "memory.e2e_c50", 50, 200'000);
  if (wanted("memory.latency"))
    latency(rt);
  if (wanted("qps.error_pct"))
    qps_error(rt);
  if (wanted("memory.isolation"))
    isolation_cost(rt);
}
