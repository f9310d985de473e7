// Reads the per-message controls from a message's "extra" object (funboost's wire format),
// once, from the worker's parse of the message (see actors::task_controls).
#pragma once


#include <simdjson.h>

#include <funboost/options.hpp>

#include "actors/actors.hpp"

namespace funboost::detail {

/// The controls of `message` (a parsed JSON object), with the booster's defaults.
actors::task_controls read_task_controls(simdjson::dom::object message,
                                         const booster_options& options);

} // namespace funboost::detail
