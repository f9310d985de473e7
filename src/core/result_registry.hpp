// In-process RPC results: push() in RPC mode registers a slot under its task id, the worker
// that finishes the task delivers into it. Sharded so pushes from many threads rarely contend.
#pragma once

#include <memory>
#include <string>

#include <funboost/async_result.hpp>

namespace funboost::detail {

/// Registers `slot` under slot->task_id until a worker delivers its outcome.
void expect_result(std::shared_ptr<result_slot> slot);

/// Delivers the final outcome of `task_id` if anyone expects it; false if no one does.
bool deliver_result(const std::string& task_id, bool ok, std::string result_json,
                    std::string exception_type, std::string exception_message);

} // namespace funboost::detail
