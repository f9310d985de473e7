// Text that goes into log lines and error messages: broker URLs without their secrets, and
// text from messages (bodies, task ids, results) that cannot break a line or its encoding.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace funboost::detail {

/// `url` with every secret replaced by "***", for logs, exceptions and error replies:
///   redis://:secret@host:6379/7      -> redis://:***@host:6379/7
///   amqp://user:secret@host/vhost    -> amqp://user:***@host/vhost   (the user stays)
///   redis://secret@host              -> redis://***@host   (Redis reads a lone name as password)
///   unix:///r.sock?db=3&password=s   -> unix:///r.sock?db=3&password=***
/// A URL without credentials comes back unchanged. When in doubt it hides too much rather
/// than too little (an unencoded '@' in a vhost hides the host as well). The result is escaped
/// as escape_for_log does: one line of valid UTF-8, whatever bytes the URL holds.
std::string redact_url(std::string_view url);

/// Unlimited length for escape_for_log.
inline constexpr std::size_t whole_text = std::string_view::npos;

/// `text` safe for one log line: valid UTF-8 stays as it is; bytes that are not UTF-8 and
/// control characters become \xNN (\n, \r, \t as such; C1 controls \u0080..\u009f), so a
/// message can neither break a line nor the encoding of the log file. Past `max_bytes` of
/// `text` it is cut at a character boundary and "... (N bytes)" says how long it was.
std::string escape_for_log(std::string_view text, std::size_t max_bytes = whole_text);

/// The length of the valid UTF-8 character (RFC 3629: no overlongs, no surrogates, at most
/// U+10FFFF) that starts at `text[i]`, or 0 if none does.
std::size_t utf8_char_length(std::string_view text, std::size_t i);

} // namespace funboost::detail
