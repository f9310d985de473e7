// Every actor of one queue and every message it takes, in one place. Reading this file tells you
// the topology:
//
//   queue_supervisor ──monitors──> fetcher × conn_num      (detached; one broker connection each)
//         │                        dispatcher              (pull-based worker pool, credit, retries)
//         │                        worker × concurrent_num (detached; runs the user's function)
//         │                        rate_limiter            (QPS tokens on a schedule)
//         │                        scheduler               (detached; delayed tasks until due)
//         └──────────────────────  heartbeat               (detached; stats line, queue count)
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/atom.hpp>
#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include <funboost/delay_store.hpp>
#include <funboost/protocol.hpp>

namespace funboost::actors {

// -- atoms (CAF 0.17: at most 10 characters) -------------------------------------------------
// The public ones (consume, stop, push, result, stats, queues) are in funboost/protocol.hpp;
// these are private to a queue's own actors.

using credit_atom = caf::atom_constant<caf::atom("credit")>;
using fetch_atom = caf::atom_constant<caf::atom("fetch")>;
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using requeue_atom = caf::atom_constant<caf::atom("requeue")>;
using dead_atom = caf::atom_constant<caf::atom("deadletter")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using join_atom = caf::atom_constant<caf::atom("join")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using want_atom = caf::atom_constant<caf::atom("want")>;
using tokens_atom = caf::atom_constant<caf::atom("tokens")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using healthy_atom = caf::atom_constant<caf::atom("healthy")>;
using connected_atom = caf::atom_constant<caf::atom("connected")>;
using broken_atom = caf::atom_constant<caf::atom("broken")>;
using undone_atom = caf::atom_constant<caf::atom("undone")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using replay_atom = caf::atom_constant<caf::atom("replay")>;
using put_atom = caf::atom_constant<caf::atom("put")>;
using dispatch_atom = caf::atom_constant<caf::atom("dispatch")>;
using maintain_atom = caf::atom_constant<caf::atom("maintain")>;
using stable_atom = caf::atom_constant<caf::atom("stable")>;
using mark_atom = caf::atom_constant<caf::atom("mark")>;
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;
using abandon_atom = caf::atom_constant<caf::atom("abandon")>;
using flush_acks_atom = caf::atom_constant<caf::atom("flushacks")>;
using delay_atom = caf::atom_constant<caf::atom("delay")>;
using started_atom = caf::atom_constant<caf::atom("started")>;

// -- data ------------------------------------------------------------------------------------

/// The per-message controls of one task, read from its "extra" once, by the worker's one parse
/// of the message, before the function runs; kept with the task, so every actor after it (the
/// dispatcher retrying a crashed worker's task, the result store) obeys the same values.
/// (Not at fetch: a second parse on the fetcher's thread, the pipeline's single-threaded
/// stage, halved memory.e2e. See docs/ARCHITECTURE.md.)
struct task_controls {
  std::string task_id;     // extra.task_id; a new UUIDv7 if the message has none
  int max_retries = 0;     // extra.max_retry_times when truthy, else the booster's max_retries
  bool rpc = false;        // extra.is_using_rpc_mode when truthy, else the booster's
  double expire_seconds = 0; // extra.msg_expire_seconds when truthy, else the booster's
  double publish_time = 0;   // extra.publish_time (Unix seconds); 0 when the message has none
  double run_at = 0;         // Unix seconds: extra.eta, or publish_time + extra.countdown; 0 = now
  double misfire_grace = 0;  // extra.misfire_grace_time: seconds a delayed run may be late
  double function_timeout = 0; // extra.function_timeout when truthy, else the booster's; 0 = none
  bool filtering = false;    // do_task_filtering (extra's when truthy, else the booster's)
  std::string filter_value;  // what the filter checks and keeps (core/filter_key.hpp)
  bool known = false;      // read yet (a task no worker has started has not been)
  std::string invalid;     // why a per-message control is unacceptable ("" = all fine)
};

/// One fetched message on its way through the queue's actors.
struct task {
  std::string body;
  uint64_t delivery_tag = 0;    // the broker's handle, valid on the fetching connection only
  uint32_t fetcher_slot = 0;    // which of the conn_num fetchers owns the delivery tag
  uint32_t fetcher_epoch = 0;   // which incarnation of it: acks for a dead one are dropped
  uint32_t attempts = 0;        // runs so far
  uint32_t crash_deliveries = 0; // consumer processes that died running it (broker's count)
  task_controls controls;
  // Why the worker dead-lettered it. The dispatcher writes it into the body once the worker's
  // verdict arrived: while the task runs, the dispatcher may read the body (the stats line).
  std::string dead_letter_reason;
  // A delayed task's message as it runs when due (without countdown and eta), made by the
  // worker that found it not due; the dispatcher hands it to the scheduler.
  std::string delayed_body;
  // This run passed its function_timeout (counted in queue_stats::timed_out): set by the
  // dispatcher when it settles a timed-out task, or by a process-isolated worker that killed it.
  bool timed_out = false;
};

/// What became of one task after a worker ran it. Decided by the worker, obeyed by the
/// dispatcher.
enum class task_status : uint8_t {
  done,        // ran and succeeded: ack
  failed,      // threw on its last attempt: ack, count as failed
  retry,       // threw, attempts left: run again
  dead_letter, // bad message, or failed for good with dead-lettering on: move to {q}_dlx, ack
  expired,     // older than msg_expire_seconds when a worker got it: not run, ack
  requeue,     // the function threw requeue_task: back to the broker after a pause, no retry
  delayed,     // countdown/eta not due yet: kept by the scheduler (task::delayed_body), then ack
  filtered,    // do_task_filtering: the same arguments ran before; not run, ack
  not_started, // the worker stopped its batch before it: a task with a function_timeout runs
               // alone, so it and the tasks after it are handed out again, uncounted
};

/// A batch handed to one worker. Shared so the dispatcher can retry it if the worker dies.
using task_batch = std::shared_ptr<std::vector<task>>;

/// One hand-out of a batch to a worker, shared by the dispatcher's busy-worker record and the
/// worker while the batch runs. `stop` is the source of the token the function polls
/// (funboost::stop_requested()): a function_timeout and a stop that gave up waiting request it,
/// and so can any later feature that must stop a running task (a cancel).
struct task_run {
  std::stop_source stop;

  /// True for the first caller only. A timed task is settled by whoever claims it first: the
  /// worker when the function returned, or the dispatcher when its deadline passed. The loser
  /// leaves the task alone (the worker then reports nothing and ends).
  bool claim() noexcept { return !claimed_.exchange(true, std::memory_order_acq_rel); }

private:
  std::atomic<bool> claimed_{false};
};

using task_run_ptr = std::shared_ptr<task_run>;

/// A batch a worker has been running longer than logging.long_task_warning (for the stats line).
struct long_running {
  std::vector<std::string> task_ids; // one, unless fast tasks were batched together
  caf::timespan running_for;
};

} // namespace funboost::actors

// Local-only messages between a queue's own actors: they never cross nodes, so they skip CAF's
// serialization (which would also copy the batch the dispatcher keeps for crash recovery).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(funboost::actors::task_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(funboost::actors::task_run_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<funboost::actors::task_status>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<funboost::actors::task>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<funboost::actors::long_running>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<funboost::delayed_message>)

namespace funboost::actors {

// -- typed interfaces --------------------------------------------------------------------------

/// Runs batches of tasks; answers each batch with (done_atom, self, statuses, nanoseconds spent)
/// to the dispatcher. Before a task with a function_timeout calls the function, it tells the
/// dispatcher (started_atom), which decides the timeout on its clock.
using worker_actor = caf::typed_actor<caf::reacts_to<run_atom, task_batch, task_run_ptr>>;

/// Who owns the workers (the supervisor), as the dispatcher sees it: told of a worker the
/// dispatcher let go of because its function passed its function_timeout, so it is counted as
/// abandoned and replaced at once.
using worker_keeper_actor = caf::typed_actor<caf::reacts_to<abandon_atom, worker_actor>>;

/// Owns one broker connection; fetches only as much as it has credit for.
using fetcher_actor = caf::typed_actor<
  caf::reacts_to<connected_atom>,                        // self, first: open the connection
  caf::reacts_to<credit_atom, uint32_t>,                 // may fetch this many more
  caf::reacts_to<fetch_atom>,                            // self: one bounded broker call
  caf::reacts_to<tick_atom>,                             // self: the park timer fired
  caf::reacts_to<ack_atom, std::vector<uint64_t>>,       // finished: ack these tags
  caf::reacts_to<flush_acks_atom>,                       // self: ack what came, in one call
  caf::reacts_to<requeue_atom, std::vector<task>>,       // unstarted: give back to the broker
  caf::reacts_to<dead_atom, std::vector<task>>,          // move to {queue}_dlx, then ack
  caf::replies_to<mark_atom, uint64_t>::with<bool>,      // a suspect runs alone: mark it
  caf::reacts_to<drain_atom>,                            // graceful stop: fetch no more
  caf::reacts_to<broken_atom>,  // the dispatcher sends nothing more after this: now it may die
  caf::reacts_to<stop_atom>>;                            // quit (after the acks before it)

/// The pull-based pool: buffers fetched tasks, grants credit, hands batches to idle workers.
using dispatcher_actor = caf::typed_actor<
  caf::reacts_to<deliver_atom, uint32_t, uint32_t, std::vector<task>>, // slot, epoch, tasks
  caf::reacts_to<join_atom, uint32_t, uint32_t, fetcher_actor>,        // slot, epoch, fetcher
  caf::reacts_to<connected_atom, uint32_t, uint32_t, bool>, // slot, epoch, continues previous
  caf::reacts_to<broken_atom, uint32_t, uint32_t, fetcher_actor>, // its connection failed
  // Verdicts a broken fetcher could not carry out (slot, acks, dead letters, give-backs): held
  // for the slot's next connection.
  caf::reacts_to<undone_atom, uint32_t, std::vector<uint64_t>, std::vector<task>,
                 std::vector<task>>,
  caf::reacts_to<credit_atom, uint32_t, uint32_t, uint32_t>, // slot, epoch, unused credit back
  caf::reacts_to<join_atom, worker_actor>,
  caf::reacts_to<done_atom, worker_actor, std::vector<task_status>, uint64_t>, // + ns spent
  // worker: its one task's function starts now and may run this long (its function_timeout)
  caf::reacts_to<started_atom, worker_actor, caf::timespan>,
  caf::reacts_to<deadline_atom>,            // self: the earliest function_timeout may be due
  caf::reacts_to<tokens_atom, uint32_t>,                              // QPS tokens granted
  caf::reacts_to<tick_atom>,                                          // self: delayed retries
  caf::replies_to<drain_atom>::with<bool>,   // graceful stop: answers when in-flight is zero
  // stop_timeout passed: gives back to the broker what workers still run, ends the drain, and
  // answers the workers it let go of (their function has not returned)
  caf::replies_to<abandon_atom>::with<std::vector<worker_actor>>,
  caf::replies_to<stats_atom>::with<queue_stats>,
  // the stats line: the counters and the batches running longer than this
  caf::replies_to<stats_atom, caf::timespan>::with<queue_stats, std::vector<long_running>>>;

/// Issues QPS tokens on a schedule to whoever asks; `want` replaces the outstanding demand.
using rate_limiter_actor = caf::typed_actor<
  caf::reacts_to<want_atom, uint32_t>,
  caf::reacts_to<tick_atom>>;

/// Keeps the queue's delayed tasks (countdown, eta) in the broker's delay store and fires each
/// when due (detached: the store's calls block). Fires on a timer for the earliest it knows of,
/// and looks at the store at least once a second for ones other processes kept.
using scheduler_actor = caf::typed_actor<
  caf::replies_to<delay_atom, std::vector<delayed_message>>::with<bool>, // answers once kept
  caf::reacts_to<tick_atom>>;                                            // self: fire what is due

/// Runs the broker's upkeep and logs the per-queue stats line, each on its timer.
using heartbeat_actor = caf::typed_actor<
  caf::reacts_to<tick_atom>,                // the stats line is due
  caf::reacts_to<maintain_atom, uint64_t>>; // broker upkeep round (0: woken by the broker)

/// The supervisor as its own children see it: the public interface plus what they report.
using supervisor_actor = queue_supervisor_actor::extend<
  caf::reacts_to<healthy_atom, uint32_t>,           // fetcher: a fetch worked, reset backoff
  caf::reacts_to<restart_atom, uint32_t>,           // self: restart the fetcher in this slot
  caf::reacts_to<restart_atom>,                     // self: restart the queue's actors
  caf::reacts_to<stable_atom, uint32_t>,            // self: no restart for a while since #n
  caf::reacts_to<deadline_atom, uint32_t>,          // self: stop #n reached its stop_timeout
  caf::reacts_to<abandon_atom, worker_actor>,       // dispatcher: a function_timeout let it go
  // stop, giving back what still runs after this long (0: at once; the runtime's 2nd signal)
  caf::replies_to<stop_atom, caf::timespan>::with<bool>,
  caf::replies_to<dispatch_atom>::with<dispatcher_actor>>; // tests: the current dispatcher

/// Publishes one booster's messages (detached: broker calls block). Retries are timers to
/// self; what still fails goes to the outbox file, replayed on a timer. While the broker is
/// down, pushes go straight to the outbox and the replay timer is the probe.
using publisher_actor = caf::typed_actor<
  caf::replies_to<push_atom, std::vector<std::string>, std::vector<std::string>>::with<
    std::vector<push_receipt>>,                     // bodies, their task ids
  caf::replies_to<retry_atom, std::vector<std::string>, std::vector<std::string>,
                  std::string>::with<
    std::vector<push_receipt>>,                     // the same, refused once already: why
  caf::reacts_to<retry_atom>,                       // self: try the waiting batches again
  caf::reacts_to<replay_atom>>;                     // self: replay the outbox (or probe)

} // namespace funboost::actors
