// Reads the per-message controls from a message's "extra" object (funboost's wire format).
#pragma once

#include <string>

#include <simdjson.h>

#include <funboost/options.hpp>

namespace funboost::detail {

struct task_extra {
  std::string task_id; // from extra.task_id; a new UUIDv7 if the message has none
  int max_retries = 0; // extra.max_retry_times when truthy, else the booster's
  bool rpc = false;    // extra.is_using_rpc_mode when truthy, else the booster's
};

task_extra read_task_extra(simdjson::dom::object message, const booster_options& options);

} // namespace funboost::detail
