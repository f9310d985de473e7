// Options a booster is created with: one plain aggregate, funboost's names, defaults that work.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace funboost {

/// How push() hands a message to the broker.
enum class publish_mode {
  // push() returns once the broker holds the message (one round trip on Redis, a confirm on
  // RabbitMQ; concurrent pushes share them). A crash after push() returned loses nothing.
  synchronous,
  // push() returns once the message is queued in this process; the publisher sends everything
  // pending as one pipelined batch. async_result::published() waits for the broker, flush()
  // (and stop(), and the booster's end) for every pending push. A process that crashes loses
  // what was still pending (at most pipeline_max_pending messages); a broker outage loses
  // nothing (retries, then the outbox, as in synchronous mode).
  pipelined,
};

/// Broker kinds known out of the box. Any other name can be registered with
/// funboost::register_broker (see broker.hpp) and used the same way.
namespace broker_kind {
inline constexpr const char* memory = "memory";  // in-process, the embedded default
inline constexpr const char* redis = "redis";    // funboost REDIS_ACK_ABLE (needs the redis broker)
inline constexpr const char* redis_stream = "redis_stream";
inline constexpr const char* rabbitmq = "rabbitmq";
} // namespace broker_kind

/// A transport option value: what the seed's `map[string]interface{}` carries.
using transport_value = std::variant<bool, long long, double, std::string>;

/// Where and how to reach the broker.
struct broker_options {
  std::string url{};                                      // e.g. "redis://127.0.0.1:6379/7"
  std::map<std::string, transport_value> transport_options{}; // broker-specific extras
  std::string outbox_dir = "funboost_outbox"; // {outbox_dir}/{queue}.outbox: pushes the broker refused
  bool register_queue = true; // write funboost's queue registry; publish-only boosters read it
};

enum class log_level { trace, debug, info, warn, error, off };

/// Logging: coloured console plus size-rotated files, as the seed's zap + lumberjack.
struct logging_options {
  log_level level = log_level::info;   // task start/finish lines are info, like funboost's
  std::string file_dir = "logs";       // "" disables file logging
  std::size_t max_file_bytes = 10 * 1024 * 1024;
  std::size_t max_files = 5;
  std::chrono::seconds stats_interval{10}; // per-queue done/failed/rate/remaining line
  std::chrono::seconds long_task_warning{60}; // the stats line names tasks running longer; 0 = never
};

/// Everything a queue is configured with. Designated initializers work:
///   rt.boost(add, {.queue_name = "q", .concurrent_num = 8, .qps = 20});
struct booster_options {
  std::string queue_name{};                     // required
  std::string broker_kind = broker_kind::memory;
  int conn_num = 1;                             // broker connections fetching for this queue
  int concurrent_num = 50;                      // workers running the function
  double qps = 0;                               // task starts per second; 0 = unlimited
  int max_retries = 3;                          // re-runs after a throw; attempts = max_retries + 1
  bool is_using_rpc_mode = false;               // keep results so async_result::get() can read them
  bool dead_letter_on_failure = false;          // also move tasks that exhausted retries to {queue}_dlx
  // A message published longer ago than this when a worker gets it is dropped (acked, not run,
  // logged), as funboost's msg_expire_seconds; 0 = never. extra.msg_expire_seconds overrides it.
  double msg_expire_seconds = 0;
  // funboost's do_task_filtering: a task whose arguments (or extra.filter_str) already ran is
  // not run again: acked, logged, an RPC waiter told funboost::filtered. The values are kept in
  // funboost's keys (filter_set:{q}, or filter_zset:{q} with an expiry) in the results db
  // when the queue has a Redis result store, so C++ and Python consumers filter together;
  // else in this process. Per message: task_options::do_task_filtering / extra.
  bool do_task_filtering = false;
  double task_filtering_expire_seconds = 0;     // a value is forgotten this long after; 0 = never
  // A task that was running when its consumer process died this many times (a segfault or
  // abort, not a throw) goes to {queue}_dlx instead of killing the next consumer too. Counted
  // by the broker (redis: with the unacked entry); 0 = never.
  int max_crash_deliveries = 3;
  // funboost's function_timeout: a task whose function runs longer than this many seconds
  // fails with funboost::function_timeout and is retried by max_retries; 0 = no limit.
  // extra.function_timeout (task_options::function_timeout) overrides it when truthy. C++
  // cannot stop a thread: in-process, the function is asked to stop (funboost::stop_requested(),
  // funboost/task_context.hpp) and its worker thread is abandoned and replaced; with
  // process_isolation the function's process is killed.
  double function_timeout = 0;
  // Each task runs in a child process made with fork(): a crash (segfault, abort) or a kill of
  // the child fails only that task (funboost::crashed), and a function_timeout kills it
  // (SIGKILL). Costs a fork per task; the child must only run the function (see the README).
  bool process_isolation = false;
  std::vector<std::string> arg_names{};         // default arg0, arg1, ...
  std::vector<std::string> optional_arg_names{}; // filled in by boost(): the std::optional ones
  std::string function_name{};                  // in funboost's registry (faas); default: queue_name
  // RPC results: "" = funboost's default, the queue's Redis with db 8 when the broker is a
  // Redis kind, else in-process only; "redis://host:port/8" for another Redis; "in-process".
  std::string result_store_url{};
  std::chrono::seconds rpc_result_expire{1800}; // funboost's rpc_result_expire_seconds
  broker_options broker{};
  logging_options logging{};

  // Tuning; the defaults follow DESIGN.md.
  int prefetch_per_worker = 2;                  // fetched-but-unfinished tasks per worker
  std::chrono::milliseconds fetch_wait{1000};   // longest single blocking broker call
  std::chrono::milliseconds restart_backoff{1000};     // first fetcher restart delay, doubling
  std::chrono::milliseconds restart_backoff_max{60000};
  // A fetcher whose broker is down retries at least this often (a connect, cheap), so
  // consuming resumes within about this long of the broker's return after any outage.
  std::chrono::milliseconds broker_probe_interval{4000};
  std::chrono::milliseconds retry_delay{0};     // pause before re-running a failed task
  // Backoff (funboost's advanced_retry_config): retry n (1, 2, ...) waits retry_delay x
  // retry_multiplier^(n-1), at most retry_delay_max; with retry_jitter x a random 0.5 .. 1.5
  // (still at most the max). Held by the dispatcher, never a sleeping worker.
  double retry_multiplier = 1.0;
  std::chrono::milliseconds retry_delay_max{60000};
  bool retry_jitter = false;
  // A graceful stop waits this long for running tasks, then gives them back to the broker (so
  // another consumer runs them) and abandons their worker threads; 0 = give them back at once.
  std::chrono::milliseconds stop_timeout{30000};
  funboost::publish_mode publish_mode = funboost::publish_mode::synchronous;
  // pipelined mode: pushes beyond this many waiting for the broker block until it catches up
  std::size_t pipeline_max_pending = 100000;
  int publish_retries = 3;                      // seed: retry a failed push 3 times, 5 s apart
  std::chrono::milliseconds publish_retry_interval{5000}; // also the outbox replay period
  int publish_time_utc_offset_minutes = 480;    // publish_time_format zone; funboost: Asia/Shanghai
};

/// Per-message options for publish(); funboost applies each only when set.
struct task_options {
  std::string task_id{};                        // empty = a new UUIDv7
  int max_retry_times = -1;                     // -1 = the booster's max_retries
  double function_timeout = 0;                  // > 0: overrides the booster's for this task
  bool is_using_rpc_mode = false;               // true forces RPC for this task
  double msg_expire_seconds = 0;                // > 0: overrides the booster's for this task
  // Delayed tasks (funboost's countdown / eta): the task runs this many seconds after its
  // publish, or at `eta`; not both. Kept by the consumer's scheduler until then (in Redis for
  // the Redis kinds: they survive restarts), then run once.
  double countdown = 0;                         // seconds; 0 = at once
  std::chrono::system_clock::time_point eta{};  // the epoch (default) = not set
  // A delayed task fired more than this many seconds after its time is dropped (logged,
  // acked, an RPC waiter told funboost::misfired); 0 = runs however late.
  double misfire_grace_time = 0;
  bool do_task_filtering = false;               // true: filtered even if the booster is not
  std::string filter_str{};                     // filter on this text instead of the arguments
};

} // namespace funboost
