// When a scheduled push fires: every so often, once at a set time, or on a cron expression
// (APScheduler's interval, date and cron triggers). A value type; nothing here keeps time.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <variant>

#include "schedule/cron.hpp"

namespace funboost::schedule {

class trigger {
public:
  using time_point = std::chrono::system_clock::time_point;

  /// Fires at start, start + every, start + 2 x every, ...
  struct interval {
    std::chrono::milliseconds every;
    time_point start;
  };

  /// Fires once, at `at`.
  struct date {
    time_point at;
  };

  /// Fires whenever `expression` matches the wall clock in `zone`.
  struct cron {
    cron_expression expression;
    time_zone_ref zone;
  };

  /// Throws std::invalid_argument unless `every` is positive: a zero interval would fire
  /// without end at one instant.
  trigger(interval every);
  trigger(date once) noexcept;
  trigger(cron on) noexcept;

  /// The first fire time strictly after `t`; std::nullopt when it will not fire again.
  std::optional<time_point> next_after(time_point t) const;

  /// One line for logs and listings: "every 1h 30m from 2026-03-08T07:00:00Z",
  /// "once at 2026-03-08T07:00:00Z", "cron '*/5 * * * *' in Asia/Shanghai".
  std::string describe() const;

  /// Which of the three it is, with its settings.
  const std::variant<interval, date, cron>& kind() const noexcept { return kind_; }

private:
  std::variant<interval, date, cron> kind_;
};

/// "2026-03-08T07:00:00Z", with ".250" before the Z when there are milliseconds.
std::string format_utc(trigger::time_point t);

/// "1h 30m", "1s 500ms", "2d": the non-zero parts, largest first.
std::string format_duration(std::chrono::milliseconds d);

} // namespace funboost::schedule
