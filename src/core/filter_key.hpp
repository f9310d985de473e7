// The value funboost's task filtering (do_task_filtering) keeps for a message: byte for byte the
// text Python funboost computes, so a C++ and a Python consumer of one queue share one filter.
//
// funboost (funboost/consumers/redis_filter.py, RedisFilter.generate_filter_str) takes the
// message's function arguments (every top-level key but "extra", funboost/core/helper_funs.py
// get_func_only_params), puts them in an OrderedDict in sorted key order and writes it with
// plain json.dumps: separators ", " and ": ", ensure_ascii, floats as Python's repr. Only the
// TOP level is sorted: nested objects keep the order they have in the message (json.dumps is
// called without sort_keys). A non-empty extra.filter_str replaces that text.
//
// Numbers are as funboost's parser (orjson) reads them: integers within int64/uint64 as written
// (-0 is 0), everything with a fraction or exponent as a float. orjson reads a larger integer as
// a float (18446744073709551616 -> 1.8446744073709552e+19); simdjson refuses such a message
// whole, so it never reaches this code.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace funboost::detail {

/// The filter text of `message`'s function arguments, as Python funboost writes it. Keys are
/// sorted by code point at the top level; a key given twice counts once, with its last value
/// (Python's dict; nested objects keep the first one's place). `{}` when there are none.
std::string filter_value(simdjson::dom::object message);

/// extra.filter_str when funboost would use it instead of the arguments: a non-empty string as
/// it is; a non-zero number as redis-py sends it (str(int), repr(float)). Anything else (absent,
/// null, "", 0, false) is nullopt: funboost then uses the arguments. funboost does not accept
/// true, arrays or objects there (redis-py refuses to send them and the check raises); this
/// returns nullopt for them too, so such a message is filtered by its arguments.
std::optional<std::string> filter_str_override(simdjson::dom::object message);

/// What funboost checks and adds for `message`: filter_str_override(), else filter_value().
std::string task_filter_value(simdjson::dom::object message);

/// Python's repr() of a float, which json.dumps writes for it: the shortest text that reads
/// back to the same double, "1.0", "0.1", "1e+16", "1.5e-07", "-0.0"; "inf", "-inf" and "nan"
/// for the non-finite (JSON has none, Python's json.dumps writes Infinity and NaN for them).
std::string python_float_repr(double value);

/// Appends `utf8` as Python's json.dumps writes a str (ensure_ascii=True): quoted; \" \\ \n \r
/// \t \b \f; other control characters, DEL and everything beyond ASCII as \uXXXX (lowercase
/// hex), characters beyond U+FFFF as a surrogate pair. A byte that is not valid UTF-8 (simdjson
/// never yields one) is written as \ufffd.
void append_python_json_string(std::string& out, std::string_view utf8);

} // namespace funboost::detail
