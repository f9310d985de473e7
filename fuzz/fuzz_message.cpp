// libFuzzer target: a message body as a consumer gets it from the broker, through everything a
// worker does with it before and after the user's function runs (src/actors/worker.cpp):
// parse_message (and, for refused bodies, describe_json_error's own walk over the text),
// read_task_controls, decoding every argument into C++ types, encoding the result, the
// escaped log text of the body, and with_dead_letter_reason.
//
// Beyond "no crash, no undefined behaviour" it checks what users rely on:
// - a log line made from the body is one line of valid UTF-8 (escape_for_log);
// - a refused body gets a description, itself one clean line (it is logged as it is);
// - a dead-lettered object is still a JSON object, and carries the reason in an "extra";
// - a result encoded from decoded arguments is JSON that parses again.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include <funboost/function_binding.hpp>

#include "core/dead_letter_reason.hpp"
#include "core/delay_controls.hpp"
#include "core/json_problem.hpp"
#include "core/log_text.hpp"
#include "core/message_peek.hpp"
#include "core/task_extra.hpp"
#include "promises.hpp"

namespace {

struct point {
  int x = 0;
  std::optional<double> y;
  std::vector<std::string> tags;
};

} // namespace

template <>
struct funboost::fields<point> {
  static constexpr const char* name = "point";
  static constexpr auto list = std::make_tuple(funboost::field("x", &point::x),
                                               funboost::field("y", &point::y),
                                               funboost::field("tags", &point::tags));
};

namespace {

using fuzz::is_one_clean_line;
using fuzz::require;

/// Does `text` parse as a JSON object with "extra"."dead_letter_reason" == `reason` in one of
/// its "extra" members (a body may repeat the key; Python's json keeps the last one)?
bool carries_reason(simdjson::dom::parser& parser, const std::string& text,
                    std::string_view reason) {
  simdjson::dom::object object;
  if (parser.parse(text).get(object))
    return false;
  for (auto [key, value] : object) {
    std::string_view found;
    if (key == "extra" && !value["dead_letter_reason"].get(found) && found == reason)
      return true;
  }
  return false;
}

/// Every parameter kind the codec supports, nested; named as a producer would send them.
std::string every_type(int64_t a, double b, std::string c,
                       std::vector<std::map<std::string, std::optional<bool>>> d, point p,
                       uint8_t e) {
  return c + std::to_string(a + e + p.x + static_cast<int64_t>(d.size()) + (b > 0));
}

std::vector<std::string> strings(std::vector<std::string> arg0) {
  return arg0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace funboost;
  const std::string body(reinterpret_cast<const char*>(data), size);
  static simdjson::dom::parser parser;
  static simdjson::dom::parser checker;
  static const booster_options options = [] {
    booster_options o;
    o.queue_name = "fuzz";
    return o;
  }();
  static auto bound_every_type = bind_function<std::string, int64_t, double, std::string,
                                               std::vector<std::map<std::string, std::optional<bool>>>,
                                               point, uint8_t>(every_type,
                                                               {"a", "b", "c", "d", "p", "e"});
  static auto bound_strings
    = bind_function<std::vector<std::string>, std::vector<std::string>>(strings, {"arg0"});

  auto logged = detail::escape_for_log(body, 200);
  require(is_one_clean_line(logged), "escape_for_log gives one clean line", logged);
  (void) detail::task_id_of(body);

  simdjson::dom::object message;
  std::string problem;
  if (!detail::parse_message(parser, body, message, problem)) {
    require(!problem.empty(), "a refused body is described");
    require(is_one_clean_line(problem), "the description, logged as it is, is one clean line",
            problem);
    // The dispatcher adds the reason to bodies no worker parsed (poison tasks): any text.
    (void) detail::with_dead_letter_reason(body, problem);
    return 0;
  }

  auto controls = detail::read_task_controls(message, options);
  require(!controls.task_id.empty(), "every task has an id");
  auto reason = controls.invalid.empty() ? std::string{"fuzz: \"reason\"\n\xE2\x9C\x93"}
                                         : controls.invalid;
  require(carries_reason(checker, detail::with_dead_letter_reason(body, reason), reason),
          "a dead-lettered message is a JSON object whose extra names the reason",
          detail::with_dead_letter_reason(body, reason));

  // A delayed task's message when due: still a JSON object, its arguments and task id intact,
  // no countdown or eta left in extra.
  auto due = detail::without_delay(body);
  simdjson::dom::object when_due;
  require(!checker.parse(due).get(when_due), "a delayed message when due is a JSON object", due);
  require(when_due.size() == message.size(), "cutting countdown/eta keeps every argument", due);
  simdjson::dom::object due_extra;
  if (!when_due["extra"].get(due_extra))
    require(due_extra["countdown"].error() && due_extra["eta"].error(),
            "no countdown or eta is left", due);

  for (auto* bound : {&bound_every_type, &bound_strings}) {
    try {
      auto outcome = (*bound)(message);
      require(outcome.ok, "the bound functions do not throw");
      simdjson::dom::element result;
      require(!checker.parse(outcome.result_json).get(result), "a result is JSON again",
              outcome.result_json);
    } catch (const decode_error& e) {
      require(!std::string_view{e.what()}.empty(), "a decode error says what");
    }
  }
  return 0;
}
