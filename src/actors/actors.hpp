// Every actor of one queue and every message it takes, in one place. Reading this file tells you
// the topology:
//
//   queue_supervisor ──monitors──> fetcher × conn_num      (detached; one broker connection each)
//         │                        dispatcher              (pull-based worker pool, credit, retries)
//         │                        worker × concurrent_num (detached; runs the user's function)
//         │                        rate_limiter            (QPS tokens on a schedule)
//         └──────────────────────  heartbeat               (detached; stats line, queue count)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/atom.hpp>
#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

namespace funboost::actors {

// -- atoms (CAF 0.17: at most 10 characters) -------------------------------------------------

using consume_atom = caf::atom_constant<caf::atom("consume")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using push_atom = caf::atom_constant<caf::atom("push")>;
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
using stats_atom = caf::atom_constant<caf::atom("stats")>;

// -- data ------------------------------------------------------------------------------------

/// One fetched message on its way through the queue's actors.
struct task {
  std::string body;
  uint64_t delivery_tag = 0;    // the broker's handle, valid on the fetching connection only
  uint32_t fetcher_slot = 0;    // which of the conn_num fetchers owns the delivery tag
  uint32_t fetcher_epoch = 0;   // which incarnation of it: acks for a dead one are dropped
  uint32_t attempts = 0;        // runs so far
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task& x) {
  return f(caf::meta::type_name("funboost.task"), x.body, x.delivery_tag, x.fetcher_slot,
           x.fetcher_epoch, x.attempts);
}

/// What became of one task after a worker ran it. Decided by the worker, obeyed by the
/// dispatcher.
enum class task_status : uint8_t {
  done,        // ran and succeeded: ack
  failed,      // threw on its last attempt: ack, count as failed
  retry,       // threw, attempts left: run again
  dead_letter, // bad message, or failed for good with dead-lettering on: move to {q}_dlx, ack
};

/// A batch handed to one worker. Shared so the dispatcher can retry it if the worker dies.
using task_batch = std::shared_ptr<std::vector<task>>;

/// Counters the dispatcher keeps; read by the heartbeat and by tests.
struct queue_stats {
  uint64_t done = 0;          // finished successfully
  uint64_t failed = 0;        // failed for good (retries exhausted)
  uint64_t dead_lettered = 0; // moved to the dead-letter queue
  uint64_t retried = 0;       // re-runs scheduled
  uint64_t in_flight = 0;     // fetched and not finished
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_stats& x) {
  return f(caf::meta::type_name("funboost.queue_stats"), x.done, x.failed, x.dead_lettered,
           x.retried, x.in_flight);
}

} // namespace funboost::actors

// Local-only messages between a queue's own actors: they never cross nodes, so they skip CAF's
// serialization (which would also copy the batch the dispatcher keeps for crash recovery).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(funboost::actors::task_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<funboost::actors::task_status>)

namespace funboost::actors {

// -- typed interfaces --------------------------------------------------------------------------

/// Runs batches of tasks; answers each batch with (done_atom, self, statuses, nanoseconds spent)
/// to the dispatcher.
using worker_actor = caf::typed_actor<caf::reacts_to<run_atom, task_batch>>;

/// Owns one broker connection; fetches only as much as it has credit for.
using fetcher_actor = caf::typed_actor<
  caf::reacts_to<credit_atom, uint32_t>,                 // may fetch this many more
  caf::reacts_to<fetch_atom>,                            // self: one bounded broker call
  caf::reacts_to<tick_atom>,                             // self: the park timer fired
  caf::reacts_to<ack_atom, std::vector<uint64_t>>,       // finished: ack these tags
  caf::reacts_to<requeue_atom, std::vector<task>>,       // unstarted: give back to the broker
  caf::reacts_to<dead_atom, std::vector<task>>,          // move to {queue}_dlx, then ack
  caf::reacts_to<drain_atom>,                            // graceful stop: fetch no more
  caf::reacts_to<stop_atom>>;                            // quit (after the acks before it)

/// The pull-based pool: buffers fetched tasks, grants credit, hands batches to idle workers.
using dispatcher_actor = caf::typed_actor<
  caf::reacts_to<deliver_atom, uint32_t, uint32_t, std::vector<task>>, // slot, epoch, tasks
  caf::reacts_to<join_atom, uint32_t, uint32_t, fetcher_actor>,        // slot, epoch, fetcher
  caf::reacts_to<credit_atom, uint32_t, uint32_t, uint32_t>, // slot, epoch, unused credit back
  caf::reacts_to<join_atom, worker_actor>,
  caf::reacts_to<done_atom, worker_actor, std::vector<task_status>, uint64_t>, // + ns spent
  caf::reacts_to<tokens_atom, uint32_t>,                              // QPS tokens granted
  caf::reacts_to<tick_atom>,                                          // self: delayed retries
  caf::replies_to<drain_atom>::with<bool>,   // graceful stop: answers when in-flight is zero
  caf::replies_to<stats_atom>::with<queue_stats>>;

/// Issues QPS tokens on a schedule to whoever asks; `want` replaces the outstanding demand.
using rate_limiter_actor = caf::typed_actor<
  caf::reacts_to<want_atom, uint32_t>,
  caf::reacts_to<tick_atom>>;

/// Logs the per-queue stats line on a timer.
using heartbeat_actor = caf::typed_actor<caf::reacts_to<tick_atom>>;

} // namespace funboost::actors
