// Reads the per-message controls from a message's "extra" object (funboost's wire format),
// once, from the worker's parse of the message (see actors::task_controls).
#pragma once


#include <simdjson.h>

#include <funboost/options.hpp>

#include "actors/actors.hpp"

namespace funboost::detail {

/// The most retries one message may ask for (extra.max_retry_times).
inline constexpr int64_t max_message_retry_times = 10000;

/// The controls of `message` (a parsed JSON object), with the booster's defaults. A control
/// with an unacceptable value is named in `invalid`: the worker dead-letters such a task.
actors::task_controls read_task_controls(simdjson::dom::object message,
                                         const booster_options& options);

} // namespace funboost::detail
