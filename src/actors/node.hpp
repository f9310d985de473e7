// node: one per runtime, the address every other part talks to (CAF actors of the host
// application, other nodes, and later the HTTP gateway, gRPC service, CLI and web manager).
// It maps queue names to their boosters' supervisors and publishers and answers the public
// node_actor protocol (include/funboost/protocol.hpp): list queues, push kwargs by queue name,
// wait for a result by task id, stats, consume and stop. Scheduled: it only forwards and
// waits by message, never blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"
#include "actors/push_scheduler.hpp"
#include <funboost/async_result.hpp>

#include "core/queue_context.hpp"

namespace funboost::detail {
class result_store;
}

namespace funboost::actors {

/// What a booster tells the node about its queue.
struct queue_entry {
  queue_info info;                  // consuming is read live from ctx->consuming
  detail::queue_context_ptr ctx;
  queue_supervisor_actor supervisor; // null for a publish-only booster
  publisher_actor publisher;
};

} // namespace funboost::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(funboost::actors::queue_entry)

namespace funboost::actors {

using forget_atom = caf::atom_constant<caf::atom("forget")>;

/// The node as the runtime sees it: the public protocol plus registration and its own timers.
using node_internal_actor = node_actor::extend<
  caf::reacts_to<put_atom, queue_entry>,                 // a booster's queue joins
  caf::reacts_to<put_atom, push_scheduler_actor>,        // the runtime runs a scheduler
  caf::reacts_to<forget_atom, std::string, publisher_actor>, // that booster is gone
  caf::reacts_to<done_atom, std::string>,                // a watched result arrived (task id)
  caf::reacts_to<tick_atom, std::string, uint64_t>>;     // a result wait timed out

/// Waiters for one task's result.
struct result_wait {
  std::shared_ptr<detail::result_slot> slot;
  bool registered_here = false; // the node put the slot into the registry: it removes it
  std::vector<std::pair<uint64_t, caf::typed_response_promise<task_result>>> promises;
};

struct node_state {
  static inline const char* name = "funboost.node";
  // Not an aggregate: C++20 would let CAF construct an aggregate state from the actor pointer.
  node_state() = default;
  std::unordered_map<std::string, queue_entry> queues;
  std::unordered_map<std::string, result_wait> waits; // by task id
  uint64_t next_wait_id = 0;
  push_scheduler_actor push_scheduler; // null: this runtime runs no scheduler
};

node_internal_actor::behavior_type
node(node_internal_actor::stateful_pointer<node_state> self);

} // namespace funboost::actors
