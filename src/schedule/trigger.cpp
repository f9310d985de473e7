// The three triggers' next fire times and their one-line descriptions.
#include "schedule/trigger.hpp"

#include <array>
#include <cstdio>
#include <initializer_list>
#include <stdexcept>

namespace funboost::schedule {

namespace {

// The parts as one string. (`"text" + std::string(...)` trips a false -Wrestrict in GCC 12 at
// -O3, GCC bug 105651.)
std::string concat(std::initializer_list<std::string_view> parts) {
  std::string joined;
  for (const auto part : parts) {
    joined += part;
  }
  return joined;
}

std::optional<trigger::time_point> next_after(const trigger::interval& i, trigger::time_point t) {
  if (t < i.start) {
    return i.start;
  }
  // Counted from start rather than from t, so that fire times do not drift.
  const auto periods_done = (t - i.start) / i.every;
  return i.start + (periods_done + 1) * i.every;
}

std::optional<trigger::time_point> next_after(const trigger::date& d, trigger::time_point t) {
  if (d.at > t) {
    return d.at;
  }
  return std::nullopt;
}

std::optional<trigger::time_point> next_after(const trigger::cron& c, trigger::time_point t) {
  return c.expression.next_after(t, c.zone);
}

std::string describe(const trigger::interval& i) {
  return concat({"every ", format_duration(i.every), " from ", format_utc(i.start)});
}

std::string describe(const trigger::date& d) { return concat({"once at ", format_utc(d.at)}); }

std::string describe(const trigger::cron& c) {
  return concat({"cron '", c.expression.text(), "' in ", c.zone.name()});
}

} // namespace

trigger::trigger(interval every) : kind_{every} {
  if (every.every <= std::chrono::milliseconds::zero()) {
    throw std::invalid_argument(concat({"interval trigger: every is ",
                                        std::to_string(every.every.count()),
                                        " ms; it must be positive"}));
  }
}

trigger::trigger(date once) noexcept : kind_{once} {}

trigger::trigger(cron on) noexcept : kind_{std::move(on)} {}

std::optional<trigger::time_point> trigger::next_after(time_point t) const {
  return std::visit([t](const auto& k) { return schedule::next_after(k, t); }, kind_);
}

std::string trigger::describe() const {
  return std::visit([](const auto& k) { return schedule::describe(k); }, kind_);
}

std::string format_utc(trigger::time_point t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t);
  const auto day_start = std::chrono::floor<std::chrono::days>(ms);
  const std::chrono::year_month_day ymd{day_start};
  const std::chrono::hh_mm_ss hms{ms - day_start};
  std::array<char, 40> text{};
  int n = std::snprintf(text.data(), text.size(), "%04d-%02u-%02uT%02d:%02d:%02d",
                        static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                        static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                        static_cast<int>(hms.minutes().count()),
                        static_cast<int>(hms.seconds().count()));
  if (const auto millis = hms.subseconds().count(); millis != 0) {
    n += std::snprintf(text.data() + n, text.size() - static_cast<std::size_t>(n), ".%03d",
                       static_cast<int>(millis));
  }
  return concat({std::string_view(text.data(), static_cast<std::size_t>(n)), "Z"});
}

std::string format_duration(std::chrono::milliseconds d) {
  struct unit {
    std::chrono::milliseconds size;
    const char* suffix;
  };
  static constexpr std::array<unit, 5> units{{{std::chrono::days{1}, "d"},
                                              {std::chrono::hours{1}, "h"},
                                              {std::chrono::minutes{1}, "m"},
                                              {std::chrono::seconds{1}, "s"},
                                              {std::chrono::milliseconds{1}, "ms"}}};
  if (d <= std::chrono::milliseconds::zero()) {
    return concat({std::to_string(d.count()), "ms"});
  }
  std::string text;
  for (const auto& u : units) {
    if (const auto count = d / u.size; count > 0) {
      text += concat({text.empty() ? "" : " ", std::to_string(count), u.suffix});
      d -= count * u.size;
    }
  }
  return text;
}

} // namespace funboost::schedule
