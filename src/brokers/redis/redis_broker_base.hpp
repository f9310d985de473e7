// What both Redis brokers share: the address and timing read from the options, funboost's key
// names, the keeper (heartbeats and recovery), and the queue registration every funboost
// booster performs (HSET funboost_queue__consumer_parmas, SADD funboost_all_queue_names).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <spdlog/logger.h>

#include <funboost/broker.hpp>

#include "brokers/redis/redis_connection.hpp"
#include "brokers/redis/redis_consumer_id.hpp"
#include "brokers/redis/redis_keeper.hpp"
#include "brokers/redis/redis_params_record.hpp"

namespace funboost::brokers::redis {

class redis_broker_base : public broker {
public:
  /// `funboost_kind` is funboost's name for the protocol, e.g. "REDIS_ACK_ABLE".
  redis_broker_base(const booster_options& options, std::string funboost_kind);
  ~redis_broker_base() override;

  /// The key `name` with the configured key_prefix.
  std::string key(const std::string& name) const { return where_.address.key_prefix + name; }
  const std::string& queue() const { return where_.queue; }
  const redis_where& where() const { return where_; }
  const redis_timing& timing() const { return timing_; }
  spdlog::logger& log() const { return *log_; }
  std::string heartbeat_key() const { return key("funboost_hearbeat_queue__str:" + queue()); }
  // Not funboost's: what this project adds to survive poison tasks (see max_crash_deliveries).
  std::string crash_counts_key() const { return key("funboost_crash_deliveries:" + queue()); }
  std::string running_marks_key() const { return key("funboost_crash_running:" + queue()); }
  /// The highest count a death with no task marked running may give a held message
  /// (max_crash_deliveries - 1, at least 1; 0 = count nothing): see scripts::ack_able_recover.
  int unmarked_cap() const { return unmarked_cap_; }
  bool counts_crashes() const { return unmarked_cap_ > 0; }
  /// Not funboost's: HASH consumer id -> the name of its process's connections (redis_keeper).
  std::string clients_key() const { return key("funboost_cpp_consumer_clients:" + queue()); }

  /// A new connection; the first one that succeeds also registers the queue.
  std::unique_ptr<redis_connection> open();

  /// A new funboost consumer id (redis_consumer_id.hpp) in the configured time zone.
  std::string new_consumer_id() const { return redis::new_consumer_id(utc_offset_minutes_); }

  /// The keeper, made on first use with `recover` (called from maintain()).
  redis_keeper& keeper(redis_keeper::recover_fn recover);

  /// redis://[:***@]host:port/db as really used: the defaults and transport options applied.
  std::string address() const override { return where_.address.display(); }

  std::chrono::milliseconds maintain() override;
  void on_maintenance_needed(std::function<void()> wake) override;

  /// Throws broker_error unless `queue` is this broker's queue or its dead-letter queue.
  void check_queue(const std::string& queue, bool fetching) const;

protected:
  /// A recovery script's answer {moved, blamed messages...}: logs each blamed task, returns
  /// moved (-1: another consumer held the lock).
  long long recovered(const redisReply* reply) const;

  /// What a publish-only booster of this kind adds to the queue's registration.
  virtual void add_publisher_registration(std::vector<command>&) const {}

private:
  redis_where where_;
  redis_timing timing_;
  params_writer writer_; // a publish-only booster's record never replaces a consumer's
  std::string params_json_;
  int utc_offset_minutes_; // funboost's time zone, for consumer ids
  int unmarked_cap_;
  std::shared_ptr<spdlog::logger> log_;
  std::atomic<bool> registered_{false};
  std::mutex keeper_mutex_;
  std::unique_ptr<redis_keeper> keeper_;
  /// How to ask the heartbeat actor for a maintain() round; set by it, called by lost
  /// connections on fetcher threads.
  struct wake_hook {
    std::mutex mutex;
    std::function<void()> fn;
    void operator()() {
      std::function<void()> f;
      {
        std::lock_guard guard{mutex};
        f = fn;
      }
      if (f)
        f();
    }
  };
  std::shared_ptr<wake_hook> wake_ = std::make_shared<wake_hook>();
};

} // namespace funboost::brokers::redis
