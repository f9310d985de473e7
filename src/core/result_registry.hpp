// In-process RPC results: push() in RPC mode registers a slot under its task id, the worker
// that finishes the task delivers into it (and a result store, for other processes' records). Sharded so pushes from many threads rarely contend.
#pragma once

#include <memory>
#include <string>

#include <funboost/async_result.hpp>

namespace funboost::detail {

class result_store;

/// Registers `slot` under slot->task_id until a worker delivers its outcome. Held weakly: a
/// slot whose async_result (and every other holder) is gone is forgotten.
void expect_result(std::shared_ptr<result_slot> slot);

/// A new RPC slot for `task_id` of `queue`, registered (before publishing: a fast consumer may
/// finish first) and, with a store, watched there for a record written by another process.
std::shared_ptr<result_slot> expect_rpc_result(const std::string& queue, std::string task_id,
                                               result_store* store);

/// The slot registered under `task_id` (waiting, or among the recently finished), or null.
std::shared_ptr<result_slot> find_result(const std::string& task_id);

/// The slot registered under `task_id`, or a new waiting one registered for it, in one step:
/// an outcome delivered between a failed find_result and expect_result would otherwise be
/// remembered apart from the new slot, which then waits forever. `created` says which.
std::shared_ptr<result_slot> find_or_expect_result(const std::string& task_id, bool& created);

/// Removes `slot` from the registry if it is still the one registered (a waiter gave up).
void forget_result(const std::shared_ptr<result_slot>& slot);

/// Entries in the waiting map, live or not yet swept (for tests: memory stays bounded).
std::size_t waiting_result_entries();

/// Delivers the final outcome of `task_id` to whoever waits for it, and keeps it among the
/// recently finished for a later lookup by task id.
void deliver_result(const std::string& task_id, bool ok, std::string result_json,
                    std::string exception_type, std::string exception_message,
                    std::string record_json = {});

} // namespace funboost::detail
