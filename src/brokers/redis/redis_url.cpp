#include "brokers/redis/redis_url.hpp"

#include <charconv>
#include <string_view>

#include <funboost/broker.hpp>

#include "core/log_text.hpp"

namespace funboost::brokers::redis {

namespace {

[[noreturn]] void bad_url(const booster_options& o, const std::string& why) {
  // Escaped whole: `why` may quote parts of the URL, which may hold any byte.
  throw broker_error(detail::escape_for_log(
    "redis broker '" + o.broker_kind + "' for queue '" + o.queue_name + "': bad broker URL '"
    + detail::redact_url(o.broker.url) + "': " + why
    + ". Use redis://[:password@]host[:port][/db] or unix:///path/to/redis.sock[?db=N]"));
}

bool parse_int(std::string_view text, int& out) {
  if (text.empty())
    return false;
  auto res = std::from_chars(text.data(), text.data() + text.size(), out);
  return res.ec == std::errc{} && res.ptr == text.data() + text.size();
}

/// Decodes %XX escapes (passwords may hold '@', ':' or '/').
std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto res = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (res.ec == std::errc{} && res.ptr == s.data() + i + 3) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

} // namespace

std::string redis_address::display() const {
  std::string auth = password.empty() ? "" : (username.empty() ? ":***@" : username + ":***@");
  if (is_unix)
    return detail::escape_for_log("unix://" + socket_path + "?db=" + std::to_string(db));
  bool v6 = host.find(':') != std::string::npos;
  // Escaped: host and user come from the URL as written, any byte included.
  return detail::escape_for_log("redis://" + auth + (v6 ? "[" + host + "]" : host) + ":"
                                + std::to_string(port) + "/" + std::to_string(db));
}

long long transport_int(const booster_options& o, const std::string& name, long long fallback) {
  auto i = o.broker.transport_options.find(name);
  if (i == o.broker.transport_options.end())
    return fallback;
  if (auto* v = std::get_if<long long>(&i->second))
    return *v;
  if (auto* d = std::get_if<double>(&i->second))
    return static_cast<long long>(*d);
  if (auto* s = std::get_if<std::string>(&i->second)) {
    int v = 0;
    if (parse_int(*s, v))
      return v;
  }
  throw broker_error("redis broker '" + o.broker_kind + "' for queue '" + o.queue_name
                     + "': transport option '" + name + "' must be an integer");
}

std::string transport_string(const booster_options& o, const std::string& name,
                             const std::string& fallback) {
  auto i = o.broker.transport_options.find(name);
  if (i == o.broker.transport_options.end())
    return fallback;
  if (auto* s = std::get_if<std::string>(&i->second))
    return *s;
  throw broker_error("redis broker '" + o.broker_kind + "' for queue '" + o.queue_name
                     + "': transport option '" + name + "' must be a string");
}

redis_address parse_redis_address(const booster_options& o) {
  redis_address a;
  std::string_view url = o.broker.url;
  if (url.empty())
    url = "redis://127.0.0.1:6379/7";
  constexpr std::string_view redis_scheme = "redis://";
  constexpr std::string_view unix_scheme = "unix://";
  if (url.starts_with(unix_scheme)) {
    a.is_unix = true;
    auto rest = url.substr(unix_scheme.size());
    auto q = rest.find('?');
    a.socket_path = std::string{rest.substr(0, q)};
    if (a.socket_path.empty() || a.socket_path.front() != '/')
      bad_url(o, "a unix socket URL needs an absolute path");
    if (q != std::string_view::npos) {
      auto query = rest.substr(q + 1);
      while (!query.empty()) {
        auto amp = query.find('&');
        auto item = query.substr(0, amp);
        auto eq = item.find('=');
        auto key = item.substr(0, eq);
        auto value = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
        if (key == "db") {
          if (!parse_int(value, a.db) || a.db < 0)
            bad_url(o, "db must be a non-negative integer");
        } else if (key == "password") {
          a.password = percent_decode(value);
        } else {
          bad_url(o, "unknown query parameter '" + std::string{key} + "'");
        }
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
      }
    }
  } else if (url.starts_with(redis_scheme)) {
    auto rest = url.substr(redis_scheme.size());
    auto slash = rest.find('/');
    auto authority = rest.substr(0, slash);
    auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
      auto userinfo = authority.substr(0, at);
      authority = authority.substr(at + 1);
      auto colon = userinfo.find(':');
      if (colon == std::string_view::npos) {
        a.password = percent_decode(userinfo); // redis://password@host, as redis-py accepts
      } else {
        a.username = percent_decode(userinfo.substr(0, colon));
        a.password = percent_decode(userinfo.substr(colon + 1));
      }
    }
    std::string_view port_text;
    if (authority.starts_with('[')) {
      auto close = authority.find(']');
      if (close == std::string_view::npos)
        bad_url(o, "unclosed '[' in an IPv6 host");
      a.host = std::string{authority.substr(1, close - 1)};
      auto after = authority.substr(close + 1);
      if (!after.empty()) {
        if (after.front() != ':')
          bad_url(o, "expected ':port' after the IPv6 host");
        port_text = after.substr(1);
      }
    } else {
      auto colon = authority.find(':');
      a.host = std::string{authority.substr(0, colon)};
      if (colon != std::string_view::npos)
        port_text = authority.substr(colon + 1);
    }
    if (a.host.empty())
      bad_url(o, "the host is missing");
    if (!port_text.empty() && (!parse_int(port_text, a.port) || a.port < 1 || a.port > 65535))
      bad_url(o, "the port must be a number from 1 to 65535");
    if (slash != std::string_view::npos) {
      auto path = rest.substr(slash + 1);
      if (!path.empty() && (!parse_int(path, a.db) || a.db < 0))
        bad_url(o, "the database after '/' must be a non-negative integer");
    }
  } else {
    bad_url(o, "unknown scheme");
  }
  a.db = static_cast<int>(transport_int(o, "db", a.db));
  a.password = transport_string(o, "password", a.password);
  a.username = transport_string(o, "username", a.username);
  a.key_prefix = transport_string(o, "key_prefix", a.key_prefix);
  a.connect_timeout
    = std::chrono::milliseconds{transport_int(o, "connect_timeout_ms", a.connect_timeout.count())};
  a.command_timeout
    = std::chrono::milliseconds{transport_int(o, "command_timeout_ms", a.command_timeout.count())};
  if (a.db < 0)
    bad_url(o, "db must be a non-negative integer");
  if (a.connect_timeout.count() <= 0 || a.command_timeout.count() <= 0)
    bad_url(o, "connect_timeout_ms and command_timeout_ms must be positive");
  return a;
}

} // namespace funboost::brokers::redis
