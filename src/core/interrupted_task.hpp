// Tasks whose function did not return in time: a stop gave up on them (stop_timeout), or they
// passed their function_timeout. Their worker still runs the function, so the dispatcher
// settles them (gives their messages back to the broker, or fails / retries them) and tells
// their RPC waiters. For a stop, the worker thread may still be writing the task's controls,
// so whatever is needed (task id, RPC flag) is read from a parse of the message of its own;
// this is rare (a stop that timed out), never on a task's normal path.
#pragma once

#include <string>

#include <caf/timespan.hpp>

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

/// A function_timeout in seconds as the actor clock's duration (absurd values capped at ~3
/// years rather than overflowing).
caf::timespan timeout_span(double seconds);

/// "queue 'q': task X ran longer than its function_timeout of 5 s"
std::string function_timeout_text(const std::string& queue, const std::string& task_id,
                                  double seconds);

/// The final failure of an RPC task that its worker cannot report (the dispatcher timed it
/// out): to this process's waiters and, with a result store, as funboost's status record.
/// `t`'s controls must be known. Does nothing for a task not in RPC mode.
void report_failure(const queue_context& ctx, const actors::task& t, std::string type,
                    std::string text, double seconds_running);

} // namespace funboost::detail
