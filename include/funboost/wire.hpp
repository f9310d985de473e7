// funboost's message format (see docs/WIRE.md): arguments as top-level keys, control data in
// "extra". These helpers are what push() and publish() use; they are public for tools and tests.
#pragma once

#include <string>
#include <string_view>

#include <funboost/options.hpp>

namespace funboost {

/// A new UUIDv7 string, time-ordered like funboost's task ids.
std::string new_task_id();

/// Finishes a message whose arguments are already written: `body` holds `{` and the argument
/// key/value pairs (no trailing comma). Appends the "extra" object and the closing brace, and
/// returns the task id it used (options.task_id, or a new one).
std::string finish_message(std::string& body, const task_options& options,
                           int utc_offset_minutes);

/// Builds a message from a JSON object of keyword arguments (publish()). Throws
/// std::invalid_argument if `kwargs_json` is not a JSON object or already has "extra".
std::string message_from_kwargs(std::string_view kwargs_json, const task_options& options,
                                int utc_offset_minutes, std::string& task_id_out);

} // namespace funboost
