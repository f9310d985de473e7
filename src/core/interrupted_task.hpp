// Tasks a stop gives up on: their worker still runs the function (it did not return by
// stop_timeout), so the dispatcher gives their messages back to the broker and tells their RPC
// waiters. The worker thread owns the task's controls meanwhile, so whatever is needed (task
// id, RPC flag) is read from a parse of the message of its own; this is rare (a stop that
// timed out), never on a task's normal path.
#pragma once

#include <string>

#include "actors/actors.hpp"
#include "core/queue_context.hpp"

namespace funboost::detail {

/// The controls of a message a worker may still be running. task_id is empty when the message
/// has none (the worker made one up) and `known` false when it is not a JSON object.
actors::task_controls controls_of_running(const std::string& body,
                                          const booster_options& options);

/// In RPC mode, finishes the task's waiters with a failure of type "funboost::interrupted"
/// (in this process, and as funboost's status record in the result store for the others).
/// Does nothing for a task not in RPC mode.
void report_interrupted(const queue_context& ctx, const std::string& body,
                        const actors::task_controls& controls, double seconds_running);

} // namespace funboost::detail
