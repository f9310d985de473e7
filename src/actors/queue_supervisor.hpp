// queue_supervisor: one per consuming booster. consume makes it spawn the queue's actors; it
// restarts a fetcher whose broker failed after a backoff (1 s doubling to broker_probe_interval,
// 4 s, reset once a fetch works: each restart is the cheap probe that notices the broker's
// return) and says when it is back, logs a broker that refuses the configuration (password,
// database, vhost) as such, replaces a crashed worker (and at once one the dispatcher let go
// of because its function passed its function_timeout), restarts the whole queue (after the same
// backoff) when the dispatcher, rate limiter or heartbeat dies, and runs the graceful stop: it
// waits for running tasks at most stop_timeout, then has the dispatcher give them back to the
// broker and lets their workers go. Its public interface is funboost::queue_supervisor_actor
// (include/funboost/protocol.hpp).
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"
#include "core/queue_context.hpp"

namespace funboost::actors {

struct fetcher_slot {
  fetcher_actor handle; // null while dead (waiting for its restart)
  uint32_t epoch = 0;
  std::chrono::milliseconds backoff{0};
  uint32_t failures = 0;                       // in a row, since the last fetch that worked
  caf::actor_clock::time_point failing_since{}; // the first of them: for "reconnected after"
  caf::actor_clock::time_point last_logged{};  // failures are logged at most once a minute
};

struct queue_supervisor_state {
  static inline const char* name = "funboost.queue_supervisor";
  // Not an aggregate: C++20 would let CAF construct an aggregate state from the actor pointer.
  queue_supervisor_state() = default;
  detail::queue_context_ptr ctx;
  publisher_actor publisher;    // pushes sent to the supervisor go through it
  bool running = false;         // consume asked for and no stop since
  bool stopping = false;
  bool drained = false;
  uint32_t stop_round = 0;      // stops so far: a deadline timer of an earlier stop does nothing
  bool giving_up = false;       // this stop's deadline passed: running tasks are given back
  bool restarting = false;      // the queue's actors died; a restart is scheduled
  std::chrono::milliseconds restart_backoff{0}; // for whole-queue restarts
  uint32_t restarts = 0;        // whole-queue restarts so far; the backoff resets after one
                                // has run restart_backoff_max without another
  dispatcher_actor dispatcher;
  rate_limiter_actor rate_limiter;
  heartbeat_actor heartbeat;
  scheduler_actor scheduler;
  std::vector<fetcher_slot> fetchers;
  // A configuration error is the same for every fetcher: logged once a minute per queue.
  std::optional<caf::actor_clock::time_point> config_error_logged;
  std::vector<worker_actor> workers;
  std::vector<caf::typed_response_promise<bool>> stop_promises;
};

supervisor_actor::behavior_type
queue_supervisor(supervisor_actor::stateful_pointer<queue_supervisor_state> self,
                 detail::queue_context_ptr ctx, publisher_actor publisher);

} // namespace funboost::actors
