#include "core/delay_controls.hpp"

#include <cctype>
#include <chrono>

#include "core/json_scanner.hpp"

namespace funboost::detail {

namespace {

/// Reads exactly `digits` decimal digits at `pos`.
bool read_number(std::string_view s, std::size_t& pos, int digits, int& out) {
  out = 0;
  for (int i = 0; i < digits; ++i, ++pos) {
    if (pos >= s.size() || !std::isdigit(static_cast<unsigned char>(s[pos])))
      return false;
    out = out * 10 + (s[pos] - '0');
  }
  return true;
}

bool eat(std::string_view s, std::size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c)
    return false;
  ++pos;
  return true;
}

} // namespace

std::optional<double> parse_eta_text(std::string_view s, int utc_offset_minutes) {
  std::size_t pos = 0;
  int y, mo, d, h, mi, sec;
  if (!read_number(s, pos, 4, y) || !eat(s, pos, '-') || !read_number(s, pos, 2, mo)
      || !eat(s, pos, '-') || !read_number(s, pos, 2, d))
    return std::nullopt;
  if (!eat(s, pos, ' ') && !eat(s, pos, 'T'))
    return std::nullopt;
  if (!read_number(s, pos, 2, h) || !eat(s, pos, ':') || !read_number(s, pos, 2, mi)
      || !eat(s, pos, ':') || !read_number(s, pos, 2, sec))
    return std::nullopt;
  double fraction = 0;
  if (eat(s, pos, '.')) {
    double scale = 0.1;
    std::size_t start = pos;
    for (; pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])); ++pos, scale /= 10)
      fraction += (s[pos] - '0') * scale;
    if (pos == start)
      return std::nullopt;
  }
  int offset = utc_offset_minutes;
  if (eat(s, pos, 'Z')) {
    offset = 0;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos++] == '-' ? -1 : 1;
    int oh, om;
    if (!read_number(s, pos, 2, oh))
      return std::nullopt;
    eat(s, pos, ':');
    if (!read_number(s, pos, 2, om))
      return std::nullopt;
    offset = sign * (oh * 60 + om);
  }
  if (pos != s.size())
    return std::nullopt;
  using namespace std::chrono;
  year_month_day date{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!date.ok() || h > 23 || mi > 59 || sec > 60)
    return std::nullopt;
  auto local = sys_days{date} + hours{h} + minutes{mi} + seconds{sec} - minutes{offset};
  return static_cast<double>(local.time_since_epoch().count()) + fraction;
}

std::string without_delay(std::string_view body) {
  return without_extra_keys(body, {"countdown", "eta"});
}

} // namespace funboost::detail
