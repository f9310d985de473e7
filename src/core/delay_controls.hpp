// funboost's delayed tasks as they appear on the wire: extra.countdown (seconds after
// publish_time), extra.eta (an absolute time) and extra.misfire_grace_time (seconds a fire may
// be late before the task is dropped instead).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/unix_time.hpp"

namespace funboost::detail {

/// An eta as Python funboost producers write it, in Unix seconds: a number (Unix seconds), or
/// text "YYYY-MM-DD HH:MM:SS" (funboost's format) or ISO 8601 "YYYY-MM-DDTHH:MM:SS", each with
/// optional fractional seconds and an optional zone ("Z", "+08:00", "+0800"). Text without a
/// zone is in funboost's time zone, `utc_offset_minutes` east of UTC. nullopt: not a time.
std::optional<double> parse_eta_text(std::string_view text, int utc_offset_minutes);

/// The message a delayed task becomes when due: `body` without extra.countdown and extra.eta,
/// as funboost republishes it (extra.misfire_grace_time stays: it means nothing without them,
/// and the Redis delay store reads it when firing).
std::string without_delay(std::string_view body);

} // namespace funboost::detail
