// The JSON codec: every supported type round-trips, and funboost's own sample message decodes.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include <funboost/codec.hpp>

#include "core/dead_letter_reason.hpp"
#include "core/task_extra.hpp"

struct point {
  int x = 0;
  int y = 0;
  std::optional<std::string> label;
  bool operator==(const point&) const = default;
};

template <>
struct funboost::fields<point> {
  static constexpr const char* name = "point";
  static constexpr auto list = std::make_tuple(funboost::field("x", &point::x),
                                               funboost::field("y", &point::y),
                                               funboost::field("label", &point::label));
};

struct route {
  std::string name;
  std::vector<point> stops;
  bool operator==(const route&) const = default;
};

template <>
struct funboost::fields<route> {
  static constexpr auto list = std::make_tuple(funboost::field("name", &route::name),
                                               funboost::field("stops", &route::stops));
};

template <class T>
T round_trip(const T& value) {
  return funboost::from_json<T>(funboost::to_json(value));
}

TEST_CASE("scalars round-trip exactly, including extremes") {
  CHECK(round_trip(0) == 0);
  CHECK(round_trip(-42) == -42);
  CHECK(round_trip(std::numeric_limits<int64_t>::min()) == std::numeric_limits<int64_t>::min());
  CHECK(round_trip(std::numeric_limits<uint64_t>::max()) == std::numeric_limits<uint64_t>::max());
  CHECK(round_trip(0.1) == 0.1);
  CHECK(round_trip(-1.5e300) == -1.5e300);
  CHECK(round_trip(true) == true);
  CHECK(round_trip(false) == false);
  CHECK(round_trip(std::string{}) == "");
}

TEST_CASE("strings are escaped and UTF-8 passes through") {
  std::string tricky = "quote\" backslash\\ newline\n tab\t ctrl\x01 中文";
  CHECK(funboost::to_json(tricky) == "\"quote\\\" backslash\\\\ newline\\n tab\\t ctrl\\u0001 中文\"");
  CHECK(round_trip(tricky) == tricky);
}

TEST_CASE("containers and optionals round-trip, nested") {
  std::vector<std::map<std::string, std::optional<double>>> v{
    {{"a", 1.25}, {"b", std::nullopt}}, {}};
  CHECK(round_trip(v) == v);
  CHECK(funboost::to_json(v) == R"([{"a":1.25,"b":null},{}])");
  std::map<std::string, std::vector<int>> m{{"k", {1, 2, 3}}};
  CHECK(round_trip(m) == m);
  CHECK(round_trip(std::optional<int>{}) == std::nullopt);
  CHECK(round_trip(std::optional<int>{7}) == 7);
}

TEST_CASE("user structs round-trip through fields<T>") {
  route r{"loop", {{1, 2, "start"}, {3, 4, std::nullopt}}};
  CHECK(funboost::to_json(r)
        == R"({"name":"loop","stops":[{"x":1,"y":2,"label":"start"},{"x":3,"y":4,"label":null}]})");
  CHECK(round_trip(r) == r);
  // A missing optional member is fine; a missing required one is an error naming it.
  CHECK(funboost::from_json<point>(R"({"x":1,"y":2})") == point{1, 2, std::nullopt});
  CHECK_THROWS_WITH_AS(funboost::from_json<point>(R"({"x":1})"),
                       "argument 'result.y' expected int32 but the message has no such key",
                       funboost::decode_error);
}

TEST_CASE("non-finite floats encode as null, since JSON has no NaN") {
  CHECK(funboost::to_json(std::nan("")) == "null");
  CHECK(funboost::to_json(std::numeric_limits<double>::infinity()) == "null");
}

TEST_CASE("funboost's sample message from WIRE.md decodes: arguments and extra") {
  const std::string sample
    = R"({"x":1,"y":2,"extra":{"task_id":"019d1f6c-b52c-75f7-9bd0-7f1b19becd61",)"
      R"("publish_time":1774348711.2128,"publish_time_format":"2026-03-24 18:38:31"}})";
  simdjson::dom::parser parser;
  simdjson::dom::object message = parser.parse(sample).get_object();
  int x = 0;
  int y = 0;
  funboost::decode(message["x"], "x", x);
  funboost::decode(message["y"], "y", y);
  CHECK(x == 1);
  CHECK(y == 2);
  funboost::booster_options options;
  options.max_retries = 3;
  auto extra = funboost::detail::read_task_controls(message, options);
  CHECK(extra.task_id == "019d1f6c-b52c-75f7-9bd0-7f1b19becd61");
  CHECK(extra.max_retries == 3);
  CHECK_FALSE(extra.rpc);
}

TEST_CASE("per-message extra controls apply only when truthy, as in funboost") {
  funboost::booster_options options;
  options.max_retries = 3;
  simdjson::dom::parser parser;
  auto read = [&](const char* json) {
    simdjson::dom::object message = parser.parse(std::string{json}).get_object();
    return funboost::detail::read_task_controls(message, options);
  };
  auto set = read(R"({"extra":{"task_id":"t1","max_retry_times":5,"is_using_rpc_mode":true}})");
  CHECK(set.max_retries == 5);
  CHECK(set.rpc);
  auto falsy = read(R"({"extra":{"task_id":"t2","max_retry_times":0,"is_using_rpc_mode":false}})");
  CHECK(falsy.max_retries == 3);
  CHECK_FALSE(falsy.rpc);
  auto bare = read(R"({"x":1})"); // no extra: valid, gets a task id
  CHECK(bare.task_id.size() == 36);
}

TEST_CASE("an absurd per-message max_retry_times is refused, not obeyed") {
  funboost::booster_options options;
  options.max_retries = 3;
  simdjson::dom::parser parser;
  auto read = [&](const char* json) {
    simdjson::dom::object message = parser.parse(std::string{json}).get_object();
    return funboost::detail::read_task_controls(message, options);
  };
  CHECK(read(R"({"extra":{"max_retry_times":10000}})").invalid.empty());
  CHECK(read(R"({"extra":{"max_retry_times":10000}})").max_retries == 10000);
  auto huge = read(R"({"extra":{"task_id":"t","max_retry_times":2147483648}})");
  CHECK(huge.invalid == "extra.max_retry_times 2147483648 is outside 0..10000");
  CHECK(read(R"({"extra":{"max_retry_times":-1}})").invalid.find("outside") != std::string::npos);
  CHECK(read(R"({"extra":{"max_retry_times":"5"}})").invalid
        == "extra.max_retry_times is not an integer");
  CHECK(read(R"({"extra":{"max_retry_times":null}})").invalid.empty());
}

TEST_CASE("the dead-letter reason goes first into extra, leaving the rest byte for byte") {
  using funboost::detail::with_dead_letter_reason;
  CHECK(with_dead_letter_reason(R"({"x":1,"extra":{"task_id":"t"}})", "why")
        == R"({"x":1,"extra":{"dead_letter_reason":"why","task_id":"t"}})");
  CHECK(with_dead_letter_reason(R"({"x":1.50,"extra":{}})", "why")
        == R"({"x":1.50,"extra":{"dead_letter_reason":"why"}})");
  CHECK(with_dead_letter_reason(R"({"x":{"extra":{"a":"}"}},"y":"{"})", "a \"q\"")
        == R"({"x":{"extra":{"a":"}"}},"y":"{","extra":{"dead_letter_reason":"a \"q\""}})");
  CHECK(with_dead_letter_reason(R"( { } )", "why")
        == R"( { "extra":{"dead_letter_reason":"why"}} )");
  CHECK(with_dead_letter_reason("[1,2]", "why") == "[1,2]");
  CHECK(with_dead_letter_reason("not json", "why") == "not json");
  CHECK(with_dead_letter_reason(R"({"x":1)", "why") == R"({"x":1)");
  CHECK(with_dead_letter_reason(R"({"x":"a\"b","extra":{"k":[1,{"z":2}]}} )", "w")
        == R"({"x":"a\"b","extra":{"dead_letter_reason":"w","k":[1,{"z":2}]}} )");
}
