// Why a message went to {queue}_dlx, written into the message itself, so whoever inspects the
// dead-letter queue (or re-pushes its messages after a fix) sees the reason next to the task.
#pragma once

#include <string>
#include <string_view>

namespace funboost::detail {

/// `body` with "dead_letter_reason": `reason` added first inside its "extra" object (one is
/// added when it has none). Inside extra, not at the top level: top-level keys are the
/// function's arguments, and funboost rejects unknown ones. A body that is not a JSON object
/// comes back unchanged (it goes to the dead-letter queue as it came).
std::string with_dead_letter_reason(std::string_view body, std::string_view reason);

} // namespace funboost::detail
