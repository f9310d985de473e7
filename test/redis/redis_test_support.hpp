// Shared bits of the Redis broker tests: booster options pointing at a test server.
#pragma once

#include <string>

#include <funboost/funboost.hpp>

#include "redis_server.hpp"

namespace funboost::test {

/// Options for a queue on `server` (db 7), quiet logs, quick fetcher restarts.
inline booster_options redis_options(const redis_server& server, const std::string& kind,
                                     const std::string& queue,
                                     std::vector<std::string> arg_names = {"x", "y"}) {
  booster_options o;
  o.queue_name = queue;
  o.broker_kind = kind;
  o.concurrent_num = 8;
  o.is_using_rpc_mode = true;
  o.arg_names = std::move(arg_names);
  o.broker.url = server.url(7);
  o.logging.level = log_level::error;
  o.logging.file_dir = "";
  o.restart_backoff = std::chrono::milliseconds{200};
  o.restart_backoff_max = std::chrono::milliseconds{2000};
  return o;
}

} // namespace funboost::test
