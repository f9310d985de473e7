#include "core/log_text.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace funboost::detail {

namespace {

constexpr std::string_view hidden = "***";

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x))
                  == std::tolower(static_cast<unsigned char>(y));
         });
}

/// Query parameters whose value is a secret (unix:///r.sock?password=...).
bool is_secret_key(std::string_view key) {
  constexpr std::array<std::string_view, 7> secret_keys{"password", "passwd", "pass", "pwd",
                                                        "secret",   "token",  "auth"};
  return std::any_of(secret_keys.begin(), secret_keys.end(),
                     [&](std::string_view s) { return equals_ignoring_case(key, s); });
}

/// Appends `query` (the text after '?') with the values of secret keys hidden.
void append_redacted_query(std::string& out, std::string_view query) {
  while (true) {
    auto amp = query.find('&');
    auto item = query.substr(0, amp);
    auto eq = item.find('=');
    if (eq != std::string_view::npos && is_secret_key(item.substr(0, eq))) {
      out.append(item.substr(0, eq + 1));
      out.append(hidden);
    } else {
      out.append(item);
    }
    if (amp == std::string_view::npos)
      return;
    out.push_back('&');
    query.remove_prefix(amp + 1);
  }
}

/// AMQP's URI spec reads a lone name before '@' as the user; Redis clients read it as the
/// password, and an unknown scheme might too.
bool lone_userinfo_is_user(std::string_view scheme) {
  return equals_ignoring_case(scheme, "amqp") || equals_ignoring_case(scheme, "amqps");
}

} // namespace

std::string redact_url(std::string_view url) {
  std::string out;
  out.reserve(url.size() + hidden.size());
  auto scheme_end = url.find("://");
  std::string_view scheme = scheme_end == std::string_view::npos ? std::string_view{}
                                                                  : url.substr(0, scheme_end);
  std::size_t start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  out.append(url.substr(0, start));
  std::string_view rest = url.substr(start);

  // The userinfo ends at the LAST '@': a password may hold an unencoded '@', '/' or '?'.
  // unix:// URLs have no userinfo; their '@' could only be inside the query.
  auto at = equals_ignoring_case(scheme, "unix") ? std::string_view::npos : rest.rfind('@');
  if (at != std::string_view::npos) {
    auto userinfo = rest.substr(0, at);
    auto colon = userinfo.find(':');
    if (colon != std::string_view::npos) {
      out.append(userinfo.substr(0, colon + 1));
      out.append(hidden);
    } else if (lone_userinfo_is_user(scheme)) {
      out.append(userinfo);
    } else {
      out.append(hidden);
    }
    rest.remove_prefix(at); // from the '@'
  }

  auto question = rest.find('?');
  out.append(rest.substr(0, question));
  if (question != std::string_view::npos) {
    out.push_back('?');
    append_redacted_query(out, rest.substr(question + 1));
  }
  // A URL is configuration, but it may hold any byte: a NUL would cut an exception's text
  // short, a newline would start a forged log line.
  return escape_for_log(out);
}

std::size_t utf8_char_length(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  auto b0 = byte(i);
  if (b0 < 0x80)
    return 1;
  std::size_t len = 0;
  unsigned char low = 0x80, high = 0xBF; // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0)
      low = 0xA0; // no overlongs
    if (b0 == 0xED)
      high = 0x9F; // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0)
      low = 0x90;
    if (b0 == 0xF4)
      high = 0x8F; // at most U+10FFFF
  } else {
    return 0;
  }
  if (i + len > text.size() || byte(i + 1) < low || byte(i + 1) > high)
    return 0;
  for (std::size_t k = 2; k < len; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF)
      return 0;
  return len;
}

std::string escape_for_log(std::string_view text, std::size_t max_bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 16);
  std::size_t i = 0;
  while (i < text.size()) {
    auto len = utf8_char_length(text, i);
    if (i + std::max<std::size_t>(len, 1) > max_bytes)
      break;
    auto c = static_cast<unsigned char>(text[i]);
    if (len == 1 && c >= 0x20 && c != 0x7F) {
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '\r') {
      out.append("\\r");
    } else if (c == '\t') {
      out.append("\\t");
    } else if (len == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0) {
      auto code = static_cast<unsigned char>(text[i + 1]); // a C1 control, U+0080..U+009F
      out.append("\\u00");
      out.push_back(hex[code >> 4]);
      out.push_back(hex[code & 0xF]);
    } else if (len >= 2) {
      out.append(text.substr(i, len));
    } else { // a control character, or a byte that starts no UTF-8 character
      out.append("\\x");
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xF]);
      len = 1;
    }
    i += len;
  }
  if (i < text.size())
    out.append("... (" + std::to_string(text.size()) + " bytes)");
  return out;
}

} // namespace funboost::detail
