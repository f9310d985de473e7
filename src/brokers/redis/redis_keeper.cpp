#include "brokers/redis/redis_keeper.hpp"

#include <funboost/broker.hpp>

#include "brokers/redis/redis_scripts.hpp"

namespace funboost::brokers::redis {

std::string seconds_text(std::chrono::milliseconds ms) {
  return std::to_string(static_cast<double>(ms.count()) / 1000.0);
}

void send_heartbeat(redis_connection& conn, const std::string& heartbeat_key,
                    const redis_timing& timing, const std::vector<std::string>& ids, bool leave) {
  std::vector<std::string> args{seconds_text(timing.heartbeat_expiry), leave ? "leave" : "beat"};
  args.insert(args.end(), ids.begin(), ids.end());
  conn.eval(scripts::heartbeat, {heartbeat_key}, args);
}

redis_keeper::redis_keeper(redis_where where, std::string heartbeat_key, redis_timing timing,
                           recover_fn recover, std::shared_ptr<spdlog::logger> log,
                           std::function<void()> wake)
  : where_(std::move(where)),
    heartbeat_key_(std::move(heartbeat_key)),
    timing_(timing),
    recover_(std::move(recover)),
    log_(std::move(log)),
    wake_(std::move(wake)) {
  auto now = std::chrono::steady_clock::now();
  next_beat_ = now + timing_.heartbeat_interval; // add()'s caller has just beaten
  next_recover_ = now + timing_.recover_interval;
}

void redis_keeper::add(const std::string& id) {
  std::lock_guard guard{mutex_};
  live_.insert(id);
}

void redis_keeper::remove(const std::string& id, bool lost) {
  {
    std::lock_guard guard{mutex_};
    live_.erase(id);
    if (lost)
      lost_.insert(id);
  }
  if (lost && wake_)
    wake_();
}

std::chrono::milliseconds redis_keeper::maintain() {
  using clock = std::chrono::steady_clock;
  constexpr auto retry = std::chrono::milliseconds{1000};
  std::vector<std::string> live, lost;
  {
    std::lock_guard guard{mutex_};
    live.assign(live_.begin(), live_.end());
    lost.assign(lost_.begin(), lost_.end());
  }
  auto now = clock::now();
  bool beat = now >= next_beat_;
  bool recover = now >= next_recover_ || (!lost.empty() && !failing_);
  try {
    if ((beat || recover) && (!conn_ || !conn_->usable()))
      conn_ = std::make_unique<redis_connection>(where_);
    if (beat) {
      if (!live.empty())
        send_heartbeat(*conn_, heartbeat_key_, timing_, live);
      next_beat_ = now + timing_.heartbeat_interval;
    }
    if (recover) {
      auto moved = recover_(*conn_, lost);
      if (moved > 0)
        log_->warn("queue '{}': gave back {} unacknowledged message(s) of stopped or lost "
                   "consumers to the queue",
                   where_.queue, moved);
      next_recover_ = now + timing_.recover_interval;
      if (moved >= 0 && !lost.empty()) {
        std::lock_guard guard{mutex_};
        for (const auto& id : lost)
          lost_.erase(id);
      } else if (moved < 0 && !lost.empty()) {
        next_recover_ = now + retry; // the lock is busy: try again soon
      }
    }
    failing_ = false;
  } catch (const std::exception& e) {
    conn_.reset();
    if (!failing_)
      log_->debug("queue '{}': heartbeat/recovery failed ({}); retrying every second",
                  where_.queue, e.what());
    failing_ = true;
    next_beat_ = std::min(next_beat_, clock::now() + retry);
    next_recover_ = std::min(next_recover_, clock::now() + retry);
  }
  auto due = std::min(next_beat_, next_recover_) - clock::now();
  return std::max(std::chrono::milliseconds{0},
                  std::chrono::duration_cast<std::chrono::milliseconds>(due));
}

} // namespace funboost::brokers::redis
