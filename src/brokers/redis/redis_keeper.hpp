// The keeper of one Redis broker: timer work with its own connection, run by the queue's
// heartbeat actor through broker::maintain() (brokers hold no threads of their own). Each
// round it
//  - sends the heartbeat "{consumer_id}&&{redis TIME}" of every live consumer (fetching
//    connection) of this broker every heartbeat_interval, whether or not its fetcher is
//    currently fetching (a fetcher with no credit does not call the broker, and a heartbeat
//    that lapses would let other consumers, Python ones included, requeue its messages), and
//  - every recover_interval, under funboost's lock, gives back the unacked messages of dead
//    consumers (no live heartbeat), and at once those of this process's connections that were
//    lost (their owner knows they are dead), and
//  - every liveness_interval checks whether the other funboost-cpp processes consuming this
//    queue still have a connection to Redis (CLIENT LIST names, see process_client_name());
//    a consumer whose process has none, at two checks in a row, is gone (SIGKILL, OOM, a
//    crash: the kernel closed its sockets) and its tasks are given back at once, without
//    waiting for its heartbeat to expire. Python consumers name no connection: for them the
//    heartbeat expiry stays the only way, as it is for a host that vanished.
// A Redis outage only makes the keeper ask to run again in a second; it never throws.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <spdlog/logger.h>
#include <string>
#include <vector>

#include "brokers/redis/redis_connection.hpp"

namespace funboost::brokers::redis {

/// Heartbeat and recovery timing (transport options in milliseconds in brackets).
struct redis_timing {
  std::chrono::milliseconds heartbeat_interval{10000}; // [heartbeat_interval_ms] funboost: 10 s
  std::chrono::milliseconds heartbeat_expiry{25000};   // [heartbeat_expire_ms]  funboost: 25 s
  std::chrono::milliseconds recover_interval{5000};    // [recover_interval_ms]  funboost: 60 s
  std::chrono::milliseconds stream_claim_idle{5000};   // [stream_claim_idle_ms]
  std::chrono::milliseconds poll_interval{50};         // [poll_interval_ms] longest empty-list poll
  // [liveness_check_interval_ms] how often a keeper looks for processes with no connection
  // left; 0 = never (heartbeat expiry only).
  std::chrono::milliseconds liveness_interval{1000};
  // [liveness_grace_ms] judge nobody until Redis has been up and the keeper's connection back
  // (after it broke) this long: after an outage every process reconnects, and one that has
  // not yet is not dead.
  std::chrono::milliseconds liveness_grace{5000};
};

/// Where a keeper finds which process each consumer belongs to.
struct liveness_keys {
  std::string clients; // HASH consumer id -> process_client_name() of its process
  std::string lock;    // one keeper per queue checks per interval (CLIENT LIST is O(clients))
};

/// A duration as Redis script arguments want it: seconds with a fraction, e.g. "25.000000".
std::string seconds_text(std::chrono::milliseconds ms);

/// Runs one heartbeat (or "leave") for `ids` on `conn`.
void send_heartbeat(redis_connection& conn, const std::string& heartbeat_key,
                    const redis_timing& timing, const std::vector<std::string>& ids,
                    bool leave = false);

class redis_keeper {
public:
  /// Gives back dead consumers' messages: those of heartbeat-expired consumers, and at once
  /// those of `lost` (this process's connections that broke: not a crash) and `gone` (another
  /// process that died: its running task is blamed, see max_crash_deliveries). Returns the
  /// number moved, or -1 if another consumer held the lock.
  using recover_fn = std::function<long long(redis_connection&,
                                             const std::vector<std::string>& lost,
                                             const std::vector<std::string>& gone)>;

  /// `wake` asks for a maintain() round now (a lost connection must be recovered at once).
  redis_keeper(redis_where where, std::string heartbeat_key, liveness_keys liveness,
               redis_timing timing, recover_fn recover, std::shared_ptr<spdlog::logger> log,
               std::function<void()> wake);
  redis_keeper(const redis_keeper&) = delete;
  redis_keeper& operator=(const redis_keeper&) = delete;

  /// A connection starts consuming as `id` (it has sent its first heartbeat itself).
  void add(const std::string& id);
  /// A connection closed. `lost`: it could not give its messages back, recover them now.
  void remove(const std::string& id, bool lost);

  /// One round: heartbeats and recovery when due. Returns how long until the next is due.
  /// Called by one actor at a time; may block on Redis.
  std::chrono::milliseconds maintain();

private:
  /// One liveness check (see the top of this file): the consumers found gone.
  std::vector<std::string> find_gone_consumers(std::chrono::steady_clock::time_point now);
  /// Connects; a connection made because the last one broke starts the liveness grace.
  void connect();
  /// Whether Redis and this keeper's connection have been up for liveness_grace.
  bool settled(std::chrono::steady_clock::time_point now);

  redis_where where_;
  std::string heartbeat_key_;
  liveness_keys liveness_;
  redis_timing timing_;
  recover_fn recover_;
  std::shared_ptr<spdlog::logger> log_;
  std::function<void()> wake_;

  std::mutex mutex_; // add/remove come from fetcher threads, maintain from the heartbeat's
  std::set<std::string> live_;
  std::set<std::string> lost_;

  // Only maintain() touches these.
  std::unique_ptr<redis_connection> conn_;
  std::chrono::steady_clock::time_point next_beat_;
  std::chrono::steady_clock::time_point next_recover_;
  std::chrono::steady_clock::time_point next_liveness_;
  std::optional<std::chrono::steady_clock::time_point> reconnected_at_; // after a failure
  std::set<std::string> suspects_;  // consumers without a connection at the last check
  bool failing_ = false;
};

} // namespace funboost::brokers::redis
