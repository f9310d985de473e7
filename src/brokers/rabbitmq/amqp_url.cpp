#include "brokers/rabbitmq/amqp_url.hpp"

#include <charconv>
#include <stdexcept>

#include "core/hex_digit.hpp"
#include "core/log_text.hpp"

namespace funboost::brokers::rabbitmq {

namespace {

constexpr const char* url_form = "amqp://user:password@host:port/vhost";

[[noreturn]] void bad(const std::string& url, const std::string& why) {
  // Escaped whole: `why` may quote parts of the URL, which may hold any byte.
  throw std::invalid_argument(detail::escape_for_log(
    "bad RabbitMQ URL '" + detail::redact_url(url) + "': " + why + "; the form is " + url_form
    + " (e.g. amqp://guest:guest@127.0.0.1:5672/)"));
}

std::string percent_decode(const std::string& url, std::string_view part) {
  std::string out;
  out.reserve(part.size());
  for (std::size_t i = 0; i < part.size(); ++i) {
    if (part[i] != '%') {
      out.push_back(part[i]);
      continue;
    }
    int hi = i + 2 < part.size() ? detail::hex_digit(part[i + 1]) : -1;
    int lo = i + 2 < part.size() ? detail::hex_digit(part[i + 2]) : -1;
    if (hi < 0 || lo < 0)
      bad(url, "'%' must be followed by two hex digits");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

} // namespace

std::string amqp_url::address() const {
  bool v6 = host.find(':') != std::string::npos;
  // Escaped: host and vhost are percent-decoded, so they may hold any byte.
  return detail::escape_for_log((v6 ? "[" + host + "]" : host) + ":" + std::to_string(port)
                                + "/" + (vhost == "/" ? "" : vhost));
}

std::string amqp_url::display() const {
  return "amqp://" + detail::escape_for_log(user) + (password.empty() ? "" : ":***") + "@"
         + address();
}

amqp_url parse_amqp_url(const std::string& url) {
  amqp_url out;
  if (url.empty())
    return out;
  constexpr std::string_view scheme = "amqp://";
  if (url.rfind("amqps://", 0) == 0)
    bad(url, "TLS (amqps://) is not supported yet by the funboost rabbitmq broker");
  if (url.size() < scheme.size() || url.compare(0, scheme.size(), scheme) != 0)
    bad(url, "it must start with amqp://");
  std::string_view rest{url};
  rest.remove_prefix(scheme.size());

  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  if (path.find_first_of("/?#") != std::string_view::npos)
    bad(url, "the path is the vhost and must be one segment (write '/' inside it as %2F)");

  auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    auto userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    auto colon = userinfo.find(':');
    out.user = percent_decode(url, userinfo.substr(0, colon));
    out.password = colon == std::string_view::npos ? std::string{}
                                                   : percent_decode(url, userinfo.substr(colon + 1));
  }

  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      bad(url, "an IPv6 host needs a closing ']'");
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        bad(url, "expected ':port' after ']'");
      port = after.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
  }
  if (!host.empty())
    out.host = percent_decode(url, host);
  if (!port.empty()) {
    int value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value < 1 || value > 65535)
      bad(url, "the port '" + std::string{port} + "' is not a number from 1 to 65535");
    out.port = value;
  }
  if (!path.empty())
    out.vhost = percent_decode(url, path);
  return out;
}

} // namespace funboost::brokers::rabbitmq
