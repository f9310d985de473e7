// dispatcher: the pull-based worker pool. It grants fetchers credit so that nothing is fetched
// that no worker can start soon, buffers what they deliver, hands batches to idle workers (one
// task per QPS token when qps is set), routes acks back to the fetcher that received each
// message, re-runs failed tasks, and on a graceful stop waits for in-flight tasks (at most
// until the supervisor says stop_timeout passed: then it gives back what still runs). It also
// decides function_timeouts on its clock: a task running past its deadline is failed or
// retried here, its stop token requested, and its worker let go of (the supervisor replaces it).
#pragma once

#include <chrono>
#include <deque>
#include <unordered_map>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/actor_clock.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"
#include "core/queue_context.hpp"

namespace funboost::actors {

/// One connection slot. Its fetcher may die and be replaced (a new epoch); when the new
/// connection continues the old one's consumer identity (the broker says so, see
/// broker_connection::continues_previous), tasks fetched since `identity_since` can still be
/// acked through it. Until the new connection says whether it does, the slot's unstarted tasks
/// and its finished tasks' acks wait here: run or acked on a connection that lost them, they
/// would run twice.
struct fetcher_link {
  fetcher_actor handle;        // null while the fetcher is dead
  uint32_t epoch = 0;          // of the fetcher that joined last
  uint32_t credit = 0;         // granted and not yet delivered
  uint32_t identity_since = 0; // tasks of older epochs can no longer be acked on this slot
  uint32_t confirmed = 0;      // the epoch whose connection said whether it continues
  std::vector<task> orphans;   // unstarted tasks of a dead fetcher, waiting for that answer
  std::vector<uint64_t> held_acks; // finished tasks of a dead fetcher, waiting likewise
  std::vector<task> held_dead;
  std::vector<task> held_back;
};

struct busy_worker {
  worker_actor handle;
  task_batch batch;
  caf::actor_clock::time_point started; // on the actor's clock: long-task warnings, stop deadline
  task_run_ptr run; // the batch's stop source, shared with the worker
  // When its function_timeout runs out (the worker said its task started); max = none.
  caf::actor_clock::time_point deadline = caf::actor_clock::time_point::max();
  caf::timespan timeout{0};
};

struct delayed_task {
  caf::actor_clock::time_point due; // on the actor's clock: tests drive it
  task item;
  bool give_back = false; // when due: back to the broker (requeue_task), not to a worker
};

struct dispatcher_state {
  static inline const char* name = "funboost.dispatcher";
  // Not an aggregate: C++20 would let CAF construct an aggregate state from the actor pointer.
  dispatcher_state() = default;
  detail::queue_context_ptr ctx;
  rate_limiter_actor rate_limiter; // null when qps is unlimited
  scheduler_actor scheduler;       // keeps tasks whose countdown/eta is not due yet
  worker_keeper_actor keeper;      // the supervisor: replaces workers let go of at a timeout
  std::vector<fetcher_link> fetchers;
  std::deque<task> pending;
  // Suspects: tasks that were running when a consumer process died (crash_deliveries > 0).
  // Each runs alone, marked on its connection, so a second death is blamed on it alone.
  std::deque<task> suspects;
  bool suspect_running = false;
  caf::actor_addr suspect_worker;
  std::vector<worker_actor> idle;
  std::unordered_map<caf::actor_addr, busy_worker> busy;
  std::deque<delayed_task> delayed; // retries (retry_delay), requeued tasks (requeue_pause), by due
  bool tick_scheduled = false;
  caf::actor_clock::time_point tick_due; // when the scheduled tick fires
  bool deadline_scheduled = false;
  caf::actor_clock::time_point deadline_due; // when the scheduled function_timeout check fires
  uint32_t tokens = 0;              // QPS tokens in hand
  uint32_t wanted = 0;              // demand last told to the rate limiter
  uint32_t in_flight = 0;           // delivered by fetchers and not finished
  double task_ns = -1;              // moving average of one task's run time; < 0 = not known yet
  queue_stats stats;
  bool draining = false;
  caf::typed_response_promise<bool> drained;
};

dispatcher_actor::behavior_type
dispatcher(dispatcher_actor::stateful_pointer<dispatcher_state> self,
           detail::queue_context_ptr ctx, rate_limiter_actor rate_limiter,
           scheduler_actor scheduler, worker_keeper_actor keeper);

} // namespace funboost::actors
