// funboost's message format (see docs/WIRE.md): arguments as top-level keys, control data in
// "extra". These helpers are what push() and publish() use; they are public for tools and tests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <funboost/options.hpp>

namespace funboost {

/// extra.publish_time for an instant in Unix microseconds, as funboost writes it: Python's
/// round(t, 4) printed ("1774348711.2128", "1774348711.21", "1774348711.0"). `buf` holds the
/// text.
std::string_view publish_time_text(int64_t unix_micros, char (&buf)[32]);

/// A new UUIDv7 string, time-ordered like funboost's task ids.
std::string new_task_id();

/// Finishes a message whose arguments are already written: `body` holds `{` and the argument
/// key/value pairs (no trailing comma). Appends the "extra" object and the closing brace, and
/// returns the task id it used (options.task_id, or a new one).
std::string finish_message(std::string& body, const task_options& options,
                           int utc_offset_minutes);

/// The per-message options a message is written with: the caller's, plus the booster's RPC
/// mode, so that extra.is_using_rpc_mode tells every consumer (a Python one without RPC mode
/// included) to write the result.
inline task_options with_booster_rpc(task_options options, bool booster_rpc) {
  options.is_using_rpc_mode = options.is_using_rpc_mode || booster_rpc;
  return options;
}

/// Builds a message from a JSON object of keyword arguments (publish()). Throws
/// std::invalid_argument if `kwargs_json` is not a JSON object or already has "extra".
std::string message_from_kwargs(std::string_view kwargs_json, const task_options& options,
                                int utc_offset_minutes, std::string& task_id_out);

} // namespace funboost
