// Small helpers shared by the suites: quiet options and bounded waiting.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <stdexcept>
#include <thread>

#include <caf/scoped_actor.hpp>

#include <funboost/funboost.hpp>

namespace test_support {

/// Options for a test queue on the in-memory broker: warnings only, no log files, fast
/// restarts, no stats line.
inline funboost::booster_options memory_queue(std::string name) {
  funboost::booster_options o;
  o.queue_name = std::move(name);
  o.logging.level = funboost::log_level::error;
  o.logging.file_dir = "";
  o.logging.stats_interval = std::chrono::seconds(0);
  o.restart_backoff = std::chrono::milliseconds(20);
  o.fetch_wait = std::chrono::milliseconds(100);
  return o;
}

/// Polls `done` every millisecond until it holds or `limit` passes; returns whether it held.
inline bool wait_until(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

/// The queue's counters, asked of the runtime's node; throws (failing the test) if it cannot say.
inline funboost::queue_stats stats_of(funboost::runtime& rt, const std::string& queue) {
  caf::scoped_actor self{rt.system()};
  funboost::queue_stats out;
  std::string failure;
  self->request(rt.node(), std::chrono::seconds(10), funboost::stats_atom_v, queue)
    .receive([&](funboost::queue_stats& s) { out = s; },
             [&](caf::error& e) { failure = rt.system().render(e); });
  if (!failure.empty())
    throw std::runtime_error("stats of queue '" + queue + "': " + failure);
  return out;
}

} // namespace test_support
