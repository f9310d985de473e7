// What the fuzz targets check besides crashes and sanitizer reports, shared by all of them.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/log_text.hpp"

namespace fuzz {

/// Aborts, naming the broken promise and the text that broke it, when `ok` is false:
/// libFuzzer keeps the input that got here as a crash.
inline void require(bool ok, const char* promise, std::string_view text = {}) {
  if (ok)
    return;
  std::fprintf(stderr, "fuzz: broken promise: %s\n  text: %s\n", promise,
               funboost::detail::escape_for_log(text, 2000).c_str());
  std::abort();
}

/// One line of valid UTF-8 without control characters (C0, DEL, C1) and without NUL, which
/// would cut an exception's what(): what any text bound for a log line or an error must be.
inline bool is_one_clean_line(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    auto len = funboost::detail::utf8_char_length(text, i);
    if (len == 0)
      return false;
    auto c = static_cast<unsigned char>(text[i]);
    if (len == 1 && (c < 0x20 || c == 0x7F))
      return false;
    if (len == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0)
      return false;
    i += len;
  }
  return true;
}

/// `password` with every character replaced by another letter: 'Q', or 'R' for a 'Q'.
inline std::string other_password(std::string_view password) {
  std::string other{password};
  for (auto& c : other)
    c = c == 'Q' ? 'R' : 'Q';
  return other;
}

/// `url` with the one place where `password` is written replaced by other_password(); "" when
/// it is not written exactly once. Letters only, so the URL keeps its structure. If the URL
/// parsed again has other_password() as its password, that place was the password, and any
/// text made from the URL that changes with the replacement shows (part of) the password.
inline std::string with_other_password(std::string_view url, std::string_view password) {
  if (password.empty())
    return {};
  auto at = url.find(password);
  if (at == std::string_view::npos || url.find(password, at + 1) != std::string_view::npos)
    return {};
  std::string other{url};
  other.replace(at, password.size(), other_password(password));
  return other;
}

} // namespace fuzz
