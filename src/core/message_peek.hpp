// A look into a message body before (or without) the worker's parse: for the rare paths that
// must name a task early, e.g. a poison task at fetch time or one blamed by crash recovery.
#pragma once

#include <string>
#include <string_view>

namespace funboost::detail {

/// extra.task_id of a message body, or "(unknown)" if it has none or is not JSON.
std::string task_id_of(std::string_view body);

} // namespace funboost::detail
