#include "core/task_extra.hpp"

#include <cmath>

#include <funboost/wire.hpp>

namespace funboost::detail {

actors::task_controls read_task_controls(simdjson::dom::object message,
                                         const booster_options& options) {
  actors::task_controls out;
  out.max_retries = options.max_retries;
  out.rpc = options.is_using_rpc_mode;
  out.expire_seconds = options.msg_expire_seconds;
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
    double published;
    if (!extra.at_key("publish_time").get(published))
      out.publish_time = published;
  }
  if (out.task_id.empty())
    out.task_id = new_task_id(); // a message without extra is valid (WIRE.md)
  out.known = true;
  return out;
}

} // namespace funboost::detail
