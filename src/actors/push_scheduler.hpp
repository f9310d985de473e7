// push_scheduler: the runtime's scheduled pushes (one per runtime that runs a scheduler,
// rt.run_scheduler(job_store_url)), spawned by the runtime and reached through the node. It
// owns the job store (src/schedule/job_store.hpp): adds, lists, pauses, resumes and removes
// jobs, and fires them: on a timer for the earliest next fire it knows of (looking at the store
// at least every second, for jobs other processes added), it claims each due fire in the store
// (a compare-and-set, so one process of those sharing the store wins each fire) and pushes the
// job's message through the node, which knows the queue's booster or publisher. Jobs of queues
// this runtime does not know are left to processes that do. Detached: the store's calls block.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <spdlog/logger.h>

#include "actors/actors.hpp"
#include "actors/scheduler.hpp" // wall_clock
#include "schedule/job_store.hpp"

namespace funboost::actors {

using push_scheduler_actor = caf::typed_actor<
  caf::replies_to<schedule_atom, scheduled_job>::with<std::string>, // add or replace: its id
  caf::replies_to<jobs_atom>::with<std::vector<scheduled_job>>,
  caf::replies_to<pause_job_atom, std::string>::with<bool>,
  caf::replies_to<resume_job_atom, std::string>::with<bool>,
  caf::replies_to<remove_job_atom, std::string>::with<bool>,
  caf::reacts_to<tick_atom>>; // self: fire what is due

struct push_scheduler_state {
  static inline const char* name = "funboost.push_scheduler";
  // Not an aggregate: C++20 would let CAF construct an aggregate state from the actor pointer.
  push_scheduler_state() = default;
  std::shared_ptr<schedule::job_store> store;
  node_actor node;
  wall_clock now;
  std::shared_ptr<spdlog::logger> log;
  std::optional<double> tick_at; // when the timer set last fires (Unix s)
  bool firing = false;           // a fire pass waits for the node's queue list
  std::optional<caf::actor_clock::time_point> error_logged; // store failures: once a minute
  std::set<std::string> unknown_logged; // queues whose jobs this runtime cannot push
};

/// How often the scheduler looks at the store when it knows of no earlier fire.
inline constexpr std::chrono::seconds job_look_interval{1};

push_scheduler_actor::behavior_type
push_scheduler(push_scheduler_actor::stateful_pointer<push_scheduler_state> self,
               std::shared_ptr<schedule::job_store> store, node_actor node, wall_clock now,
               std::shared_ptr<spdlog::logger> log);

} // namespace funboost::actors
