// Delayed tasks (countdown, eta) on the Redis broker against a real redis-server this program
// starts on a free loopback port:
//   delay.fire_error_ms_p99  10,000 tasks due evenly over 10 s: how late the 99th percentile ran
//                            (run start minus due time), consumer with default options
//   delay.throughput         100,000 tasks all due at the same instant, kept in Redis before it:
//                            tasks run per second from that instant until the last one ran
// Usage: delay_bench [NAME-FILTER]   (substring of the figure names; default: all)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <funboost/funboost.hpp>
#include <funboost/wire.hpp>

#include "../test/redis/redis_client.hpp"
#include "../test/redis/redis_server.hpp"
#include "bench_report.hpp"

using namespace std::chrono_literals;
using funboost::test::redis_client;
using funboost::test::redis_server;

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

funboost::booster_options redis_queue(const redis_server& server, std::string queue) {
  funboost::booster_options o;
  o.queue_name = std::move(queue);
  o.broker_kind = funboost::broker_kind::redis;
  o.broker.url = server.url(7);
  o.arg_names = {"i", "due"};
  o.logging.level = funboost::log_level::error;
  o.logging.file_dir = "";
  o.logging.stats_interval = 0s;
  return o;
}

/// Messages as push() writes them, with `options` (countdown or eta), pushed in batches.
void push_delayed(funboost::broker_connection& conn, const funboost::booster_options& o, int n,
                  const std::function<funboost::task_options(int)>& options_of,
                  const std::function<double(int)>& due_of) {
  std::vector<std::string> batch;
  for (int i = 0; i < n; ++i) {
    char kwargs[96];
    std::snprintf(kwargs, sizeof kwargs, R"({"i":%d,"due":%.6f})", i, due_of(i));
    std::string id;
    batch.push_back(funboost::message_from_kwargs(kwargs, options_of(i),
                                                  o.publish_time_utc_offset_minutes, id));
    if (batch.size() == 1000 || i == n - 1) {
      conn.publish(o.queue_name, batch);
      batch.clear();
    }
  }
}

void fire_error(funboost::runtime& rt, const redis_server& server) {
  constexpr int n = 10'000;
  constexpr double spread_s = 10, lead_s = 1;
  auto o = redis_queue(server, "bench_delay_fire_error");
  std::vector<double> lateness(n, -1);
  std::atomic<int> ran{0};
  auto b = rt.boost(
    [&](int i, double due) {
      lateness[i] = unix_now() - due;
      ran.fetch_add(1, std::memory_order_release);
    },
    o);
  b.consume();
  auto conn = funboost::make_broker(o)->connect();
  auto start = unix_now() + lead_s;
  auto due_of = [&](int i) { return start + spread_s * i / n; };
  push_delayed(*conn, o, n, [&](int i) {
    funboost::task_options t;
    t.eta = std::chrono::system_clock::time_point{std::chrono::microseconds(
      static_cast<int64_t>(due_of(i) * 1e6))};
    return t;
  }, due_of);
  auto pushed_s = unix_now() - (start - lead_s);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (ran.load(std::memory_order_acquire) < n && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  b.stop();
  std::vector<double> ms;
  int early = 0;
  for (double l : lateness)
    if (l > -1) {
      ms.push_back(l * 1000);
      early += l < -0.0002;
    }
  std::sort(ms.begin(), ms.end());
  double p99 = ms.empty() ? 1e9 : ms[ms.size() * 99 / 100];
  char note[200];
  std::snprintf(note, sizeof note,
                "%zu of %d ran, %d early; p50 %.2f ms, max %.2f ms; due over %.0f s from %.0f s "
                "after the start, pushed in %.2f s (eta, Unix seconds); default options",
                ms.size(), n, early, ms.empty() ? 0 : ms[ms.size() / 2],
                ms.empty() ? 0 : ms.back(), spread_s, lead_s, pushed_s);
  bench::report("delay.fire_error_ms_p99", p99, "ms", 100, "<=", note);
}

void throughput(funboost::runtime& rt, const redis_server& server, redis_client& client) {
  constexpr int n = 100'000;
  auto o = redis_queue(server, "bench_delay_throughput");
  std::atomic<int> ran{0};
  std::atomic<double> last{0};
  auto b = rt.boost(
    [&](int, double) {
      if (ran.fetch_add(1, std::memory_order_relaxed) + 1 == n)
        last.store(unix_now());
    },
    o);
  b.consume();
  auto conn = funboost::make_broker(o)->connect();
  // Due together, far enough ahead that all are kept in Redis before (the intake is timed too).
  auto t0 = unix_now();
  auto due = t0 + 8;
  push_delayed(*conn, o, n, [&](int) {
    funboost::task_options t;
    t.eta = std::chrono::system_clock::time_point{
      std::chrono::microseconds(static_cast<int64_t>(due * 1e6))};
    return t;
  }, [&](int) { return due; });
  auto key = "funboost_delayed_tasks:" + o.queue_name;
  while (client.integer({"ZCARD", key}) < n && unix_now() < due)
    std::this_thread::sleep_for(5ms);
  auto kept = client.integer({"ZCARD", key});
  auto intake_s = unix_now() - t0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (ran.load() < n && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  b.stop();
  double elapsed = ran.load() == n ? last.load() - std::max(due, t0 + intake_s) : 1e9;
  char note[200];
  std::snprintf(note, sizeof note,
                "%d of %d ran; %lld kept in Redis before their time, pushed and kept in %.2f s "
                "(%.0f/s); all due at one instant, fired and run in %.3f s; default options",
                ran.load(), n, static_cast<long long>(kept), intake_s, kept / intake_s, elapsed);
  bench::report("delay.throughput", n / elapsed, "tasks/s", 50'000, ">=", note);
}

} // namespace

int main(int argc, char** argv) {
  std::string filter = argc > 1 ? argv[1] : "";
  auto wanted = [&](const std::string& name) { return name.find(filter) != std::string::npos; };
  if (!wanted("delay.fire_error_ms_p99") && !wanted("delay.throughput"))
    return 0;
  try {
    redis_server server;
    redis_client client{server.port(), 7};
    std::fprintf(stderr, "delay_bench: redis-server on port %d\n", server.port());
    funboost::runtime rt;
    if (wanted("delay.fire_error_ms_p99"))
      fire_error(rt, server);
    if (wanted("delay.throughput"))
      throughput(rt, server, client);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "delay_bench: %s\n", e.what());
    return 1;
  }
}
