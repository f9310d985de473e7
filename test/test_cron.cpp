// Cron expressions and triggers (src/schedule/): a table of known next fire times, bad input
// named in the error, and the interval and date triggers. The table's expected times were
// worked out by hand and checked against an independent brute-force scan of the wall clock
// (Python's zoneinfo) and against croniter; none came from this implementation.
#include <doctest/doctest.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "schedule/cron.hpp"
#include "schedule/trigger.hpp"

using namespace std::chrono_literals;
using funboost::schedule::cron_expression;
using funboost::schedule::format_duration;
using funboost::schedule::format_utc;
using funboost::schedule::time_zone_ref;
using funboost::schedule::trigger;
using time_point = std::chrono::system_clock::time_point;

namespace {

// "2026-03-08T03:00:00-04:00", "2026-01-15T10:20:05.500Z": the instant the text names.
time_point iso(const char* text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, used = 0;
  if (std::sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute, &second,
                  &used)
      != 6) {
    throw std::invalid_argument(std::string("not an ISO time: ") + text);
  }
  const char* rest = text + used;
  std::chrono::milliseconds millis{0};
  if (*rest == '.') {
    int ms = 0;
    int ms_used = 0;
    std::sscanf(rest, ".%3d%n", &ms, &ms_used);
    millis = std::chrono::milliseconds{ms};
    rest += ms_used;
  }
  std::chrono::minutes offset{0};
  if (*rest == '+' || *rest == '-') {
    int off_h = 0, off_m = 0;
    std::sscanf(rest + 1, "%2d:%2d", &off_h, &off_m);
    offset = std::chrono::minutes{(*rest == '-' ? -1 : 1) * (off_h * 60 + off_m)};
  } else if (*rest != 'Z') {
    throw std::invalid_argument(std::string("ISO time without Z or offset: ") + text);
  }
  const std::chrono::sys_days date{std::chrono::year{year} / month / day};
  return date + std::chrono::hours{hour} + std::chrono::minutes{minute}
         + std::chrono::seconds{second} + millis - offset;
}

std::string shown(const std::optional<time_point>& t) {
  return t ? format_utc(*t) : std::string("never");
}

struct known_next {
  const char* expression;
  const char* zone;
  const char* from;
  const char* expected; // nullptr: never fires
  const char* why;
};

// clang-format off
constexpr known_next table[] = {
  // Every field kind, on the minute.
  {"* * * * *",          "UTC", "2026-01-15T10:20:30Z", "2026-01-15T10:21:00Z", "the next whole minute"},
  {"* * * * *",          "UTC", "2026-01-15T10:20:00Z", "2026-01-15T10:21:00Z", "strictly after: not the from time itself"},
  {"5 * * * *",          "UTC", "2026-01-15T10:20:00Z", "2026-01-15T11:05:00Z", "a minute past this hour's goes to the next hour"},
  {"*/15 * * * *",       "UTC", "2026-01-15T10:20:00Z", "2026-01-15T10:30:00Z", "step over the whole field"},
  {"10-20/5 * * * *",    "UTC", "2026-01-15T10:21:00Z", "2026-01-15T11:10:00Z", "step within a range (10,15,20)"},
  {"7/20 * * * *",       "UTC", "2026-01-15T10:30:00Z", "2026-01-15T10:47:00Z", "a/n runs from a to the maximum (7,27,47)"},
  {"1,2,30-32 * * * *",  "UTC", "2026-01-15T10:02:00Z", "2026-01-15T10:30:00Z", "a list of values and a range"},
  {"0 9-17/4 * * *",     "UTC", "2026-01-15T13:00:00Z", "2026-01-15T17:00:00Z", "hours 9,13,17"},
  {"0 0 * * *",          "UTC", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z", "year rollover"},
  {"30 14 1 * *",        "UTC", "2026-01-15T00:00:00Z", "2026-02-01T14:30:00Z", "day of month, next month"},
  // Month ends and leap days.
  {"0 12 31 * *",        "UTC", "2026-04-01T00:00:00Z", "2026-05-31T12:00:00Z", "the 31st skips April"},
  {"0 12 31 * *",        "UTC", "2026-05-31T12:00:00Z", "2026-07-31T12:00:00Z", "the 31st skips June"},
  {"0 0 31 * *",         "UTC", "2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z", "the 31st skips February"},
  {"0 0 29 2 *",         "UTC", "2025-03-01T00:00:00Z", "2028-02-29T00:00:00Z", "the next Feb 29"},
  {"0 0 29 2 *",         "UTC", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z", "2100 is no leap year: 8 years"},
  {"0 0 30 2 *",         "UTC", "2026-01-15T00:00:00Z", nullptr,                "Feb 30 never comes"},
  {"0 0 31 4,6,9,11 *",  "UTC", "2026-01-15T00:00:00Z", nullptr,                "30-day months have no 31st"},
  // Names and days of week.
  {"0 8 * * MON-FRI",    "UTC", "2026-01-16T09:00:00Z", "2026-01-19T08:00:00Z", "Friday after 8 goes to Monday"},
  {"0 8 * * sat,sun",    "UTC", "2026-01-15T00:00:00Z", "2026-01-17T08:00:00Z", "names in lower case"},
  {"0 0 * * 7",          "UTC", "2026-01-15T00:00:00Z", "2026-01-18T00:00:00Z", "7 is Sunday"},
  {"0 0 * * 0",          "UTC", "2026-01-15T00:00:00Z", "2026-01-18T00:00:00Z", "0 is Sunday"},
  {"0 0 * * 5-7",        "UTC", "2026-01-19T00:00:00Z", "2026-01-23T00:00:00Z", "a range ending at 7 (Fri-Sun)"},
  {"0 0 * * 6-7",        "UTC", "2026-01-17T00:00:00Z", "2026-01-18T00:00:00Z", "Saturday to Sunday"},
  {"0 0 1 jan *",        "UTC", "2026-01-15T00:00:00Z", "2027-01-01T00:00:00Z", "a month name"},
  {"0 0 1 Jan-Mar/2 *",  "UTC", "2026-01-15T00:00:00Z", "2026-03-01T00:00:00Z", "a range of month names with a step"},
  {"0 0 1 */4 *",        "UTC", "2026-01-15T00:00:00Z", "2026-05-01T00:00:00Z", "months 1,5,9"},
  // Day of month OR day of week when both are restricted; AND when either starts with * or ?.
  {"0 0 13 * 5",         "UTC", "2026-01-14T00:00:00Z", "2026-01-16T00:00:00Z", "a Friday that is not the 13th"},
  {"0 0 13 * FRI",       "UTC", "2026-01-10T00:00:00Z", "2026-01-13T00:00:00Z", "a 13th that is a Tuesday"},
  {"0 0 13 * FRI",       "UTC", "2026-02-07T00:00:00Z", "2026-02-13T00:00:00Z", "Friday the 13th"},
  {"0 0 1 * MON",        "UTC", "2026-01-27T00:00:00Z", "2026-02-01T00:00:00Z", "the 1st (a Sunday) before Monday the 2nd"},
  {"0 0 ? * MON",        "UTC", "2026-01-15T00:00:00Z", "2026-01-19T00:00:00Z", "? day of month: Mondays only"},
  {"0 0 1 * ?",          "UTC", "2026-01-15T00:00:00Z", "2026-02-01T00:00:00Z", "? day of week: the 1st only"},
  {"0 0 */2 * MON",      "UTC", "2026-01-15T00:00:00Z", "2026-01-19T00:00:00Z", "*/2 counts as *: odd-dated Mondays"},
  {"0 0 */2 * MON",      "UTC", "2026-01-19T00:00:00Z", "2026-02-09T00:00:00Z", "Jan 26 and Feb 2 are even"},
  // Macros.
  {"@yearly",            "UTC", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z", "@yearly"},
  {"@annually",          "UTC", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z", "@annually"},
  {"@monthly",           "UTC", "2026-01-15T00:00:00Z", "2026-02-01T00:00:00Z", "@monthly"},
  {"@weekly",            "UTC", "2026-01-15T00:00:00Z", "2026-01-18T00:00:00Z", "@weekly: Sunday midnight"},
  {"@daily",             "UTC", "2026-01-15T10:00:00Z", "2026-01-16T00:00:00Z", "@daily"},
  {"@midnight",          "UTC", "2026-01-16T00:00:00Z", "2026-01-17T00:00:00Z", "@midnight"},
  {"@HOURLY",            "UTC", "2026-01-15T10:20:00Z", "2026-01-15T11:00:00Z", "@hourly in capitals"},
  // Six fields: seconds first.
  {"*/10 * * * * *",     "UTC", "2026-01-15T10:20:05Z", "2026-01-15T10:20:10Z", "every 10 seconds"},
  {"* * * * * *",        "UTC", "2026-01-15T10:20:05.500Z", "2026-01-15T10:20:06Z", "a fraction of a second"},
  {"30 0 0 * * *",       "UTC", "2026-01-15T00:00:30Z", "2026-01-16T00:00:30Z", "second 30 of midnight"},
  {"0-5 15 * * * *",     "UTC", "2026-01-15T10:15:05Z", "2026-01-15T11:15:00Z", "the last second of a range"},
  {"59 59 23 31 12 *",   "UTC", "2026-06-01T00:00:00Z", "2026-12-31T23:59:59Z", "the last second of the year"},
  {"59 59 23 31 12 *",   "UTC", "2026-12-31T23:59:59Z", "2027-12-31T23:59:59Z", "a year later"},
  // Asia/Shanghai, UTC+8 all year.
  {"0 9 * * *",          "Asia/Shanghai", "2026-01-15T08:00:00+08:00", "2026-01-15T09:00:00+08:00", "9 o'clock Beijing time"},
  {"0 9 * * *",          "Asia/Shanghai", "2026-01-15T09:00:00+08:00", "2026-01-16T09:00:00+08:00", "the next day's"},
  {"0 0 1 * *",          "Asia/Shanghai", "2026-01-31T23:59:59+08:00", "2026-02-01T00:00:00+08:00", "the local month starts first"},
  {"0 8 * * MON",        "Asia/Shanghai", "2026-01-19T07:00:00+08:00", "2026-01-19T08:00:00+08:00", "Monday there, Sunday in UTC"},
  {"0 0 29 2 *",         "Asia/Shanghai", "2025-03-01T00:00:00+08:00", "2028-02-29T00:00:00+08:00", "Feb 29 local"},
  {"0 0 1 1 *",          "Asia/Shanghai", "2026-12-31T23:00:00+08:00", "2027-01-01T00:00:00+08:00", "the local new year"},
  // America/New_York springs forward on 2026-03-08: 02:00 EST becomes 03:00 EDT.
  {"30 2 * * *",         "America/New_York", "2026-03-07T07:00:00-05:00", "2026-03-08T03:00:00-04:00", "02:30 does not exist: the gap's end"},
  {"30 2 * * *",         "America/New_York", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00", "and once only"},
  {"0 3 * * *",          "America/New_York", "2026-03-08T00:00:00-05:00", "2026-03-08T03:00:00-04:00", "03:00 EDT exists"},
  {"30 1 * * *",         "America/New_York", "2026-03-07T07:00:00-05:00", "2026-03-08T01:30:00-05:00", "before the gap"},
  {"*/15 * * * *",       "America/New_York", "2026-03-08T01:50:00-05:00", "2026-03-08T03:00:00-04:00", "02:00-02:45 all fire at 03:00"},
  {"*/15 * * * *",       "America/New_York", "2026-03-08T03:00:00-04:00", "2026-03-08T03:15:00-04:00", "once, then on"},
  {"0 * * * *",          "America/New_York", "2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "hourly: 02:00 and 03:00 are one instant"},
  {"0 * * * *",          "America/New_York", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00", "then 04:00"},
  {"0 12 * * *",         "America/New_York", "2026-03-07T13:00:00-05:00", "2026-03-08T12:00:00-04:00", "noon is 23 hours later"},
  {"0 30 2 8 3 *",       "America/New_York", "2026-01-01T00:00:00-05:00", "2026-03-08T03:00:00-04:00", "six fields, in the gap"},
  {"0 30 2 8 3 *",       "America/New_York", "2026-03-08T03:00:00-04:00", "2027-03-08T02:30:00-05:00", "2027 springs forward on the 14th"},
  // America/New_York falls back on 2026-11-01: 02:00 EDT becomes 01:00 EST.
  {"30 1 * * *",         "America/New_York", "2026-10-31T08:00:00-04:00", "2026-11-01T01:30:00-04:00", "01:30 twice: the first"},
  {"30 1 * * *",         "America/New_York", "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00", "not the second"},
  {"30 1 * * *",         "America/New_York", "2026-11-01T01:10:00-05:00", "2026-11-02T01:30:00-05:00", "from inside the repeated hour"},
  {"0 2 * * *",          "America/New_York", "2026-10-31T08:00:00-04:00", "2026-11-01T02:00:00-05:00", "02:00 EST, 25 hours on"},
  {"*/30 * * * *",       "America/New_York", "2026-11-01T01:45:00-04:00", "2026-11-01T02:00:00-05:00", "the repeated hour's times fired already"},
  {"0 * * * *",          "America/New_York", "2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "hourly: 01:00 EST is a repeat"},
  {"0 12 * * *",         "America/New_York", "2026-10-31T13:00:00-04:00", "2026-11-01T12:00:00-05:00", "noon is 24 hours later plus one"},
  {"0 0 * * *",          "America/New_York", "2026-12-31T07:00:00-05:00", "2027-01-01T00:00:00-05:00", "the local new year"},
};
// clang-format on

} // namespace

TEST_CASE("the table of known next fire times") {
  CHECK(std::size(table) >= 40);
  for (const auto& row : table) {
    const std::string context =
        std::string(row.expression) + " in " + row.zone + " after " + row.from + ": " + row.why;
    INFO(context);
    const auto expr = cron_expression::parse(row.expression);
    const auto zone = time_zone_ref::locate(row.zone);
    const auto next = expr.next_after(iso(row.from), zone);
    const std::optional<time_point> expected =
        row.expected == nullptr ? std::nullopt : std::optional{iso(row.expected)};
    CHECK(shown(next) == shown(expected));
  }
}

TEST_CASE("time_zone_ref's default is UTC and needs no lookup") {
  const time_zone_ref utc;
  CHECK(utc.name() == "UTC");
  const auto expr = cron_expression::parse("0 9 * * *");
  CHECK(expr.next_after(iso("2026-01-15T10:00:00Z"), utc) == iso("2026-01-16T09:00:00Z"));
  CHECK(time_zone_ref::locate("Asia/Shanghai").name() == "Asia/Shanghai");
  CHECK(utc == time_zone_ref::locate("UTC"));
  CHECK_FALSE(utc == time_zone_ref::locate("Asia/Shanghai"));
}

TEST_CASE("the DST rules of time_zone_ref::to_sys") {
  const auto ny = time_zone_ref::locate("America/New_York");
  const auto wall = [](const char* text) {
    return std::chrono::local_seconds{
        std::chrono::floor<std::chrono::seconds>(iso(text)).time_since_epoch()};
  };
  // A wall time in the spring gap is the gap's end; one in the repeated hour its first instant.
  CHECK(ny.to_sys(wall("2026-03-08T02:30:00Z")) == iso("2026-03-08T03:00:00-04:00"));
  CHECK(ny.to_sys(wall("2026-11-01T01:30:00Z")) == iso("2026-11-01T01:30:00-04:00"));
  CHECK(ny.to_local(std::chrono::floor<std::chrono::seconds>(iso("2026-11-01T01:30:00-05:00")))
        == wall("2026-11-01T01:30:00Z"));
}

TEST_CASE("an unknown time zone is named in the error") {
  CHECK_THROWS_WITH_AS(time_zone_ref::locate("Mars/Olympus"),
                       doctest::Contains("'Mars/Olympus'"), std::invalid_argument);
}

TEST_CASE("a whole year of every 7 minutes in New York rises and matches") {
  // Across both DST changes: each fire is after the one before, and each is a wall time the
  // expression matches, except the one standing for the spring gap.
  const auto expr = cron_expression::parse("5/7 * * * *"); // 5,12,...,54: not 03:00
  const auto ny = time_zone_ref::locate("America/New_York");
  auto t = iso("2026-01-01T00:00:00-05:00");
  int fires = 0;
  int not_matching = 0;
  while (t < iso("2027-01-01T00:00:00-05:00")) {
    const auto next = expr.next_after(t, ny);
    REQUIRE(next);
    REQUIRE(*next > t);
    if (!expr.matches(ny.to_local(std::chrono::floor<std::chrono::seconds>(*next)))) {
      ++not_matching;
    }
    t = *next;
    ++fires;
  }
  CHECK(not_matching == 1); // 03:00 EDT on Mar 8, standing for 02:05-02:54
  // 8 a wall hour for the 8760 wall hours from 00:05 on Jan 1, plus 00:05 on the next Jan 1,
  // less 7: the gap hour's 8 fold into one. The repeated hour adds none: its wall times fire
  // once. (A scan of the wall clock in Python's zoneinfo counts the same 70074.)
  CHECK(fires == 8 * 8760 + 1 - 7);
}

TEST_CASE("bad expressions name the field, its position and what it takes") {
  struct bad {
    const char* expression;
    const char* message_part;
  };
  const bad cases[] = {
      {"*/5 * * * 8", "field 5 (day of week) value 8 is outside 0-7; use 0-7 or SUN-SAT"},
      {"60 * * * *", "field 1 (minute) value 60 is outside 0-59"},
      {"0 24 * * *", "field 2 (hour) value 24 is outside 0-23"},
      {"0 0 0 * *", "field 3 (day of month) value 0 is outside 1-31"},
      {"0 0 1 13 *", "field 4 (month) value 13 is outside 1-12; use 1-12 or JAN-DEC"},
      {"0 0 1 FOO *", "field 4 (month) 'FOO' is not a number or a name; use 1-12 or JAN-DEC"},
      {"61 * * * * *", "field 1 (second) value 61 is outside 0-59"},
      {"0 61 * * * *", "field 2 (minute)"},
      {"0 0 * * MONDAY", "field 5 (day of week) 'MONDAY' is not a number or a name"},
      {"MON * * * *", "field 1 (minute) 'MON' is not a number; use 0-59"},
      {"*/0 * * * *", "field 1 (minute) step '0' in '*/0' must be a whole number from 1 to 9999"},
      {"* */x * * *", "field 2 (hour) step 'x'"},
      {"5-2 * * * *", "field 1 (minute) range '5-2' runs backward"},
      {"? * * * *", "field 1 (minute) '?' is only for day of month and day of week"},
      {"1,,2 * * * *", "field 1 (minute) has an empty list item in '1,,2'"},
      {"1- * * * *", "field 1 (minute) is missing a value in '1-'"},
      {"99999999999 * * * *", "field 1 (minute) value 99999999999 is outside 0-59"},
      {"* * * *", "has 4 fields; use 5"},
      {"* * * * * * *", "has 7 fields"},
      {"   ", "cron '': has 0 fields"},
      {"@reboot", "cron '@reboot': unknown macro"},
  };
  for (const auto& c : cases) {
    const std::string expression = c.expression;
    INFO(expression);
    CHECK_THROWS_WITH_AS(cron_expression::parse(c.expression), doctest::Contains(c.message_part),
                         std::invalid_argument);
  }
  CHECK_THROWS_WITH_AS(cron_expression::parse("*/5 * * * 8"),
                       "cron '*/5 * * * 8': field 5 (day of week) value 8 is outside 0-7; use "
                       "0-7 or SUN-SAT",
                       std::invalid_argument);
}

TEST_CASE("an expression keeps its trimmed text and matches wall times") {
  const auto expr = cron_expression::parse("  0 9 * * MON-FRI\t");
  CHECK(expr.text() == "0 9 * * MON-FRI");
  const auto wall = [](const char* text) {
    return std::chrono::local_seconds{
        std::chrono::floor<std::chrono::seconds>(iso(text)).time_since_epoch()};
  };
  CHECK(expr.matches(wall("2026-01-16T09:00:00Z")));      // a Friday
  CHECK_FALSE(expr.matches(wall("2026-01-17T09:00:00Z"))); // a Saturday
  CHECK_FALSE(expr.matches(wall("2026-01-16T09:00:01Z")));
}

TEST_CASE("an interval trigger fires at start and every period after it, without drift") {
  const trigger every_90s{trigger::interval{90s, iso("2026-01-15T10:00:00Z")}};
  CHECK(every_90s.next_after(iso("2026-01-01T00:00:00Z")) == iso("2026-01-15T10:00:00Z"));
  CHECK(every_90s.next_after(iso("2026-01-15T10:00:00Z")) == iso("2026-01-15T10:01:30Z"));
  CHECK(every_90s.next_after(iso("2026-01-15T10:01:40Z")) == iso("2026-01-15T10:03:00Z"));
  CHECK(every_90s.next_after(iso("2026-01-16T10:00:00.001Z")) == iso("2026-01-16T10:01:30Z"));
  CHECK(every_90s.describe() == "every 1m 30s from 2026-01-15T10:00:00Z");
}

TEST_CASE("an interval trigger needs a positive period") {
  CHECK_THROWS_AS(trigger(trigger::interval{0ms, iso("2026-01-15T10:00:00Z")}),
                  std::invalid_argument);
  CHECK_THROWS_AS(trigger(trigger::interval{-5ms, iso("2026-01-15T10:00:00Z")}),
                  std::invalid_argument);
}

TEST_CASE("a date trigger fires once") {
  const trigger once{trigger::date{iso("2026-03-08T07:00:00.250Z")}};
  CHECK(once.next_after(iso("2026-03-08T07:00:00Z")) == iso("2026-03-08T07:00:00.250Z"));
  CHECK_FALSE(once.next_after(iso("2026-03-08T07:00:00.250Z")));
  CHECK_FALSE(once.next_after(iso("2027-01-01T00:00:00Z")));
  CHECK(once.describe() == "once at 2026-03-08T07:00:00.250Z");
}

TEST_CASE("a cron trigger reads its expression in its zone") {
  const trigger daily{
      trigger::cron{cron_expression::parse("0 9 * * *"), time_zone_ref::locate("Asia/Shanghai")}};
  CHECK(daily.next_after(iso("2026-01-15T09:00:00+08:00")) == iso("2026-01-16T09:00:00+08:00"));
  CHECK(daily.describe() == "cron '0 9 * * *' in Asia/Shanghai");
  CHECK(std::holds_alternative<trigger::cron>(daily.kind()));
}

TEST_CASE("durations read largest part first") {
  CHECK(format_duration(90min) == "1h 30m");
  CHECK(format_duration(1500ms) == "1s 500ms");
  CHECK(format_duration(48h) == "2d");
  CHECK(format_duration(24h + 1ms) == "1d 1ms");
}
