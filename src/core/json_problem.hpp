// What exactly is wrong with a message body that is not a JSON object, for the log line that
// dead-letters it: simdjson says only "Problem while parsing a number" or "too deep", with no
// position; this finds where, and names what a producer must fix.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace funboost::detail {

/// Parses a message body (funboost JSON) into its top-level object. On failure returns false
/// and sets `problem` to what is wrong, e.g.
///   "a number out of range at offset 5 (99999999999999999999): integers must fit in 64 bits, ..."
///   "nesting too deep: depth 1025 at offset 1024, the limit is 1024"
///   "invalid JSON at offset 7 (expected ',' or '}'): The JSON document has an improper ..."
///   "it is JSON but not an object: an array"
bool parse_message(simdjson::dom::parser& parser, const std::string& body,
                   simdjson::dom::object& out, std::string& problem);

/// The text `parse_message` gives for `text`, which simdjson refused with `error`.
std::string describe_json_error(std::string_view text, simdjson::error_code error,
                                std::size_t max_depth);

/// Where strict JSON (RFC 8259) in `text` first goes wrong, found by a walk that needs no
/// recursion (any nesting depth is safe): `found` false when the walk finds nothing wrong.
struct json_problem {
  bool found = false;
  std::size_t offset = 0;
  std::string what;      // "expected ':' after an object key", ...
  std::size_t depth = 0; // nesting depth at `offset`
  bool number_out_of_range = false;
  bool too_deep = false;
};
json_problem find_json_problem(std::string_view text, std::size_t max_depth);

} // namespace funboost::detail
