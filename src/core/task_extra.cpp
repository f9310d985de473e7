#include "core/task_extra.hpp"

#include <cmath>

#include <funboost/wire.hpp>

#include "core/delay_controls.hpp"
#include "core/filter_key.hpp"

namespace funboost::detail {

namespace {

/// A field funboost applies only when truthy: absent, null, 0, false and "" all mean unset.
bool truthy(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::NULL_VALUE:
      return false;
    case simdjson::dom::element_type::BOOL:
      return e.get_bool().value();
    case simdjson::dom::element_type::STRING:
      return !e.get_string().value().empty();
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
      return e.get_double().value() != 0;
    default:
      return true;
  }
}

/// extra.countdown, extra.eta and extra.misfire_grace_time, as funboost's _submit_task reads
/// them: eta wins over countdown, and countdown counts from publish_time.
void read_delay(simdjson::dom::object extra, const booster_options& options,
                actors::task_controls& out) {
  simdjson::dom::element field;
  if (!extra.at_key("countdown").get(field) && truthy(field)) {
    double countdown;
    if (field.get(countdown) || !std::isfinite(countdown)) {
      out.invalid = "extra.countdown is not a number of seconds";
      return;
    }
    out.run_at = (out.publish_time > 0 ? out.publish_time : unix_now()) + countdown;
  }
  if (!extra.at_key("eta").get(field) && truthy(field)) {
    double eta;
    std::string_view text;
    if (!field.get(eta) && std::isfinite(eta)) {
      out.run_at = eta;
    } else if (!field.get(text)) {
      auto parsed = parse_eta_text(text, options.publish_time_utc_offset_minutes);
      if (!parsed) {
        out.invalid = "extra.eta \"" + std::string{text.substr(0, 64)}
                      + "\" is not a time like \"2026-03-24 18:38:31\" or ISO 8601";
        return;
      }
      out.run_at = *parsed;
    } else {
      out.invalid = "extra.eta is neither Unix seconds nor a time text";
      return;
    }
  }
  if (!extra.at_key("misfire_grace_time").get(field) && truthy(field)) {
    double grace;
    if (field.get(grace) || !std::isfinite(grace) || grace < 0) {
      out.invalid = "extra.misfire_grace_time is not a number of seconds >= 0";
      return;
    }
    out.misfire_grace = grace;
  }
}

} // namespace

actors::task_controls read_task_controls(simdjson::dom::object message,
                                         const booster_options& options) {
  actors::task_controls out;
  out.max_retries = options.max_retries;
  out.rpc = options.is_using_rpc_mode;
  out.expire_seconds = options.msg_expire_seconds;
  out.function_timeout = options.function_timeout;
  simdjson::dom::object extra;
  if (!message.at_key("extra").get(extra)) {
    std::string_view id;
    if (!extra.at_key("task_id").get(id))
      out.task_id.assign(id);
    // funboost applies it only when truthy. An absurd count is refused, not obeyed: 2^31
    // retries of a failing task is a loop that never ends, not a retry policy.
    int64_t retries;
    auto field = extra.at_key("max_retry_times");
    if (!field.error() && !field.is_null()) {
      if (field.get(retries))
        out.invalid = "extra.max_retry_times is not an integer";
      else if (retries < 0 || retries > max_message_retry_times)
        out.invalid = "extra.max_retry_times " + std::to_string(retries) + " is outside 0.."
                      + std::to_string(max_message_retry_times);
      else if (retries > 0)
        out.max_retries = static_cast<int>(retries);
    }
    bool rpc;
    if (!extra.at_key("is_using_rpc_mode").get(rpc) && rpc)
      out.rpc = true;
    // Python writes ints or floats; funboost applies it when truthy (0 and null: the booster's).
    double expire;
    auto expire_field = extra.at_key("msg_expire_seconds");
    if (!expire_field.error() && !expire_field.is_null() && out.invalid.empty()) {
      if (expire_field.get(expire) || !std::isfinite(expire) || expire < 0)
        out.invalid = "extra.msg_expire_seconds is not a number of seconds >= 0";
      else if (expire > 0)
        out.expire_seconds = expire;
    }
    // funboost's function_timeout: ints or floats, applied when truthy (0, null, false: the
    // booster's).
    simdjson::dom::element timeout_field;
    if (!extra.at_key("function_timeout").get(timeout_field) && truthy(timeout_field)
        && out.invalid.empty()) {
      double timeout;
      if (timeout_field.get(timeout) || !std::isfinite(timeout) || timeout < 0)
        out.invalid = "extra.function_timeout is not a number of seconds >= 0";
      else
        out.function_timeout = timeout;
    }
    double published;
    if (!extra.at_key("publish_time").get(published))
      out.publish_time = published;
    if (out.invalid.empty())
      read_delay(extra, options, out);
    simdjson::dom::element filtering;
    if (!extra.at_key("do_task_filtering").get(filtering) && truthy(filtering))
      out.filtering = true;
  }
  if (out.task_id.empty())
    out.task_id = new_task_id(); // a message without extra is valid (WIRE.md)
  out.filtering = out.filtering || options.do_task_filtering;
  if (out.filtering)
    out.filter_value = task_filter_value(message);
  out.known = true;
  return out;
}

} // namespace funboost::detail
