// Text that goes into log lines and error messages: broker URLs without their secrets.
#pragma once

#include <string>
#include <string_view>

namespace funboost::detail {

/// `url` with every secret replaced by "***", for logs, exceptions and error replies:
///   redis://:secret@host:6379/7      -> redis://:***@host:6379/7
///   amqp://user:secret@host/vhost    -> amqp://user:***@host/vhost   (the user stays)
///   redis://secret@host              -> redis://***@host   (Redis reads a lone name as password)
///   unix:///r.sock?db=3&password=s   -> unix:///r.sock?db=3&password=***
/// A URL without credentials comes back unchanged. When in doubt it hides too much rather
/// than too little (an unencoded '@' in a vhost hides the host as well).
std::string redact_url(std::string_view url);

} // namespace funboost::detail
