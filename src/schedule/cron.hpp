// Cron expressions (Vixie cron's syntax, plus an optional seconds field) and the time they next
// fire in an IANA time zone: the time arithmetic behind scheduled pushes. Nothing here runs a
// timer or talks to a queue.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace date {
class time_zone; // Howard Hinnant's date/tz; only cron.cpp includes it
}

namespace funboost::schedule {

using sys_seconds = std::chrono::sys_seconds;
using local_seconds = std::chrono::local_seconds;

/// An IANA time zone from the system's tzdata ("Asia/Shanghai", "America/New_York", "UTC").
/// Cheap to copy: the zone itself lives as long as the program.
///
/// Daylight saving time:
/// - a wall time that does not exist (the hour skipped when clocks spring forward) stands for
///   the first instant after the gap, as in cronie and APScheduler: 02:30 on a spring-forward
///   day in America/New_York is 03:00 EDT, so a job set for then still runs that day, once;
/// - a wall time that happens twice (the hour repeated when clocks fall back) stands for its
///   first occurrence only, so a job set for 01:30 runs once and not twice. This also silences
///   a sub-hourly schedule (e.g. every 15 minutes) for the repeated hour, whose wall times all
///   fired the first time round; Vixie-derived crons keep such wildcard jobs running instead.
///
/// Offsets come from the tzdata files, which list each zone's transitions up to 2037; date/tz
/// does not extend them by the rule at the files' end, so after 2037 a zone keeps the offset of
/// its last listed transition (America/New_York stays on standard time).
class time_zone_ref {
public:
  /// UTC; needs no tzdata.
  time_zone_ref() noexcept = default;

  /// The zone `iana_name` names; throws std::invalid_argument naming it if tzdata has no such zone.
  static time_zone_ref locate(std::string_view iana_name);

  /// The IANA name, "UTC" for the default.
  std::string_view name() const noexcept;

  /// The wall-clock time in this zone at instant `t`.
  local_seconds to_local(sys_seconds t) const;

  /// The instant wall time `wall` stands for, under the DST rules above.
  sys_seconds to_sys(local_seconds wall) const;

  /// Same name, same zone (the default UTC equals locate("UTC")).
  friend bool operator==(const time_zone_ref& a, const time_zone_ref& b) noexcept {
    return a.name() == b.name();
  }

private:
  explicit time_zone_ref(const ::date::time_zone* zone) noexcept : zone_{zone} {}
  const ::date::time_zone* zone_ = nullptr; // nullptr is UTC
};

/// A parsed cron expression: "m h dom mon dow" or "s m h dom mon dow", or an @macro.
///
/// Fields take `*`, numbers, ranges `a-b`, steps `*/n`, `a-b/n` and `a/n` (a to the field's
/// maximum), and lists of those `a,b,c-d`. `?` is `*` in the day fields. Months take JAN-DEC,
/// days of week SUN-SAT (any case); day of week 0 and 7 are both Sunday.
///
/// Day of month and day of week follow Vixie cron: when both are restricted a day matches if
/// either does ("0 0 13 * FRI" is every 13th and every Friday); a field that starts with `*` or
/// `?` (so `*/2` too) counts as unrestricted, and then both must match.
class cron_expression {
public:
  /// Parses `text`; throws std::invalid_argument naming the bad field, its position and what it
  /// allows, e.g. "cron '* * * * 8': field 5 (day of week) value 8 is outside 0-7; use 0-7 or
  /// SUN-SAT".
  static cron_expression parse(std::string_view text);

  /// The first time the expression fires strictly after `t`, reading the fields as wall-clock
  /// time in `zone`; std::nullopt if it never does within `horizon_years` calendar years.
  std::optional<std::chrono::system_clock::time_point>
  next_after(std::chrono::system_clock::time_point t, const time_zone_ref& zone) const;

  /// The text it was parsed from, trimmed.
  const std::string& text() const noexcept { return text_; }

  /// Whether wall time `wall` matches every field (day fields under the Vixie rule).
  bool matches(local_seconds wall) const;

  /// How far next_after looks: Feb 29 can be 8 years away (2096 to 2104, 2100 is no leap year).
  static constexpr int horizon_years = 8;

private:
  struct wall_time;

  cron_expression() = default;
  std::optional<local_seconds> first_match_from(local_seconds wall, int last_year) const;
  bool day_matches(const wall_time& w) const;
  bool step_month(wall_time& w) const;
  bool step_day(wall_time& w) const;
  bool step_time_of_day(wall_time& w) const;

  std::string text_;
  std::uint64_t seconds_ = 0;       // bit n: second n
  std::uint64_t minutes_ = 0;       // bit n: minute n
  std::uint64_t hours_ = 0;         // bit n: hour n
  std::uint64_t days_of_month_ = 0; // bit n: day n (1-31)
  std::uint64_t months_ = 0;        // bit n: month n (1-12)
  std::uint64_t days_of_week_ = 0;  // bit n: weekday n (0 Sunday - 6 Saturday)
  bool day_of_month_star_ = false;  // field started with * or ?
  bool day_of_week_star_ = false;
};

} // namespace funboost::schedule
