// funboost's message format: arguments first, then "extra" with per-message options, task_id,
// publish_time (Unix seconds, 4 decimals, as Python prints them) and publish_time_format ("%Y-%m-%d %H:%M:%S").
#include <funboost/wire.hpp>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <random>
#include <stdexcept>
#include <thread>

#include <simdjson.h>

#include <funboost/codec.hpp>

#include "core/json_problem.hpp"
#include "core/log_text.hpp"

namespace funboost {

namespace {

/// splitmix64: fast, good enough for the random bits of a UUID, one per thread.
struct id_random {
  uint64_t state;
  id_random() {
    std::random_device rd;
    state = (uint64_t{rd()} << 32) ^ rd()
            ^ std::hash<std::thread::id>{}(std::this_thread::get_id());
  }
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

void append_hex(char* out, uint64_t value, int digits) {
  static constexpr char hex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) {
    out[i] = hex[value & 0xf];
    value >>= 4;
  }
}

/// "YYYY-MM-DD HH:MM:SS" for a Unix second in a fixed UTC offset; cached per thread, since
/// most pushes fall in the same second as the one before.
const std::string& format_second(int64_t unix_seconds, int utc_offset_minutes) {
  thread_local int64_t cached_second = -1;
  thread_local int cached_offset = 0;
  thread_local std::string cached;
  if (unix_seconds != cached_second || utc_offset_minutes != cached_offset) {
    std::time_t local = static_cast<std::time_t>(unix_seconds + utc_offset_minutes * 60);
    std::tm tm{};
    gmtime_r(&local, &tm);
    char buf[32];
    auto n = std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
    cached.assign(buf, n);
    cached_second = unix_seconds;
    cached_offset = utc_offset_minutes;
  }
  return cached;
}

} // namespace

std::string_view publish_time_text(int64_t unix_micros, char (&buf)[32]) {
  // round(t, 4) as Python prints it: the shortest text that reads back as the same double,
  // which for a 4-decimal value of this size is the value itself without trailing zeros
  // (doubles near 1e9 are 2.4e-7 apart, so no shorter text lands on the same one).
  int64_t units = (unix_micros + 50) / 100; // 1e-4 s, rounded half up
  auto res = std::to_chars(buf, buf + 20, units / 10000);
  char* end = res.ptr;
  *end++ = '.';
  int64_t fraction = units % 10000;
  if (fraction == 0) {
    *end++ = '0'; // Python prints 1774348711.0, not 1774348711
  } else {
    for (int64_t div = 1000; fraction != 0; div /= 10) {
      *end++ = static_cast<char>('0' + fraction / div);
      fraction %= div;
    }
  }
  return {buf, static_cast<std::size_t>(end - buf)};
}

namespace {

void append_extra(std::string& body, const task_options& options, const std::string& task_id,
                  std::chrono::system_clock::duration now, int utc_offset_minutes) {
  json_writer w{body};
  // Per-message options come first inside extra, as funboost writes them.
  if (options.function_timeout > 0) {
    w.raw("\"function_timeout\":");
    w.number(options.function_timeout);
    w.raw(",");
  }
  if (options.max_retry_times >= 0) {
    w.raw("\"max_retry_times\":");
    w.integer(options.max_retry_times);
    w.raw(",");
  }
  if (options.is_using_rpc_mode)
    w.raw("\"is_using_rpc_mode\":true,");
  if (options.msg_expire_seconds > 0) {
    w.raw("\"msg_expire_seconds\":");
    w.number(options.msg_expire_seconds);
    w.raw(",");
  }
  if (options.countdown > 0) {
    w.raw("\"countdown\":");
    w.number(options.countdown);
    w.raw(",");
  }
  if (options.eta.time_since_epoch().count() != 0) {
    // Unix seconds, as Python's FunboostTime reads a number; round(t, 4) like publish_time.
    char eta_buf[32];
    w.raw("\"eta\":");
    w.raw(publish_time_text(std::chrono::duration_cast<std::chrono::microseconds>(
                              options.eta.time_since_epoch()).count(), eta_buf));
    w.raw(",");
  }
  if (options.misfire_grace_time > 0) {
    w.raw("\"misfire_grace_time\":");
    w.number(options.misfire_grace_time);
    w.raw(",");
  }
  if (options.do_task_filtering)
    w.raw("\"do_task_filtering\":true,");
  if (!options.filter_str.empty()) {
    w.raw("\"filter_str\":");
    w.string(options.filter_str);
    w.raw(",");
  }
  w.raw("\"task_id\":");
  if (options.task_id.empty()) { // ours: hex digits and dashes, nothing to escape
    w.raw("\"");
    w.raw(task_id);
    w.raw("\"");
  } else {
    w.string(task_id);
  }
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
  char buf[32];
  w.raw(",\"publish_time\":");
  w.raw(publish_time_text(micros, buf));
  w.raw(",\"publish_time_format\":\"");
  w.raw(format_second(micros / 1000000, utc_offset_minutes));
  w.raw("\"}}");
}

/// A UUIDv7 for the instant `now` (time since the Unix epoch).
std::string task_id_at(std::chrono::system_clock::duration now) {
  thread_local id_random rng;
  thread_local uint64_t last_ms = 0;
  thread_local uint16_t sequence = 0;
  auto ms = static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  // rand_a carries a per-millisecond counter so ids from one thread stay ordered.
  sequence = ms == last_ms ? static_cast<uint16_t>((sequence + 1) & 0xfff)
                           : static_cast<uint16_t>(rng.next() & 0x7ff);
  last_ms = ms;
  uint64_t rand_b = rng.next();
  std::string id(36, '-');
  append_hex(id.data(), ms >> 16, 8);                                   // time_high
  append_hex(id.data() + 9, ms & 0xffff, 4);                            // time_low
  append_hex(id.data() + 14, 0x7000 | sequence, 4);                     // version 7
  append_hex(id.data() + 19, 0x8000 | ((rand_b >> 48) & 0x3fff), 4);    // variant 10
  append_hex(id.data() + 24, rand_b & 0xffffffffffffULL, 12);
  return id;
}

} // namespace

std::string new_task_id() {
  return task_id_at(std::chrono::system_clock::now().time_since_epoch());
}

/// Refuses per-task options funboost's TaskOptions refuses, before anything is written.
void check_task_options(const task_options& o) {
  if (!std::isfinite(o.function_timeout) || o.function_timeout < 0)
    throw std::invalid_argument(
      "task_options: function_timeout must be 0 (the booster's) or a number of seconds > 0");
  if (!std::isfinite(o.countdown) || o.countdown < 0)
    throw std::invalid_argument("task_options: countdown must be a number of seconds >= 0");
  if (o.countdown > 0 && o.eta.time_since_epoch().count() != 0)
    throw std::invalid_argument("task_options: set countdown or eta, not both (as funboost)");
  if (!std::isfinite(o.misfire_grace_time) || o.misfire_grace_time < 0)
    throw std::invalid_argument(
      "task_options: misfire_grace_time must be 0 (run however late) or seconds > 0");
}

std::string finish_message(std::string& body, const task_options& options,
                           int utc_offset_minutes) {
  check_task_options(options);
  auto now = std::chrono::system_clock::now().time_since_epoch(); // one clock read per message
  std::string task_id = options.task_id.empty() ? task_id_at(now) : options.task_id;
  body.append(body.back() == '{' ? "\"extra\":{" : ",\"extra\":{");
  append_extra(body, options, task_id, now, utc_offset_minutes);
  return task_id;
}

std::string message_from_kwargs(std::string_view kwargs_json, const task_options& options,
                                int utc_offset_minutes, std::string& task_id_out) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::object kwargs;
  auto error = parser.parse(kwargs_json.data(), kwargs_json.size()).get(root);
  if (error || root.get_object().get(kwargs))
    throw std::invalid_argument(
      "publish: the keyword arguments must be a JSON object like {\"x\": 1, \"y\": 2}; "
      + (error ? detail::describe_json_error(kwargs_json, error, parser.max_depth())
               : "got " + detail::json_type_name(root.type()))
      + "; they were: " + detail::escape_for_log(kwargs_json, 200));
  std::string body{"{"};
  json_writer w{body};
  bool first = true;
  for (auto [key, value] : kwargs) {
    if (key == "extra")
      throw std::invalid_argument("publish: \"extra\" is funboost's control object; pass "
                                  "per-task options in task_options instead");
    if (!first)
      body.push_back(',');
    first = false;
    w.key(key);
    body.append(simdjson::minify(value));
  }
  task_id_out = finish_message(body, options, utc_offset_minutes);
  return body;
}

} // namespace funboost
