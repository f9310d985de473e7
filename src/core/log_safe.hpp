// log_safe{text}: a log argument that escape_for_log escapes only when the line is written,
// so a task's text costs nothing at a log level that drops the line.
#pragma once

#include <string_view>

#include <spdlog/fmt/fmt.h>

#include "core/log_text.hpp"

namespace funboost::detail {

/// Text from a message (a body, a task id, a result, an exception text) for a log argument.
struct log_safe {
  std::string_view text;
  std::size_t max_bytes = whole_text;
};

} // namespace funboost::detail

template <>
struct fmt::formatter<funboost::detail::log_safe> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const funboost::detail::log_safe& s, FormatContext& ctx) const
    -> decltype(ctx.out()) {
    auto text = funboost::detail::escape_for_log(s.text, s.max_bytes);
    return fmt::formatter<std::string_view>::format(text, ctx);
  }
};
