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
  return out;
}

} // namespace funboost::detail
