// Cron expressions: parsing into one bit mask per field, and the next fire time found by
// skipping whole months, days, hours and minutes that cannot match (never second by second).
#include "schedule/cron.hpp"

#include <array>
#include <bit>
#include <cctype>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <vector>

// Debian's libdate-tz is built to read the system tzdata (USE_OS_TZDB) with string_view
// lookups and the C locale only; the header must be read with the same settings or the
// library's objects and ours disagree on class layouts. meson.build passes these too.
#ifndef USE_OS_TZDB
#define USE_OS_TZDB 1
#endif
#ifndef HAS_STRING_VIEW
#define HAS_STRING_VIEW 1
#endif
#ifndef ONLY_C_LOCALE
#define ONLY_C_LOCALE 1
#endif
#include <date/tz.h>
static_assert(USE_OS_TZDB == 1, "libdate-tz as Debian builds it reads /usr/share/zoneinfo");

namespace funboost::schedule {

using namespace std::chrono_literals;

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

} // namespace

// ---------------------------------------------------------------------------------------------
// time_zone_ref

time_zone_ref time_zone_ref::locate(std::string_view iana_name) {
  try {
    return time_zone_ref{::date::locate_zone(iana_name)};
  } catch (const std::runtime_error&) {
    // date/tz says "... could not be located"; ours names the zone and where it looked.
    throw std::invalid_argument(concat({"time zone '", iana_name,
                                        "' is not in the system tzdata (/usr/share/zoneinfo); use "
                                        "an IANA name such as Asia/Shanghai, America/New_York or "
                                        "UTC"}));
  }
}

std::string_view time_zone_ref::name() const noexcept {
  return zone_ == nullptr ? std::string_view{"UTC"} : std::string_view{zone_->name()};
}

local_seconds time_zone_ref::to_local(sys_seconds t) const {
  if (zone_ == nullptr) {
    return local_seconds{t.time_since_epoch()};
  }
  const auto info = zone_->get_info(::date::sys_seconds{t.time_since_epoch()});
  return local_seconds{t.time_since_epoch() + info.offset};
}

sys_seconds time_zone_ref::to_sys(local_seconds wall) const {
  if (zone_ == nullptr) {
    return sys_seconds{wall.time_since_epoch()};
  }
  const auto info = zone_->get_info(::date::local_seconds{wall.time_since_epoch()});
  if (info.result == ::date::local_info::nonexistent) {
    return sys_seconds{info.second.begin.time_since_epoch()}; // the instant the gap ends
  }
  // Unique, or ambiguous and then `first` is the offset in force before the clocks fell back.
  return sys_seconds{wall.time_since_epoch() - info.first.offset};
}

// ---------------------------------------------------------------------------------------------
// Parsing

namespace {

constexpr std::array<std::string_view, 12> month_names{"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> weekday_names{"SUN", "MON", "TUE", "WED",
                                                        "THU", "FRI", "SAT"};

// What one field accepts.
struct field_spec {
  std::string_view name;
  unsigned low;
  unsigned high;
  std::span<const std::string_view> names; // names[i] stands for first_named + i
  unsigned first_named;
  bool takes_question_mark;
  std::string_view names_text; // " or JAN-DEC": how errors mention the names
};

constexpr field_spec second_spec{"second", 0, 59, {}, 0, false, ""};
constexpr field_spec minute_spec{"minute", 0, 59, {}, 0, false, ""};
constexpr field_spec hour_spec{"hour", 0, 23, {}, 0, false, ""};
constexpr field_spec day_of_month_spec{"day of month", 1, 31, {}, 0, true, ""};
constexpr field_spec month_spec{"month", 1, 12, month_names, 1, false, " or JAN-DEC"};
constexpr field_spec day_of_week_spec{"day of week", 0, 7, weekday_names, 0, true, " or SUN-SAT"};

// In the order of a six-field expression; a five-field one starts at the minute.
constexpr std::array<const field_spec*, 6> field_specs{
    &second_spec, &minute_spec, &hour_spec, &day_of_month_spec, &month_spec, &day_of_week_spec};

// One field of one expression, so that an error can say which.
struct field_context {
  std::string_view expression;
  std::size_t position; // 1-based, as the user counts the fields they wrote
  const field_spec& spec;
};

[[noreturn]] void reject(const field_context& field, const std::string& problem) {
  throw std::invalid_argument(concat({"cron '", field.expression, "': field ",
                                      std::to_string(field.position), " (", field.spec.name, ") ",
                                      problem}));
}

std::string range_text(const field_spec& spec) {
  return concat({std::to_string(spec.low), "-", std::to_string(spec.high)});
}

bool all_digits(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (const char c : s) {
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) {
      return false;
    }
  }
  return true;
}

bool same_letters(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i]))
        != std::toupper(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::optional<unsigned> named_value(std::string_view token, const field_spec& spec) {
  for (std::size_t i = 0; i < spec.names.size(); ++i) {
    if (same_letters(token, spec.names[i])) {
      return spec.first_named + static_cast<unsigned>(i);
    }
  }
  return std::nullopt;
}

// "use 0-59", "use 1-12 or JAN-DEC": what a field takes, for the end of an error.
std::string what_it_takes(const field_spec& spec) {
  return concat({"use ", range_text(spec), spec.names_text});
}

// A number or a name, within the field's range.
unsigned parse_value(std::string_view token, std::string_view item, const field_context& field) {
  const auto& spec = field.spec;
  if (all_digits(token)) {
    // More digits than any field needs would overflow stoul; such a value is out of range anyway.
    const unsigned value =
        token.size() > 3 ? spec.high + 1 : static_cast<unsigned>(std::stoul(std::string(token)));
    if (value < spec.low || value > spec.high) {
      reject(field, concat({"value ", token, " is outside ", range_text(spec),
                            spec.names.empty() ? "" : "; ",
                            spec.names.empty() ? "" : what_it_takes(spec)}));
    }
    return value;
  }
  if (const auto named = named_value(token, spec)) {
    return *named;
  }
  if (token.empty()) {
    reject(field, concat({"is missing a value in '", item, "'; ", what_it_takes(spec)}));
  }
  reject(field, concat({"'", token, "' is not a number", spec.names.empty() ? "" : " or a name",
                        "; ", what_it_takes(spec)}));
}

unsigned parse_step(std::string_view step, std::string_view item, const field_context& field) {
  // A step wider than the field is allowed (it keeps the first value only); four digits are plenty.
  const bool readable = all_digits(step) && step.size() <= 4;
  const unsigned value = readable ? static_cast<unsigned>(std::stoul(std::string(step))) : 0;
  if (value == 0) {
    reject(field,
           concat({"step '", step, "' in '", item, "' must be a whole number from 1 to 9999"}));
  }
  return value;
}

std::uint64_t bits_from_to(unsigned first, unsigned last, unsigned step) {
  std::uint64_t mask = 0;
  for (unsigned n = first; n <= last; n += step) {
    mask |= std::uint64_t{1} << n;
  }
  return mask;
}

// One list item: `*`, `?`, `a`, `a-b`, each optionally followed by `/step`.
std::uint64_t parse_item(std::string_view item, const field_context& field) {
  const auto& spec = field.spec;
  const auto slash = item.find('/');
  const auto base = item.substr(0, slash);
  const bool has_step = slash != std::string_view::npos;
  const unsigned step = has_step ? parse_step(item.substr(slash + 1), item, field) : 1;

  if (base == "?" && !spec.takes_question_mark) {
    reject(field, "'?' is only for day of month and day of week; use '*'");
  }
  if (base == "*" || base == "?") {
    return bits_from_to(spec.low, spec.high, step);
  }
  if (const auto dash = base.find('-'); dash != std::string_view::npos) {
    const unsigned first = parse_value(base.substr(0, dash), item, field);
    const unsigned last = parse_value(base.substr(dash + 1), item, field);
    if (first > last) {
      reject(field, concat({"range '", base,
                            "' runs backward; write the low end first (a wrap-around is a list, "
                            "e.g. 22-23,0-2)"}));
    }
    return bits_from_to(first, last, step);
  }
  const unsigned first = parse_value(base, item, field);
  return bits_from_to(first, has_step ? spec.high : first, step); // `a/n` runs to the maximum
}

struct parsed_field {
  std::uint64_t mask = 0;
  bool star = false; // started with * or ?: the Vixie rule treats the day field as unrestricted
};

parsed_field parse_field(std::string_view text, const field_context& field) {
  parsed_field result;
  result.star = text.front() == '*' || text.front() == '?';
  std::size_t begin = 0;
  while (true) {
    const auto comma = text.find(',', begin);
    const auto item = text.substr(begin, comma == text.npos ? text.npos : comma - begin);
    if (item.empty()) {
      reject(field, concat({"has an empty list item in '", text, "'"}));
    }
    result.mask |= parse_item(item, field);
    if (comma == std::string_view::npos) {
      return result;
    }
    begin = comma + 1;
  }
}

std::vector<std::string_view> split_on_spaces(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])) != 0) {
      ++i;
    }
    const std::size_t start = i;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])) == 0) {
      ++i;
    }
    if (i > start) {
      words.push_back(text.substr(start, i - start));
    }
  }
  return words;
}

std::string_view trim(std::string_view text) {
  const auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && is_space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_space(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

// The five fields an @macro stands for.
std::string_view expand_macro(std::string_view text) {
  struct macro {
    std::string_view name;
    std::string_view fields;
  };
  static constexpr std::array<macro, 7> macros{{{"@yearly", "0 0 1 1 *"},
                                                {"@annually", "0 0 1 1 *"},
                                                {"@monthly", "0 0 1 * *"},
                                                {"@weekly", "0 0 * * 0"},
                                                {"@daily", "0 0 * * *"},
                                                {"@midnight", "0 0 * * *"},
                                                {"@hourly", "0 * * * *"}}};
  for (const auto& m : macros) {
    if (same_letters(text, m.name)) {
      return m.fields;
    }
  }
  throw std::invalid_argument(concat({"cron '", text,
                                      "': unknown macro; use @yearly, @annually, @monthly, "
                                      "@weekly, @daily, @midnight or @hourly"}));
}

} // namespace

cron_expression cron_expression::parse(std::string_view text) {
  cron_expression expr;
  expr.text_ = std::string(trim(text));
  const std::string_view fields_text =
      !expr.text_.empty() && expr.text_.front() == '@' ? expand_macro(expr.text_) : expr.text_;

  const auto fields = split_on_spaces(fields_text);
  if (fields.size() != 5 && fields.size() != 6) {
    throw std::invalid_argument(
        concat({"cron '", expr.text_, "': has ", std::to_string(fields.size()),
                " fields; use 5 (minute hour day-of-month month day-of-week) or 6 (second "
                "first)"}));
  }
  // Five fields leave out the seconds, which are then 0.
  const std::size_t skipped = 6 - fields.size();
  std::array<parsed_field, 6> parsed{};
  parsed[0].mask = 1; // second 0
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const field_context field{expr.text_, i + 1, *field_specs[i + skipped]};
    parsed[i + skipped] = parse_field(fields[i], field);
  }

  expr.seconds_ = parsed[0].mask;
  expr.minutes_ = parsed[1].mask;
  expr.hours_ = parsed[2].mask;
  expr.days_of_month_ = parsed[3].mask;
  expr.months_ = parsed[4].mask;
  constexpr std::uint64_t sunday_as_7 = std::uint64_t{1} << 7;
  expr.days_of_week_ = (parsed[5].mask & ~sunday_as_7) | ((parsed[5].mask & sunday_as_7) >> 7);
  expr.day_of_month_star_ = parsed[3].star;
  expr.day_of_week_star_ = parsed[5].star;
  return expr;
}

// ---------------------------------------------------------------------------------------------
// Matching and searching, on wall-clock fields

struct cron_expression::wall_time {
  int year;
  unsigned month;  // 1-12
  unsigned day;    // 1-31
  unsigned hour;   // 0-23
  unsigned minute; // 0-59
  unsigned second; // 0-59

  static wall_time of(local_seconds t) {
    const auto day_start = std::chrono::floor<std::chrono::days>(t);
    const std::chrono::year_month_day ymd{day_start};
    const std::chrono::hh_mm_ss hms{t - day_start};
    return {static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
            static_cast<unsigned>(ymd.day()), static_cast<unsigned>(hms.hours().count()),
            static_cast<unsigned>(hms.minutes().count()),
            static_cast<unsigned>(hms.seconds().count())};
  }

  std::chrono::year_month_day date() const {
    return std::chrono::year{year} / std::chrono::month{month} / std::chrono::day{day};
  }

  local_seconds local() const {
    return std::chrono::local_days{date()} + std::chrono::hours{hour}
           + std::chrono::minutes{minute} + std::chrono::seconds{second};
  }

  unsigned days_in_month() const {
    const auto last = std::chrono::year{year} / std::chrono::month{month} / std::chrono::last;
    return static_cast<unsigned>(last.day());
  }

  unsigned weekday() const { // 0 Sunday - 6 Saturday
    return std::chrono::weekday{std::chrono::local_days{date()}}.c_encoding();
  }

  void start_of_day() { hour = minute = second = 0; }

  void next_month() {
    start_of_day();
    day = 1;
    if (++month > 12) {
      month = 1;
      ++year;
    }
  }

  void next_day() {
    start_of_day();
    if (++day > days_in_month()) {
      next_month();
    }
  }

  void next_hour() {
    minute = second = 0;
    if (++hour > 23) {
      next_day();
    }
  }

  void next_minute() {
    second = 0;
    if (++minute > 59) {
      next_hour();
    }
  }
};

namespace {

bool has(std::uint64_t mask, unsigned n) { return ((mask >> n) & 1U) != 0; }

// The lowest bit of `mask` at `n` or above.
std::optional<unsigned> first_at_or_after(std::uint64_t mask, unsigned n) {
  const std::uint64_t rest = n >= 64 ? 0 : mask & (~std::uint64_t{0} << n);
  if (rest == 0) {
    return std::nullopt;
  }
  return static_cast<unsigned>(std::countr_zero(rest));
}

} // namespace

bool cron_expression::day_matches(const wall_time& w) const {
  const bool by_month_day = has(days_of_month_, w.day);
  const bool by_weekday = has(days_of_week_, w.weekday());
  if (day_of_month_star_ || day_of_week_star_) {
    return by_month_day && by_weekday; // the star field has every bit set
  }
  return by_month_day || by_weekday;
}

bool cron_expression::matches(local_seconds wall) const {
  const auto w = wall_time::of(wall);
  return has(months_, w.month) && day_matches(w) && has(hours_, w.hour)
         && has(minutes_, w.minute) && has(seconds_, w.second);
}

// Each step_* keeps `w` and returns true if that field already matches; otherwise it moves `w`
// to the start of the next candidate for the field and returns false, so the search starts
// again from the month (a move may have crossed into another month or year).

bool cron_expression::step_month(wall_time& w) const {
  if (has(months_, w.month)) {
    return true;
  }
  if (const auto later = first_at_or_after(months_, w.month + 1)) {
    w.month = *later;
  } else {
    ++w.year;
    w.month = static_cast<unsigned>(std::countr_zero(months_));
  }
  w.day = 1;
  w.start_of_day();
  return false;
}

bool cron_expression::step_day(wall_time& w) const {
  if (day_matches(w)) {
    return true;
  }
  w.next_day();
  return false;
}

bool cron_expression::step_time_of_day(wall_time& w) const {
  if (!has(hours_, w.hour)) {
    const auto hour = first_at_or_after(hours_, w.hour);
    if (!hour) {
      w.next_day();
      return false;
    }
    w.hour = *hour;
    w.minute = w.second = 0;
  }
  if (!has(minutes_, w.minute)) {
    const auto minute = first_at_or_after(minutes_, w.minute);
    if (!minute) {
      w.next_hour();
      return false;
    }
    w.minute = *minute;
    w.second = 0;
  }
  if (!has(seconds_, w.second)) {
    const auto second = first_at_or_after(seconds_, w.second);
    if (!second) {
      w.next_minute();
      return false;
    }
    w.second = *second;
  }
  return true;
}

std::optional<local_seconds> cron_expression::first_match_from(local_seconds wall,
                                                               int last_year) const {
  auto w = wall_time::of(wall);
  while (w.year <= last_year) {
    if (step_month(w) && step_day(w) && step_time_of_day(w)) {
      return w.local();
    }
  }
  return std::nullopt;
}

std::optional<std::chrono::system_clock::time_point>
cron_expression::next_after(std::chrono::system_clock::time_point t,
                            const time_zone_ref& zone) const {
  // Fire times are whole seconds, and a whole second is after t exactly when it is after t's.
  const auto after = std::chrono::floor<std::chrono::seconds>(t);
  auto from = zone.to_local(after) + 1s;
  const int last_year = wall_time::of(from).year + horizon_years;
  // Wall times map to instants in order (see time_zone_ref), so the first wall time after t's
  // own whose instant is after t is the answer; only wall times of a repeated hour, already
  // fired at their first occurrence, map to instants at or before t and are passed over.
  while (const auto wall = first_match_from(from, last_year)) {
    const auto fire = zone.to_sys(*wall);
    if (fire > after) {
      return fire;
    }
    from = *wall + 1s;
  }
  return std::nullopt;
}

} // namespace funboost::schedule
