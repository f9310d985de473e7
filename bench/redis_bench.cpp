// Redis broker benchmarks (broker_kind redis, funboost REDIS_ACK_ABLE) against a real
// redis-server this program starts on a free loopback port: batched and one-at-a-time push rates,
// the drain rate of a pre-filled queue (acks included), and how long a SIGKILLed consumer's
// unacked messages take to come back with the default recovery settings.
// Usage: redis_bench [NAME-FILTER]   (substring of the figure names; default: all)
// (redis_bench --recovery-consumer PORT QUEUE is the consumer process the recovery figure kills.)
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <hiredis/hiredis.h>

#include <funboost/funboost.hpp>

#include "../test/redis/redis_client.hpp"
#include "../test/redis/redis_server.hpp"
#include "bench_report.hpp"
#include "bench_fill.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using funboost::test::redis_client;
using funboost::test::redis_server;

namespace {

constexpr const char* recovery_flag = "--recovery-consumer";
constexpr int recovery_workers = 20;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

funboost::booster_options redis_queue(const redis_server& server, std::string queue) {
  funboost::booster_options o;
  o.queue_name = std::move(queue);
  o.broker_kind = funboost::broker_kind::redis;
  o.broker.url = server.url(7);
  o.arg_names = {"i"};
  o.logging.level = funboost::log_level::error;
  o.logging.file_dir = "";
  o.logging.stats_interval = 0s;
  return o;
}

/// Messages fetched and not yet acked, over every consumer of `queue` (their unack zsets).
long long in_flight(redis_client& c, const std::string& queue) {
  long long sum = 0;
  for (const auto& key : c.strings({"SMEMBERS", "funboost_unack_registry:" + queue}))
    sum += c.integer({"ZCARD", key});
  return sum;
}



void push_batched(funboost::runtime& rt, const redis_server& server, redis_client& client) {
  const std::string queue = "bench_redis_push_batched";
  auto b = rt.boost([](int) {}, redis_queue(server, queue));
  b.clear();
  constexpr int n = 200'000, batch = 1000;
  auto [published, elapsed] = bench::timed_push_many(b, n, batch);
  auto len = client.integer({"LLEN", queue});
  b.clear();
  bench::report("redis.push_batched", n / elapsed, "tasks/s", 400'000, ">=",
                "push_many of " + std::to_string(n) + " no-op tasks in batches of "
                  + std::to_string(batch) + ", one thread; " + std::to_string(published)
                  + " published, LLEN " + std::to_string(len));
}

/// The floor under redis.push_sync: plain hiredis RPUSH round trips of a 200-byte body.
double raw_rpush_rate(redis_client& client, const std::string& queue, int n) {
  std::string body(200, 'x');
  auto t0 = clock_type::now();
  for (int i = 0; i < n; ++i)
    client.run({"RPUSH", queue, body});
  return n / seconds_since(t0);
}

void push_sync(funboost::runtime& rt, const redis_server& server, redis_client& client) {
  const std::string queue = "bench_redis_push_sync";
  auto b = rt.boost([](int) {}, redis_queue(server, queue));
  b.clear();
  for (int i = 0; i < 500; ++i) // warm up the connection
    b.push(i);
  b.clear();
  constexpr int n = 20'000;
  double raw_before = raw_rpush_rate(client, queue, n);
  b.clear();
  int published = 0;
  auto t0 = clock_type::now();
  for (int i = 0; i < n; ++i)
    published += b.push(i).published() ? 1 : 0;
  double elapsed = seconds_since(t0);
  auto len = client.integer({"LLEN", queue});
  b.clear();
  double raw_after = raw_rpush_rate(client, queue, n);
  b.clear();
  char raw_note[128];
  std::snprintf(raw_note, sizeof raw_note,
                "; plain hiredis RPUSH round trips here: %.0f/s before, %.0f/s after", raw_before,
                raw_after);
  bench::report("redis.push_sync", n / elapsed, "tasks/s", 40'000, ">=",
                "push() one at a time from one thread (one round trip each), "
                  + std::to_string(n) + " tasks; " + std::to_string(published)
                  + " published, LLEN " + std::to_string(len) + raw_note);
}

/// The baseline for redis.push_pipelined: plain hiredis, one RPUSH per 200-byte body, every
/// command of a 1000-batch appended before the replies are read (pipelined).
double raw_pipelined_rpush_rate(int port, const std::string& queue, int n) {
  redisContext* c = redisConnect("127.0.0.1", port);
  if (!c || c->err)
    return 0;
  redisReply* r = static_cast<redisReply*>(redisCommand(c, "SELECT 7"));
  freeReplyObject(r);
  std::string body(200, 'x');
  auto t0 = clock_type::now();
  for (int done = 0; done < n;) {
    int batch = std::min(1000, n - done);
    for (int i = 0; i < batch; ++i)
      redisAppendCommand(c, "RPUSH %b %b", queue.data(), queue.size(), body.data(), body.size());
    for (int i = 0; i < batch; ++i) {
      void* reply = nullptr;
      redisGetReply(c, &reply);
      freeReplyObject(reply);
    }
    done += batch;
  }
  double rate = n / seconds_since(t0);
  redisFree(c);
  return rate;
}

void push_pipelined(funboost::runtime& rt, const redis_server& server, redis_client& client) {
  const std::string queue = "bench_redis_push_pipelined";
  auto o = redis_queue(server, queue);
  o.publish_mode = funboost::publish_mode::pipelined;
  auto b = rt.boost([](int) {}, o);
  b.clear();
  for (int i = 0; i < 1000; ++i) // warm up the connection
    b.push(i);
  b.flush();
  b.clear();
  constexpr int n = 1'000'000;
  double raw = raw_pipelined_rpush_rate(server.port(), queue, 200'000);
  b.clear();
  auto t0 = clock_type::now();
  for (int i = 0; i < n; ++i)
    b.push(i);
  double returned_s = seconds_since(t0);
  b.flush();
  double elapsed = seconds_since(t0);
  auto len = client.integer({"LLEN", queue});
  b.clear();
  char note[400];
  std::snprintf(note, sizeof note,
                "push() one at a time from one thread, publish_mode pipelined, %d tasks, until "
                "flush() returned (the pushes alone took %.2f s); LLEN %lld; plain hiredis "
                "pipelined RPUSH of 200-byte bodies in the same run: %.0f/s",
                n, returned_s, len, raw);
  bench::report("redis.push_pipelined", n / elapsed, "tasks/s", 500'000, ">=", note);
}

/// redis.drain (conn_num 4, concurrent_num 8) or, with `defaults`, redis.drain_default
/// (booster_options' own conn_num 1, concurrent_num 50).
void drain(funboost::runtime& rt, const redis_server& server, redis_client& client,
           bool defaults) {
  const std::string queue = defaults ? "bench_redis_drain_default" : "bench_redis_drain";
  constexpr int n = 1'000'000;
  std::atomic<int> done{0};
  auto o = redis_queue(server, queue);
  if (!defaults) {
    o.conn_num = 4;
    o.concurrent_num = 8;
  }
  auto b = rt.boost([&](int) { done.fetch_add(1, std::memory_order_relaxed); }, o);
  b.clear();
  auto f0 = clock_type::now();
  int filled = bench::fill(b, n, 1000);
  double fill_s = seconds_since(f0);

  auto t0 = clock_type::now();
  b.consume();
  auto deadline = t0 + 120s;
  while (done.load(std::memory_order_relaxed) < n && clock_type::now() < deadline)
    std::this_thread::sleep_for(1ms);
  double run_s = seconds_since(t0);
  // Acks included: the run ends when no consumer holds an unacked message any more.
  while (in_flight(client, queue) > 0 && clock_type::now() < deadline)
    std::this_thread::sleep_for(1ms);
  double elapsed = seconds_since(t0);
  int finished = done.load();
  auto left = client.integer({"LLEN", queue});
  b.stop();
  b.clear();
  char extra[160];
  std::snprintf(extra, sizeof extra, "; all run after %.2f s, acked after %.2f s; fill %.2f s",
                run_s, elapsed, fill_s);
  std::string note = std::to_string(filled) + " pre-filled with push_many, " + std::to_string(finished)
                     + " run, " + std::to_string(left) + " left; conn_num "
                     + std::to_string(o.conn_num) + ", concurrent_num "
                     + std::to_string(o.concurrent_num) + ", no-op function, acks included"
                     + extra;
  if (finished < n)
    note += "; TIMED OUT after 120 s";
  if (defaults)
    bench::report("redis.drain_default", finished / elapsed, "tasks/s", 300'000, ">=", note);
  else
    bench::report("redis.drain", finished / elapsed, "tasks/s", 600'000, ">=", note);
}

/// The consumer process the recovery figure kills: slow tasks, 20 workers, default recovery.
int recovery_consumer(int port, const std::string& queue) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the benchmark
  funboost::booster_options o;
  o.queue_name = queue;
  o.broker_kind = funboost::broker_kind::redis;
  o.broker.url = "redis://127.0.0.1:" + std::to_string(port) + "/7";
  o.arg_names = {"i"};
  o.concurrent_num = recovery_workers;
  o.logging.level = funboost::log_level::error;
  o.logging.file_dir = "";
  o.logging.stats_interval = 0s;
  funboost::runtime rt;
  auto b = rt.boost([](int) { std::this_thread::sleep_for(1s); }, o);
  b.consume();
  rt.wait();
  return 0;
}

/// Seconds since the consumer `id` last heartbeat, by redis TIME; -1 if none is found.
double heartbeat_age(redis_client& c, const std::string& queue, const std::string& id) {
  auto now_parts = c.strings({"TIME"});
  double now = std::stod(now_parts.at(0)) + std::stod(now_parts.at(1)) / 1e6;
  double last = -1;
  for (const auto& m : c.strings({"SMEMBERS", "funboost_hearbeat_queue__str:" + queue})) {
    auto sep = m.rfind("&&");
    if (sep != std::string::npos && m.substr(0, sep) == id)
      last = std::max(last, std::stod(m.substr(sep + 2)));
  }
  return last < 0 ? -1 : now - last;
}

void recovery(funboost::runtime& rt, const redis_server& server, redis_client& client) {
  const std::string queue = "bench_redis_recovery";
  const std::string registry = "funboost_unack_registry:" + queue;
  constexpr int n = 200;
  auto deadline = clock_type::now() + 90s;
  auto fail = [&](const std::string& why) {
    bench::report("redis.recovery_s", 999, "s", 2, "<=", "FAILED: " + why);
  };

  // The live consumer: one worker that blocks until the measurement is over, so after taking
  // its first messages it fetches nothing more and the queue length only grows by recovery.
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  auto live_opts = redis_queue(server, queue);
  live_opts.concurrent_num = 1;
  live_opts.prefetch_per_worker = 1;
  auto live = rt.boost(
    [&](int) {
      std::unique_lock lock{m};
      cv.wait(lock, [&] { return release; });
    },
    live_opts);
  live.clear();
  client.run({"DEL", registry});
  if (bench::fill(live, n, 1000) != n)
    return fail("could not fill the queue");

  // The victim: a separate process (this program re-executed), 20 workers on 1 s tasks.
  std::string self = "/proc/self/exe", port = std::to_string(server.port());
  pid_t child = ::fork();
  if (child < 0)
    return fail("fork failed");
  if (child == 0) {
    ::execl(self.c_str(), self.c_str(), recovery_flag, port.c_str(), queue.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto kill_child = [&] {
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
  };
  std::string victim_key;
  while (clock_type::now() < deadline) {
    auto keys = client.strings({"SMEMBERS", registry});
    if (keys.size() == 1 && client.integer({"ZCARD", keys[0]}) >= recovery_workers) {
      victim_key = keys[0];
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  if (victim_key.empty()) {
    kill_child();
    return fail("the consumer process never had 20 tasks in flight");
  }
  // Now the live consumer starts and takes its share, then holds it.
  live.consume();
  while (in_flight(client, queue) - client.integer({"ZCARD", victim_key}) < 1
         && clock_type::now() < deadline)
    std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(200ms); // let the live consumer's first fetch settle
  const std::string prefix = queue + "__unack_id_";
  std::string victim_id = victim_key.substr(victim_key.find(prefix) + prefix.size());
  // A deployment's Redis has been up for a while; for its first liveness_grace (5 s) nobody is
  // judged by connections (every process may still be reconnecting after a restart).
  auto uptime = [&] {
    auto info = client.string({"INFO", "server"});
    auto at = info.find("uptime_in_seconds:");
    return at == std::string::npos ? 0LL : std::atoll(info.c_str() + at + 18);
  };
  while (uptime() < 6 && clock_type::now() < deadline)
    std::this_thread::sleep_for(100ms);
  double hb_age = heartbeat_age(client, queue, victim_id);

  ::kill(child, SIGKILL);
  auto killed_at = clock_type::now();
  int status = 0;
  ::waitpid(child, &status, 0);
  long long stranded = client.integer({"ZCARD", victim_key});
  long long len_at_kill = client.integer({"LLEN", queue});
  long long expected = len_at_kill + stranded;
  bool back = false;
  while (clock_type::now() < killed_at + 60s) {
    if (client.integer({"LLEN", queue}) >= expected) {
      back = true;
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  double took = seconds_since(killed_at);
  bool key_gone = client.integer({"EXISTS", victim_key}) == 0
                  && client.integer({"SISMEMBER", registry, victim_key}) == 0;
  {
    std::lock_guard lock{m};
    release = true;
  }
  cv.notify_all();
  live.stop();
  live.clear();
  char note[512];
  std::snprintf(note, sizeof note,
                "consumer process (concurrent_num %d, 1 s tasks) SIGKILLed with %lld unacked; "
                "its last heartbeat %.1f s before the kill; LLEN %lld -> %lld %s after %.2f s; "
                "unack zset %s; live consumer in another runtime, started just before the kill; "
                "default timing: the live consumer's keeper looks for processes with no "
                "connection left every 1 s and confirms 250 ms later (heartbeat expiry, 25 s, "
                "is the fallback); Redis up for at least 6 s",
                recovery_workers, stranded, hb_age, len_at_kill, expected,
                back ? "reached" : "NOT reached", took, key_gone ? "gone" : "STILL THERE");
  bench::report("redis.recovery_s", back ? took : 999, "s", 2, "<=", note);
}

} // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string{argv[1]} == recovery_flag)
    return recovery_consumer(std::stoi(argv[2]), argv[3]);
  std::string filter = argc > 1 ? argv[1] : "";
  auto wanted = [&](const std::string& name) { return name.find(filter) != std::string::npos; };
  if (!wanted("redis.push_batched") && !wanted("redis.push_sync") && !wanted("redis.drain")
      && !wanted("redis.recovery_s") && !wanted("redis.push_pipelined")
      && !wanted("redis.drain_default"))
    return 0;
  try {
    redis_server server;
    redis_client client{server.port(), 7};
    std::fprintf(stderr, "redis_bench: redis-server on port %d\n", server.port());
    funboost::runtime rt;
    if (wanted("redis.push_batched"))
      push_batched(rt, server, client);
    if (wanted("redis.push_sync"))
      push_sync(rt, server, client);
    if (wanted("redis.push_pipelined"))
      push_pipelined(rt, server, client);
    if (wanted("redis.drain") && std::string{"redis.drain"}.find(filter) != std::string::npos)
      drain(rt, server, client, false);
    if (wanted("redis.drain_default"))
      drain(rt, server, client, true);
    if (wanted("redis.recovery_s"))
      recovery(rt, server, client);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "redis_bench: %s\n", e.what());
    return 1;
  }
}
