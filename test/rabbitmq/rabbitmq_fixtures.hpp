// Shared by the rabbitmq suites: one real rabbitmq-server per test program, quiet booster
// options pointing at it, and bounded waiting.
#pragma once

#include "support/fixtures.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include <funboost/funboost.hpp>

#include "rabbitmq/rabbitmq_server.hpp"

namespace rabbitmq_test {

/// The program's broker, started on first use (about 6 s here) and killed at exit.
inline rabbitmq_server& shared_server() {
  static rabbitmq_server server;
  return server;
}

/// A queue on `server`: warnings only, no log files, no stats line, fast fetcher restarts.
inline funboost::booster_options rabbit_queue(const std::string& name,
                                              const rabbitmq_server& server) {
  funboost::booster_options o;
  o.queue_name = name;
  o.broker_kind = funboost::broker_kind::rabbitmq;
  o.broker.url = server.url();
  o.logging.level = funboost::log_level::error;
  o.logging.file_dir = "";
  o.logging.stats_interval = std::chrono::seconds(0);
  o.restart_backoff = std::chrono::milliseconds(200);
  o.restart_backoff_max = std::chrono::milliseconds(2000);
  o.fetch_wait = std::chrono::milliseconds(200);
  return o;
}

using test_support::wait_until;

} // namespace rabbitmq_test
