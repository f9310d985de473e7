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
                           recover_fn recover, std::shared_ptr<spdlog::logger> log)
  : where_(std::move(where)),
    heartbeat_key_(std::move(heartbeat_key)),
    timing_(timing),
    recover_(std::move(recover)),
    log_(std::move(log)) {}

redis_keeper::~redis_keeper() {
  {
    std::lock_guard guard{mutex_};
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void redis_keeper::add(const std::string& id) {
  std::lock_guard guard{mutex_};
  live_.insert(id);
  if (!thread_.joinable())
    thread_ = std::thread([this] { run(); });
}

void redis_keeper::remove(const std::string& id, bool lost) {
  {
    std::lock_guard guard{mutex_};
    live_.erase(id);
    if (lost) {
      lost_.insert(id);
      kick_ = true;
    }
  }
  if (lost)
    wake_.notify_all();
}

void redis_keeper::run() {
  using clock = std::chrono::steady_clock;
  std::unique_ptr<redis_connection> conn;
  auto next_beat = clock::now() + timing_.heartbeat_interval; // add()'s caller just beat
  auto next_recover = clock::now() + timing_.recover_interval;
  auto retry = std::chrono::milliseconds{1000};
  bool failing = false;
  std::unique_lock lock{mutex_};
  while (!stopping_) {
    auto wake_at = std::min(next_beat, next_recover);
    wake_.wait_until(lock, wake_at, [&] {
      return stopping_ || kick_ || clock::now() >= wake_at;
    });
    kick_ = false;
    if (stopping_)
      break;
    std::vector<std::string> live{live_.begin(), live_.end()};
    std::vector<std::string> lost{lost_.begin(), lost_.end()};
    lock.unlock();
    auto now = clock::now();
    bool beat = now >= next_beat;
    bool recover = now >= next_recover || (!lost.empty() && !failing);
    try {
      if (!conn || !conn->usable())
        conn = std::make_unique<redis_connection>(where_);
      if (beat) {
        if (!live.empty())
          send_heartbeat(*conn, heartbeat_key_, timing_, live);
        next_beat = now + timing_.heartbeat_interval;
      }
      if (recover) {
        auto moved = recover_(*conn, lost);
        if (moved > 0)
          log_->warn("queue '{}': gave back {} unacknowledged message(s) of stopped or lost "
                     "consumers to the queue",
                     where_.queue, moved);
        next_recover = now + timing_.recover_interval;
        if (moved >= 0 && !lost.empty()) {
          std::lock_guard guard{mutex_};
          for (const auto& id : lost)
            lost_.erase(id);
        } else if (moved < 0 && !lost.empty()) {
          next_recover = now + retry; // the lock is busy: try again soon
        }
      }
      failing = false;
    } catch (const std::exception& e) {
      conn.reset();
      if (!failing)
        log_->debug("queue '{}': heartbeat/recovery failed ({}); retrying every second",
                    where_.queue, e.what());
      failing = true;
      next_beat = std::min(next_beat, clock::now() + retry);
      next_recover = std::min(next_recover, clock::now() + retry);
    }
    lock.lock();
  }
}

} // namespace funboost::brokers::redis
