// funboost's public actor protocol: every atom, message type, typed actor interface and error
// code that CAF code (your own actors, other nodes, the HTTP/gRPC/CLI services) uses to talk to
// a funboost runtime. Declared once, here, in one CAF type-ID block; register them all with
//   funboost::add_message_types(cfg);
// before creating an actor system that funboost borrows (funboost::runtime does it for the
// systems it owns).
//
//   node_actor              one per runtime: queues by name, push, results, stats, control
//   queue_supervisor_actor  one per consuming booster: consume, stop, push, stats
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/type_id.hpp>
#include <caf/typed_actor.hpp>

#include <funboost/options.hpp>

namespace funboost {

// -- error codes -----------------------------------------------------------------------------

/// What went wrong, in every error reply of the protocol (category "funboost"). The error's
/// context carries the text: which queue, which task, and what to do.
enum class ec : uint8_t {
  none = 0,
  bad_message,        // kwargs are not a JSON object, or an argument is missing or unknown
  kept_in_outbox,     // (push_receipt::status) the broker refused through every retry; the
                      // message is kept in the outbox and delivered when the broker is back
  broker_unreachable, // the broker could not be reached (count, clear, registry look-up)
  queue_stopped,      // the queue is stopping or stopped, or its booster is gone
  unknown_queue,      // no queue of that name in this runtime
  timeout,            // no result within the time asked for
  cancelled,          // the task or the wait was cancelled
  publish_only,       // the queue has no function in this runtime (rt.publisher): no consume
  interrupted,        // (task_result::exception_type "funboost::interrupted") the consumer
                      // stopped before the task returned (stop_timeout passed, or a second
                      // SIGINT); the task went back to the broker and runs again
  no_scheduler,       // scheduled pushes asked of a runtime that runs no scheduler
                      // (rt.run_scheduler(job_store_url) starts one)
  unknown_job,        // no scheduled job with that id
};

/// "unknown_queue" etc.: the enum's name, for logs and error rendering.
std::string to_string(ec code);

// -- message types ---------------------------------------------------------------------------

/// A queue this runtime knows: what node list replies with.
struct queue_info {
  std::string queue_name;
  std::string broker_kind;
  std::string function_name;                   // booster_options::function_name
  std::vector<std::string> arg_names;          // every parameter, in call order
  std::vector<std::string> optional_arg_names; // the parameters that may be left out
  int conn_num = 0;
  int concurrent_num = 0;
  double qps = 0;
  int max_retries = 0;
  bool is_using_rpc_mode = false;
  bool publish_only = false; // rt.publisher("queue"): pushes, never consumes
  bool consuming = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_info& x) {
  return f(caf::meta::type_name("funboost.queue_info"), x.queue_name, x.broker_kind,
           x.function_name, x.arg_names, x.optional_arg_names, x.conn_num, x.concurrent_num,
           x.qps, x.max_retries, x.is_using_rpc_mode, x.publish_only, x.consuming);
}

/// Counters of one queue since this process started consuming it.
struct queue_stats {
  std::string queue_name;
  bool consuming = false;
  uint64_t done = 0;          // finished successfully
  uint64_t failed = 0;        // failed for good (retries exhausted)
  uint64_t dead_lettered = 0; // moved to the dead-letter queue
  uint64_t retried = 0;       // re-runs scheduled
  uint64_t expired = 0;       // dropped unrun: older than msg_expire_seconds when fetched,
                              // or later than misfire_grace_time when its eta came
  uint64_t delayed = 0;       // countdown/eta not due when fetched: kept by the scheduler
  uint64_t filtered = 0;      // not run: the same arguments ran before (do_task_filtering)
  uint64_t timed_out = 0;     // runs that passed their function_timeout (each also counts as
                              // retried, failed or dead-lettered)
  uint64_t in_flight = 0;     // fetched and not finished: running + prefetched
  uint64_t running = 0;       // handed to a worker and not finished
  uint64_t prefetched = 0;    // fetched and waiting for a worker (or for a retry's delay)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_stats& x) {
  return f(caf::meta::type_name("funboost.queue_stats"), x.queue_name, x.consuming, x.done,
           x.failed, x.dead_lettered, x.retried, x.expired, x.delayed, x.filtered, x.timed_out,
           x.in_flight, x.running, x.prefetched);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_options& x) {
  return f(caf::meta::type_name("funboost.task_options"), x.task_id, x.max_retry_times,
           x.function_timeout, x.is_using_rpc_mode, x.msg_expire_seconds, x.countdown, x.eta,
           x.misfire_grace_time, x.do_task_filtering, x.filter_str);
}

/// What a push answers: the task id, and whether the broker holds the message or the outbox
/// keeps it for later (status ec::kept_in_outbox, detail says where and why). Not an error:
/// nothing is lost either way.
struct push_receipt {
  std::string task_id;
  ec status = ec::none;
  std::string detail;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, push_receipt& x) {
  return f(caf::meta::type_name("funboost.push_receipt"), x.task_id, x.status, x.detail);
}

/// A scheduled push (APScheduler's interval, date and cron triggers, as funboost's
/// ApsJobAdder uses them): pushes `kwargs_json` to `queue_name` whenever its trigger fires,
/// once per fire however many scheduler processes share the job store. Each fire's task id is
/// "{id}@{fire time, UTC ISO 8601}", so a fire pushed twice would show.
struct scheduled_job {
  enum class kind : uint8_t { interval, date, cron };
  std::string id;                  // "" when added: a new one is made (and answered)
  std::string queue_name;          // must have a booster or rt.publisher in the firing runtime
  std::string kwargs_json = "{}";  // the pushed task's arguments, e.g. {"x": 1}
  task_options options{};          // per-message options of each push (task_id is the fire's)
  kind trigger = kind::interval;
  double interval_seconds = 0;     // interval: every this long
  std::chrono::system_clock::time_point start{}; // interval: first fire (epoch: now + interval)
                                                 // date: the one fire
  std::string cron{};              // cron: 5 or 6 fields (seconds first), names, @macros
  std::string time_zone = "UTC";   // cron: an IANA zone, e.g. "Asia/Shanghai"
  bool paused = false;             // (listing) paused jobs keep their place and do not fire
  std::chrono::system_clock::time_point next_fire{}; // (listing) when it fires next
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scheduled_job& x) {
  return f(caf::meta::type_name("funboost.scheduled_job"), x.id, x.queue_name, x.kwargs_json,
           x.options, x.trigger, x.interval_seconds, x.start, x.cron, x.time_zone, x.paused,
           x.next_fire);
}

/// The final outcome of a task in RPC mode, as funboost's status record has it.
struct task_result {
  std::string task_id;
  std::string queue_name;
  bool success = false;
  std::string result_json;       // the function's return value as JSON ("null" on failure)
  std::string exception_type;    // empty on success
  std::string exception_message;
  std::string record_json;       // funboost's whole status record, when one was written
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_result& x) {
  return f(caf::meta::type_name("funboost.task_result"), x.task_id, x.queue_name, x.success,
           x.result_json, x.exception_type, x.exception_message, x.record_json);
}

} // namespace funboost

// -- the type-ID block: atoms and types, registered under these names on every node ----------
// (add_message_type<T> also registers std::vector<T>, e.g. the reply to queues_atom.)

CAF_BEGIN_TYPE_ID_BLOCK(funboost, caf::first_custom_type_id + 600)

  CAF_ADD_TYPE_ID(funboost, (funboost::ec))
  CAF_ADD_TYPE_ID(funboost, (funboost::queue_info))
  CAF_ADD_TYPE_ID(funboost, (funboost::queue_stats))
  CAF_ADD_TYPE_ID(funboost, (funboost::task_options))
  CAF_ADD_TYPE_ID(funboost, (funboost::push_receipt))
  CAF_ADD_TYPE_ID(funboost, (funboost::task_result))
  CAF_ADD_TYPE_ID(funboost, (funboost::scheduled_job))

  CAF_ADD_ATOM(funboost, funboost, consume_atom, "consume")
  CAF_ADD_ATOM(funboost, funboost, stop_atom, "stop")
  CAF_ADD_ATOM(funboost, funboost, push_atom, "push")
  CAF_ADD_ATOM(funboost, funboost, result_atom, "result")
  CAF_ADD_ATOM(funboost, funboost, stats_atom, "stats")
  CAF_ADD_ATOM(funboost, funboost, queues_atom, "queues")
  CAF_ADD_ATOM(funboost, funboost, schedule_atom, "schedule")
  CAF_ADD_ATOM(funboost, funboost, jobs_atom, "jobs")
  CAF_ADD_ATOM(funboost, funboost, pause_job_atom, "pausejob")
  CAF_ADD_ATOM(funboost, funboost, resume_job_atom, "resumejob")
  CAF_ADD_ATOM(funboost, funboost, remove_job_atom, "removejob")

CAF_END_TYPE_ID_BLOCK(funboost)

CAF_ERROR_CODE_ENUM(funboost::ec, "funboost")

namespace funboost {

// -- typed actor interfaces ------------------------------------------------------------------

/// One consuming queue. Errors: ec::bad_message (kwargs), ec::queue_stopped.
using queue_supervisor_actor = caf::typed_actor<
  caf::reacts_to<consume_atom>,                                   // start consuming
  caf::replies_to<stop_atom>::with<bool>,                         // graceful stop; true when done
  caf::replies_to<push_atom, std::string>::with<push_receipt>,    // kwargs JSON object
  caf::replies_to<push_atom, std::string, task_options>::with<push_receipt>,
  caf::replies_to<stats_atom>::with<queue_stats>>;

/// The node: one per runtime, the one address every other part talks to. Queue names are
/// funboost's; errors carry ec::unknown_queue, ec::bad_message, ec::timeout, ec::publish_only
using node_actor = caf::typed_actor<
  caf::replies_to<queues_atom>::with<std::vector<queue_info>>,    // every queue, by name
  caf::replies_to<push_atom, std::string, std::string, task_options>::with<push_receipt>,
                                                                  // queue, kwargs JSON, options
  caf::replies_to<result_atom, std::string, caf::timespan>::with<task_result>,
                                                                  // task id, longest wait
  caf::replies_to<stats_atom, std::string>::with<queue_stats>,    // queue
  caf::replies_to<consume_atom, std::string>::with<bool>,         // queue: start consuming
  caf::replies_to<stop_atom, std::string>::with<bool>,            // queue: graceful stop
  // Scheduled pushes (a runtime that runs a scheduler; else ec::no_scheduler):
  caf::replies_to<schedule_atom, scheduled_job>::with<std::string>, // add or replace: its id
  caf::replies_to<jobs_atom>::with<std::vector<scheduled_job>>,     // every job of the store
  caf::replies_to<pause_job_atom, std::string>::with<bool>,         // id; ec::unknown_job
  caf::replies_to<resume_job_atom, std::string>::with<bool>,
  caf::replies_to<remove_job_atom, std::string>::with<bool>>;

/// Registers every funboost message type and the "funboost" error category with `cfg`. Call it
/// once before constructing an actor system that funboost::runtime borrows, on every node.
void add_message_types(caf::actor_system_config& cfg);

} // namespace funboost
