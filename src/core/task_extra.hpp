// Reads the per-message controls from a message's "extra" object (funboost's wire format),
// once, when the message is fetched (see actors::task_controls).
#pragma once

#include <string>

#include <simdjson.h>

#include <funboost/options.hpp>

#include "actors/actors.hpp"

namespace funboost::detail {

/// The controls of `message` (a parsed JSON object), with the booster's defaults.
actors::task_controls read_task_controls(simdjson::dom::object message,
                                         const booster_options& options);

/// Parses `body` with `parser` and reads its controls; a body that is not a JSON object gets
/// is_object = false (and a fresh task id, so logs can name it).
actors::task_controls read_task_controls(simdjson::dom::parser& parser, const std::string& body,
                                         const booster_options& options);

} // namespace funboost::detail
