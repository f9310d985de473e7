#include "brokers/redis/redis_keeper.hpp"

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include <funboost/broker.hpp>

#include "brokers/redis/redis_consumer_id.hpp"
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

redis_keeper::redis_keeper(redis_where where, std::string heartbeat_key,
                           liveness_keys liveness, redis_timing timing, recover_fn recover,
                           std::shared_ptr<spdlog::logger> log, std::function<void()> wake)
  : where_(std::move(where)),
    heartbeat_key_(std::move(heartbeat_key)),
    liveness_(std::move(liveness)),
    timing_(timing),
    recover_(std::move(recover)),
    log_(std::move(log)),
    wake_(std::move(wake)) {
  auto now = std::chrono::steady_clock::now();
  next_beat_ = now + timing_.heartbeat_interval; // add()'s caller has just beaten
  next_recover_ = now + timing_.recover_interval;
  next_liveness_ = now + timing_.liveness_interval;
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

void redis_keeper::connect() {
  bool again = conn_ != nullptr || failing_; // a broken connection, not the first one
  conn_ = std::make_unique<redis_connection>(where_);
  if (again)
    reconnected_at_ = std::chrono::steady_clock::now();
}

bool redis_keeper::settled(std::chrono::steady_clock::time_point now) {
  // After an outage every process reconnects; until Redis and we have been back a while, a
  // process without a connection may simply not be back yet.
  if (reconnected_at_ && now - *reconnected_at_ < timing_.liveness_grace)
    return false;
  auto info = reply_text(conn_->run({"INFO", "server"}).get());
  auto at = info.find("uptime_in_seconds:");
  if (at == std::string::npos)
    return false;
  return std::atoll(info.c_str() + at + 18) * 1000 >= timing_.liveness_grace.count();
}

namespace {

/// One line of CLIENT LIST: "id=7 addr=... name=funboost-cpp:h:12:ab12cd34 age=9 ...".
std::string field_of(std::string_view line, std::string_view name) {
  std::size_t at = 0;
  while (at < line.size()) {
    auto end = line.find(' ', at);
    if (end == std::string_view::npos)
      end = line.size();
    auto word = line.substr(at, end - at);
    if (word.size() > name.size() && word.substr(0, name.size()) == name
        && word[name.size()] == '=')
      return std::string{word.substr(name.size() + 1)};
    at = end + 1;
  }
  return {};
}

} // namespace

std::vector<std::string>
redis_keeper::find_gone_consumers(std::chrono::steady_clock::time_point now) {
  using std::chrono::milliseconds;
  next_liveness_ = now + timing_.liveness_interval;
  std::vector<std::pair<std::string, std::string>> others; // consumer id, process name
  auto mapping = conn_->run({"HGETALL", liveness_.clients});
  for (std::size_t i = 0; i + 1 < mapping->elements; i += 2) {
    auto name = reply_text(mapping->element[i + 1]);
    if (name != process_client_name())
      others.emplace_back(reply_text(mapping->element[i]), std::move(name));
  }
  if (others.empty()) {
    suspects_.clear();
    return {};
  }
  // One keeper per queue looks each interval; it keeps the turn for its confirming look.
  auto ttl = std::to_string(std::max<long long>(100, timing_.liveness_interval.count() - 50));
  auto turn = conn_->run({"SET", liveness_.lock, process_client_name(), "NX", "PX", ttl});
  if (turn->type == REDIS_REPLY_NIL
      && reply_text(conn_->run({"GET", liveness_.lock}).get()) != process_client_name()) {
    suspects_.clear();
    return {};
  }
  auto listing = conn_->run_allow_error({"CLIENT", "LIST", "TYPE", "normal"});
  if (is_error(listing.get())) {
    log_->warn("queue '{}': Redis refuses CLIENT LIST ({}), so a consumer process that died is "
               "noticed only when its heartbeat expires ({} s)",
               where_.queue, reply_text(listing.get()),
               seconds_text(timing_.heartbeat_expiry));
    timing_.liveness_interval = milliseconds{0};
    return {};
  }
  std::set<std::string> connected;
  auto text = reply_text(listing.get());
  std::size_t at = 0;
  while (at < text.size()) {
    auto end = text.find('\n', at);
    if (end == std::string::npos)
      end = text.size();
    std::string_view line{text.data() + at, end - at};
    if (auto name = field_of(line, "name"); !name.empty())
      connected.insert(std::move(name));
    at = end + 1;
  }
  bool absent = false;
  for (const auto& other : others)
    absent = absent || !connected.count(other.second);
  if (!absent || !settled(now)) {
    suspects_.clear();
    return {};
  }
  std::vector<std::string> gone;
  std::set<std::string> still_suspect;
  for (const auto& [id, name] : others) {
    if (connected.count(name))
      continue;
    if (suspects_.count(id))
      gone.push_back(id); // absent at two looks in a row
    else
      still_suspect.insert(id);
  }
  suspects_ = std::move(still_suspect);
  if (!suspects_.empty()) // confirm soon rather than in a whole interval
    next_liveness_ = std::min(next_liveness_, now + milliseconds{250});
  return gone;
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
  bool check = timing_.liveness_interval.count() > 0 && now >= next_liveness_;
  try {
    if ((beat || recover || check) && (!conn_ || !conn_->usable()))
      connect();
    if (beat) {
      if (!live.empty())
        send_heartbeat(*conn_, heartbeat_key_, timing_, live);
      next_beat_ = now + timing_.heartbeat_interval;
    }
    std::vector<std::string> gone;
    if (check)
      gone = find_gone_consumers(now);
    if (recover || !gone.empty()) {
      auto moved = recover_(*conn_, lost, gone);
      if (moved > 0)
        log_->warn("queue '{}': gave back {} unacknowledged message(s) of stopped or lost "
                   "consumers to the queue",
                   where_.queue, moved);
      if (moved >= 0 && !gone.empty()) {
        for (const auto& id : gone)
          log_->warn("queue '{}': consumer {} has no connection to Redis any more (its process "
                     "died); its tasks went back to the queue at once",
                     where_.queue, id);
        command forget{"HDEL", liveness_.clients};
        forget.insert(forget.end(), gone.begin(), gone.end());
        conn_->run(forget);
      } else if (!gone.empty()) {
        next_liveness_ = now + retry / 4; // the lock is busy: they are still gone next time
        for (const auto& id : gone)
          suspects_.insert(id);
      }
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
    next_liveness_ = std::min(next_liveness_, clock::now() + retry);
    suspects_.clear();
  }
  auto next = std::min(next_beat_, next_recover_);
  if (timing_.liveness_interval.count() > 0)
    next = std::min(next, next_liveness_);
  auto due = next - clock::now();
  return std::max(std::chrono::milliseconds{0},
                  std::chrono::duration_cast<std::chrono::milliseconds>(due));
}

} // namespace funboost::brokers::redis
