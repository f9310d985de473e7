// Fault benchmarks against real servers this program starts on free loopback ports, each in its
// own temporary directory:
//  - faults.sigkill_loss.{redis,redis_stream,rabbitmq}: tasks lost when consumer processes are
//    SIGKILLed 20 times while they run tasks (a replacement is started after each kill, so one
//    consumer is always alive). Tasks record their runs in Redis, which outlives the consumers.
//  - faults.resume_after_broker_s: how soon an in-process consumer runs a task again after its
//    redis-server (AOF) was SIGKILLed, kept down 65 s (env FAULTS_OUTAGE_S) and started again.
// Usage: faults_bench [NAME-FILTER]   (substring of the figure names; default: all)
// (faults_bench --consumer KIND BROKER_URL REDIS_PORT QUEUE CONN_NUM MAX_CRASH_DELIVERIES is the
// consumer process the SIGKILL figures kill; -1: the default.)
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <funboost/funboost.hpp>

#include "../test/support/child_process.hpp"

#include "../test/redis/redis_client.hpp"
#include "../test/redis/redis_server.hpp"
#ifdef FAULTS_BENCH_RABBITMQ
#include "../test/rabbitmq/rabbitmq_server.hpp"
#endif
#include "bench_fill.hpp"
#include "bench_report.hpp"

using namespace std::chrono_literals;
using funboost::test::kill_and_reap;
using clock_type = std::chrono::steady_clock;
using funboost::test::redis_client;
using funboost::test::redis_server;

namespace {

constexpr const char* consumer_flag = "--consumer";
constexpr int sigkill_tasks = 2000;
constexpr int sigkills = 20;
constexpr int consumers_alive = 2;     // two consumers, so one always runs while the other starts
constexpr int consumer_workers = 20;   // concurrent_num of each consumer process

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

std::string fixed(double v, int digits = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

void progress(const std::string& text) {
  std::fprintf(stderr, "faults_bench: %s\n", text.c_str());
}

std::string done_key(const std::string& queue) { return "done:" + queue; }     // task -> runs
std::string ran_by_key(const std::string& queue) { return "ran_by:" + queue; } // pid -> runs

/// Short heartbeat timing so a killed consumer's messages come back in about 2.5 s (only safe
/// when every consumer of the queue uses it, as here).
void quick_recovery(funboost::booster_options& o) {
  o.broker.transport_options["heartbeat_interval_ms"] = 500LL;
  o.broker.transport_options["heartbeat_expire_ms"] = 2000LL;
  o.broker.transport_options["recover_interval_ms"] = 500LL;
  o.broker.transport_options["stream_claim_idle_ms"] = 500LL;
}

funboost::booster_options queue_options(const std::string& kind, const std::string& url,
                                        const std::string& queue) {
  funboost::booster_options o;
  o.queue_name = queue;
  o.broker_kind = kind;
  o.broker.url = url;
  o.arg_names = {"i"};
  o.logging.level = funboost::log_level::error;
  o.logging.file_dir = "";
  o.logging.stats_interval = 0s;
  if (kind != funboost::broker_kind::rabbitmq)
    quick_recovery(o);
  return o;
}

/// Where the consumer processes of one SIGKILL run consume and record.
struct sigkill_setup {
  std::string kind;
  std::string url;        // the broker
  int redis_port = 0;     // where tasks record their runs
  std::string queue;
  int max_crash_deliveries = -1; // -1: the default
};

/// The consumer process the SIGKILL figures kill: tasks of 5 to 20 ms that record each run in
/// Redis (task i -> runs, and this process's pid -> runs) before they return.
int consumer_main(const sigkill_setup& setup, int conn_num) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the benchmark
  auto o = queue_options(setup.kind, setup.url, setup.queue);
  o.conn_num = conn_num;
  o.concurrent_num = consumer_workers;
  if (setup.max_crash_deliveries >= 0)
    o.max_crash_deliveries = setup.max_crash_deliveries;
  const std::string pid = std::to_string(::getpid());
  const std::string queue = setup.queue;
  const int redis_port = setup.redis_port;
  funboost::runtime rt;
  auto b = rt.boost(
    [=](int i) {
      std::this_thread::sleep_for(std::chrono::milliseconds{5 + i % 16});
      thread_local std::unique_ptr<redis_client> client;
      if (!client)
        client = std::make_unique<redis_client>(redis_port, 7);
      client->run({"HINCRBY", done_key(queue), std::to_string(i), "1"});
      client->run({"HINCRBY", ran_by_key(queue), pid, "1"});
    },
    o);
  b.consume();
  rt.wait();
  return 0;
}

/// Starts this program as a consumer; its stdout goes to stderr (stdout carries only figures).
pid_t spawn_consumer(const sigkill_setup& setup, int conn_num) {
  // Everything exec needs is built before fork: the child of a threaded process may only make
  // async-signal-safe calls.
  std::vector<std::string> args{"/proc/self/exe",
                                consumer_flag,
                                setup.kind,
                                setup.url,
                                std::to_string(setup.redis_port),
                                setup.queue,
                                std::to_string(conn_num),
                                std::to_string(setup.max_crash_deliveries)};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0)
    throw std::runtime_error("fork failed while starting a consumer of " + setup.queue);
  if (pid == 0) {
    ::dup2(2, 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

struct run_counts {
  long long distinct = 0; // tasks run at least once
  long long runs = 0;     // runs in all
};

run_counts counts(redis_client& c, const std::string& queue) {
  run_counts out;
  out.distinct = c.integer({"HLEN", done_key(queue)});
  for (const auto& v : c.strings({"HVALS", done_key(queue)}))
    out.runs += std::stoll(v);
  return out;
}

long long runs_by(redis_client& c, const std::string& queue, pid_t pid) {
  auto v = c.string({"HGET", ran_by_key(queue), std::to_string(pid)});
  return v.empty() ? 0 : std::stoll(v);
}

/// What one SIGKILL run saw.
struct sigkill_outcome {
  int pushed = 0;
  run_counts done;
  std::vector<long long> done_at_kill; // distinct tasks done at each kill
  long long victim_runs = 0;           // tasks the killed consumers had run
  std::size_t dead_lettered = 0;       // in {queue}_dlx
  std::size_t left = 0;                // still waiting in the queue
  double kill_phase_s = 0, total_s = 0;
  std::optional<double> settled_s;     // from the last kill until nothing more could happen

  long long lost() const { return pushed - done.distinct; }
};

/// N tasks, two consumer processes, 20 SIGKILLs of the older one at spread moments (when 1/22,
/// 2/22, ... of the tasks are done and the victim has run tasks itself), each followed by a
/// new consumer; then the survivors drain.
sigkill_outcome run_sigkills(funboost::runtime& rt, redis_client& records,
                             const sigkill_setup& setup) {
  const auto& queue = setup.queue;
  auto b = rt.boost([](int) {}, queue_options(setup.kind, setup.url, queue)); // pushes only
  auto dlx = rt.boost([](int) {}, queue_options(setup.kind, setup.url, queue + "_dlx"));
  b.clear();
  dlx.clear();
  records.run({"DEL", done_key(queue), ran_by_key(queue)});
  sigkill_outcome out;
  out.pushed = bench::fill(b, sigkill_tasks, 1000);
  progress(setup.kind + ": " + std::to_string(out.pushed) + " tasks pushed; starting consumers");

  auto t0 = clock_type::now();
  int next_conn_num = 1;
  auto start_one = [&] {
    auto pid = spawn_consumer(setup, next_conn_num);
    next_conn_num = next_conn_num == 1 ? 2 : 1;
    return pid;
  };
  std::deque<pid_t> alive; // oldest first
  for (int i = 0; i < consumers_alive; ++i)
    alive.push_back(start_one());

  auto kill_deadline = t0 + 150s;
  while (static_cast<int>(out.done_at_kill.size()) < sigkills
         && clock_type::now() < kill_deadline) {
    auto done = counts(records, queue).distinct;
    if (done >= out.pushed)
      break; // the kills fell behind the run: the note says so
    auto k = static_cast<long long>(out.done_at_kill.size());
    bool due = done >= out.pushed * (k + 1) / (sigkills + 2);
    auto victim_runs = runs_by(records, queue, alive.front());
    if (!due || victim_runs == 0) {
      std::this_thread::sleep_for(5ms);
      continue;
    }
    kill_and_reap(alive.front());
    alive.pop_front();
    alive.push_back(start_one());
    out.done_at_kill.push_back(done);
    out.victim_runs += victim_runs;
  }
  auto last_kill = clock_type::now();
  out.kill_phase_s = seconds_since(t0);
  progress(setup.kind + ": " + std::to_string(out.done_at_kill.size()) + " SIGKILLs in "
           + fixed(out.kill_phase_s) + " s; draining");

  // Settled: every task ran or was dead-lettered, the queue is empty, and no run for 3 s (a
  // task that was done but not acked when its consumer died may run again after the others).
  auto drain_deadline = last_kill + 120s;
  auto quiet_since = clock_type::now();
  out.done = counts(records, queue);
  while (clock_type::now() < drain_deadline) {
    auto next = counts(records, queue);
    if (next.runs != out.done.runs)
      quiet_since = clock_type::now();
    out.done = next;
    bool accounted = out.done.distinct + static_cast<long long>(dlx.message_count()) >= out.pushed;
    if (accounted && b.message_count() == 0 && clock_type::now() - quiet_since >= 3s) {
      out.settled_s = seconds_since(last_kill) - 3;
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  for (auto pid : alive)
    kill_and_reap(pid);
  out.left = b.message_count();
  out.dead_lettered = dlx.message_count();
  out.total_s = seconds_since(t0);
  b.clear();
  dlx.clear();
  return out;
}

std::string describe(const sigkill_outcome& r) {
  std::string spread = r.done_at_kill.empty()
                         ? "none"
                         : fixed(100.0 * r.done_at_kill.front() / r.pushed, 0) + " to "
                             + fixed(100.0 * r.done_at_kill.back() / r.pushed, 0) + " % done";
  std::string note = std::to_string(r.done_at_kill.size()) + " SIGKILLs (at " + spread
                     + ", over " + fixed(r.kill_phase_s) + " s; the victims had run "
                     + std::to_string(r.victim_runs) + " tasks): "
                     + std::to_string(r.done.distinct) + " of " + std::to_string(r.pushed)
                     + " done, " + std::to_string(r.done.runs - r.done.distinct)
                     + " duplicate runs, " + std::to_string(r.dead_lettered) + " dead-lettered, "
                     + std::to_string(r.left) + " left; ";
  note += r.settled_s ? "settled " + fixed(*r.settled_s) + " s after the last kill"
                      : "NOT settled 120 s after the last kill";
  note += ", " + fixed(r.total_s) + " s in all";
  if (static_cast<int>(r.done_at_kill.size()) < sigkills)
    note += "; ONLY " + std::to_string(r.done_at_kill.size()) + " kills: the run ended first";
  return note;
}

/// faults.sigkill_loss.{kind}: lost = tasks never run (dead-lettered ones included) after 20
/// SIGKILLs of consumer processes. For the redis kind, whose broker counts crash deliveries, a
/// second run with max_crash_deliveries 0 tells the poison guard's share from the broker's.
void sigkill_loss(funboost::runtime& rt, redis_client& records, int redis_port,
                  const std::string& kind, const std::string& url) {
  sigkill_setup setup{kind, url, redis_port, "faults_sigkill_" + kind};
  auto r = run_sigkills(rt, records, setup);
  std::string note = std::to_string(r.pushed) + " tasks of 5-20 ms on " + kind
                     + ", two consumer processes (conn_num 1 and 2 in turn, concurrent_num "
                     + std::to_string(consumer_workers)
                     + "), each SIGKILL followed by a new consumer; " + describe(r);
  if (kind != funboost::broker_kind::rabbitmq)
    note += "; heartbeat 500 ms, expiry 2 s, recover check 500 ms";
  if (kind == funboost::broker_kind::redis) {
    setup.queue += "_no_guard";
    setup.max_crash_deliveries = 0;
    auto control = run_sigkills(rt, records, setup);
    note += ". Again with max_crash_deliveries 0 (no poison guard): " + describe(control);
  }
  progress(kind + ": " + note);
  bench::report("faults.sigkill_loss." + kind, static_cast<double>(r.lost()), "tasks", 0, "<=",
                note);
}

int outage_seconds() {
  const char* v = std::getenv("FAULTS_OUTAGE_S");
  return v && *v ? std::max(1, std::atoi(v)) : 65;
}

long long steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           clock_type::now().time_since_epoch())
    .count();
}

/// faults.resume_after_broker_s: an in-process consumer (redis kind, default timing) runs 20 ms
/// tasks; redis-server (AOF, fsync always) is SIGKILLed while they flow, kept down, started on
/// the same port; one task is pushed as soon as it answers PING. Figure: seconds from that
/// PING to the first task started after the outage.
void resume_after_broker() {
  constexpr int n = 400;
  const int outage_s = outage_seconds();
  const std::string queue = "faults_resume";
  constexpr long long never = std::numeric_limits<long long>::max();
  std::atomic<long long> back_ns{never}, first_after_ns{0}, pushed_run_ns{0};
  std::atomic<int> runs{0};
  std::vector<std::atomic<int>> runs_of(n + 1); // task n: the one pushed at the return

  redis_server server{redis_server::config{.persistent = true}};
  progress("resume: redis-server (AOF, appendfsync always) on port "
           + std::to_string(server.port()));
  funboost::runtime rt;
  funboost::booster_options o;
  o.queue_name = queue;
  o.broker_kind = funboost::broker_kind::redis;
  o.broker.url = server.url(7);
  o.arg_names = {"i"};
  o.concurrent_num = 8;
  o.logging.level = funboost::log_level::off; // the outage's connection errors are expected
  o.logging.file_dir = "";
  o.logging.stats_interval = 0s;
  auto b = rt.boost(
    [&](int i) {
      auto now = steady_ns();
      if (now >= back_ns.load()) {
        long long none = 0;
        first_after_ns.compare_exchange_strong(none, now);
      }
      if (i == n)
        pushed_run_ns.store(now);
      runs_of.at(static_cast<std::size_t>(i)).fetch_add(1);
      runs.fetch_add(1);
      std::this_thread::sleep_for(20ms);
    },
    o);
  b.clear();
  int pushed = bench::fill(b, n, 1000);
  b.consume();
  auto fail = [&](const std::string& why) {
    b.stop();
    bench::report("faults.resume_after_broker_s", 999, "s", 5, "<=", "FAILED: " + why);
  };
  if (!test_support::wait_until([&] { return runs.load() >= 100; }, 30s))
    return fail("the consumer ran fewer than 100 tasks in 30 s before the outage");

  int ran_before = runs.load();
  server.stop(SIGKILL);
  progress("resume: redis-server SIGKILLed after " + std::to_string(ran_before)
           + " runs; down for " + std::to_string(outage_s) + " s");
  auto down_until = clock_type::now() + std::chrono::seconds{outage_s};
  while (clock_type::now() < down_until) {
    auto left = down_until - clock_type::now();
    std::this_thread::sleep_for(std::min<clock_type::duration>(15s, left));
    left = down_until - clock_type::now();
    if (left > 0s)
      progress("resume: " + fixed(std::chrono::duration<double>(left).count(), 0)
               + " s of outage left");
  }
  int ran_in_outage = runs.load() - ran_before;
  server.start(); // returns when PING answers (the AOF loaded)
  back_ns.store(steady_ns());
  redis_client client{server.port(), 7};
  long long waiting_at_return = client.integer({"LLEN", queue});
  auto push_t0 = clock_type::now();
  bool published = b.push(n).published();
  double push_s = seconds_since(push_t0);
  progress("resume: redis-server back; " + std::to_string(waiting_at_return)
           + " tasks waiting, one pushed in " + fixed(push_s, 3) + " s");

  bool resumed = test_support::wait_until([&] { return first_after_ns.load() != 0; }, 60s);
  bool pushed_ran = test_support::wait_until([&] { return pushed_run_ns.load() != 0; }, 60s);
  test_support::wait_until(
    [&] {
      for (auto& r : runs_of)
        if (r.load() == 0)
          return false;
      return true;
    },
    30s);
  b.stop();
  int distinct = 0;
  for (auto& r : runs_of)
    distinct += r.load() > 0 ? 1 : 0;
  auto since_back = [&](long long ns) {
    return fixed(static_cast<double>(ns - back_ns.load()) / 1e9, 2);
  };
  double figure = resumed ? static_cast<double>(first_after_ns.load() - back_ns.load()) / 1e9 : 999;
  std::string note
    = "in-process consumer (redis kind, concurrent_num 8, 20 ms tasks, default timing: "
      "restart_backoff 1 s doubling to broker_probe_interval 4 s); redis-server (AOF, "
      "appendfsync always) SIGKILLed after "
      + std::to_string(ran_before) + " runs, down " + std::to_string(outage_s) + " s ("
      + std::to_string(ran_in_outage) + " tasks started during it); at its return "
      + std::to_string(waiting_at_return) + " waiting; ";
  note += resumed ? "first task started " + fixed(figure, 2) + " s after it answered PING"
                  : "NO task started within 60 s of its return";
  note += "; the task pushed at the return (" + std::string{published ? "accepted" : "REFUSED"}
          + " in " + fixed(push_s, 3) + " s) started "
          + (pushed_ran ? since_back(pushed_run_ns.load()) + " s after" : "NOT within 60 s");
  note += "; " + std::to_string(distinct) + " of " + std::to_string(pushed + 1)
          + " tasks ran, " + std::to_string(runs.load() - distinct) + " duplicate runs";
  progress("resume: " + note);
  bench::report("faults.resume_after_broker_s", figure, "s", 5, "<=", note);
}

} // namespace

int main(int argc, char** argv) {
  if (argc == 8 && std::string{argv[1]} == consumer_flag)
    return consumer_main({argv[2], argv[3], std::stoi(argv[4]), argv[5], std::stoi(argv[7])},
                         std::stoi(argv[6]));
  std::string filter = argc > 1 ? argv[1] : "";
  auto wanted = [&](const std::string& name) { return name.find(filter) != std::string::npos; };
  std::vector<std::string> kinds;
  for (const char* kind : {funboost::broker_kind::redis, funboost::broker_kind::redis_stream,
#ifdef FAULTS_BENCH_RABBITMQ
                           funboost::broker_kind::rabbitmq
#endif
       })
    if (wanted(std::string{"faults.sigkill_loss."} + kind))
      kinds.emplace_back(kind);
  bool resume = wanted("faults.resume_after_broker_s");
  if (kinds.empty() && !resume)
    return 0;
  try {
    auto started = clock_type::now();
    if (!kinds.empty()) {
      redis_server records_server; // the records of every kind; the broker of the redis kinds
      redis_client records{records_server.port(), 7};
      progress("redis-server on port " + std::to_string(records_server.port()));
      funboost::runtime rt;
      for (const auto& kind : kinds) {
        if (kind != funboost::broker_kind::rabbitmq) {
          sigkill_loss(rt, records, records_server.port(), kind, records_server.url(7));
          continue;
        }
#ifdef FAULTS_BENCH_RABBITMQ
        auto t0 = clock_type::now();
        rabbitmq_test::rabbitmq_server rabbit;
        progress("rabbitmq-server on port " + std::to_string(rabbit.port()) + ", up in "
                 + fixed(seconds_since(t0)) + " s");
        sigkill_loss(rt, records, records_server.port(), kind, rabbit.url());
#endif
      }
    }
    if (resume)
      resume_after_broker();
    progress("done in " + fixed(seconds_since(started)) + " s");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "faults_bench: %s\n", e.what());
    return 1;
  }
}
