#include "brokers/redis/redis_ack_able_broker.hpp"

#include <chrono>
#include <cstdio>
#include <thread>
#include <unordered_map>

#include "brokers/redis/redis_broker_base.hpp"
#include "brokers/redis/redis_consumer_id.hpp"
#include "brokers/redis/redis_queue_connection.hpp"
#include "brokers/redis/redis_scripts.hpp"

namespace funboost::brokers::redis {

namespace {

constexpr std::size_t max_values_per_command = 1000;


/// Unix time in seconds, as funboost's time.time() score.
std::string now_score() {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld.%06lld", static_cast<long long>(us / 1000000),
                static_cast<long long>(us % 1000000));
  return buf;
}

class ack_able_broker;

class ack_able_connection final : public redis_queue_connection<ack_able_broker> {
public:
  using redis_queue_connection::redis_queue_connection;
  ~ack_able_connection() override;

  void publish(const std::string& queue, std::span<const std::string> bodies) override;
  std::size_t fetch(const std::string& queue, std::size_t max, std::chrono::milliseconds wait,
                    std::vector<fetched_message>& out) override;
  void ack(const std::string& queue, std::span<const uint64_t> delivery_tags) override;
  void requeue(const std::string& queue, std::span<const fetched_message> messages) override;
  std::size_t count(const std::string& queue) override;
  void clear(const std::string& queue) override;

private:
  void start_consuming();

  std::string unack_key_;
  // unacked_: delivery tag -> body (ZREM needs it)
};

class ack_able_broker final : public redis_broker_base,
                              public std::enable_shared_from_this<ack_able_broker> {
public:
  explicit ack_able_broker(const booster_options& options)
    : redis_broker_base(options, "REDIS_ACK_ABLE") {}

  std::unique_ptr<broker_connection> connect() override {
    return std::make_unique<ack_able_connection>(shared_from_this(), open());
  }

  std::string registry_key() const { return key("funboost_unack_registry:" + queue()); }
  std::string unack_prefix() const { return key(queue() + "__unack_id_"); }

  redis_keeper& keeper() {
    auto lock = lock_key();
    auto heartbeat = heartbeat_key();
    auto registry = registry_key();
    auto queue_key = key(queue());
    auto prefix = unack_prefix();
    auto expiry = seconds_text(timing().heartbeat_expiry);
    return redis_broker_base::keeper(
      [=](redis_connection& conn, const std::vector<std::string>& dead) {
        std::vector<std::string> args{expiry, prefix};
        args.insert(args.end(), dead.begin(), dead.end());
        auto reply = conn.eval(scripts::ack_able_recover, {lock, heartbeat, registry, queue_key},
                               args);
        return reply_int(reply.get(), 0);
      });
  }
};

ack_able_connection::~ack_able_connection() {
  leave([&] {
    conn_->eval(scripts::ack_able_close,
                {unack_key_, broker_->key(broker_->queue()), broker_->registry_key(),
                 broker_->heartbeat_key()},
                {consumer_id_});
  });
}

void ack_able_connection::start_consuming() {
  auto id = new_consumer_id();
  auto key = broker_->unack_prefix() + id;
  // Heartbeat first, then register the unack key: a registered key without a live heartbeat
  // would be recovered by other consumers while we hold its messages.
  send_heartbeat(*conn_, broker_->heartbeat_key(), broker_->timing(), {id});
  conn_->run({"SADD", broker_->registry_key(), key});
  consumer_id_ = std::move(id);
  unack_key_ = std::move(key);
  broker_->keeper().add(consumer_id_);
}

void ack_able_connection::publish(const std::string& queue,
                                  std::span<const std::string> bodies) {
  if (bodies.empty())
    return;
  auto key = broker_->key(queue);
  std::vector<command> commands;
  for (std::size_t i = 0; i < bodies.size(); i += max_values_per_command) {
    auto end = std::min(bodies.size(), i + max_values_per_command);
    command c;
    c.reserve(end - i + 2);
    c.push_back("RPUSH");
    c.push_back(key);
    c.insert(c.end(), bodies.begin() + static_cast<std::ptrdiff_t>(i),
             bodies.begin() + static_cast<std::ptrdiff_t>(end));
    commands.push_back(std::move(c));
  }
  reconnecting([&] {
    for (auto& r : conn_->pipeline(commands))
      if (is_error(r.get()))
        conn_->fail("RPUSH failed: " + reply_text(r.get()));
  });
}

std::size_t ack_able_connection::fetch(const std::string& queue, std::size_t max,
                                       std::chrono::milliseconds wait,
                                       std::vector<fetched_message>& out) {
  broker_->check_queue(queue, true);
  if (max == 0)
    return 0;
  if (consumer_id_.empty())
    start_consuming();
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + wait;
  // Polls start after 0.5 ms and back off to poll_interval: a message pushed just after an
  // empty fetch waits well under a millisecond, an idle queue costs few calls.
  clock::duration step = std::chrono::microseconds{500};
  auto queue_key = broker_->key(queue);
  auto n = std::to_string(max);
  for (;;) {
    auto reply = conn_->eval(scripts::ack_able_fetch, {queue_key, unack_key_}, {n, now_score()});
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0) {
      for (std::size_t i = 0; i < reply->elements; ++i) {
        auto tag = ++next_tag_;
        auto body = reply_text(reply->element[i]);
        unacked_.emplace(tag, body);
        out.push_back({std::move(body), tag});
      }
      return reply->elements;
    }
    auto now = clock::now();
    if (now >= deadline)
      return 0;
    // Within one bounded broker call, on the fetcher's own (detached) thread: REDIS_ACK_ABLE
    // has no blocking pop that keeps a message safe, so an empty list is polled.
    std::this_thread::sleep_for(std::min<clock::duration>(step, deadline - now));
    step = std::min<clock::duration>(step * 2, broker_->timing().poll_interval);
  }
}

void ack_able_connection::ack(const std::string& queue, std::span<const uint64_t> tags) {
  broker_->check_queue(queue, true);
  command c{"ZREM", unack_key_};
  for (auto tag : tags) {
    auto i = unacked_.find(tag);
    if (i == unacked_.end())
      continue;
    c.push_back(std::move(i->second));
    unacked_.erase(i);
  }
  if (c.size() > 2)
    conn_->run(c);
}

void ack_able_connection::requeue(const std::string& queue,
                                  std::span<const fetched_message> messages) {
  broker_->check_queue(queue, true);
  if (messages.empty())
    return;
  command push{"RPUSH", broker_->key(queue)};
  command remove{"ZREM", unack_key_};
  for (const auto& m : messages) {
    push.push_back(m.body);
    auto i = unacked_.find(m.delivery_tag);
    if (i != unacked_.end()) {
      remove.push_back(std::move(i->second));
      unacked_.erase(i);
    }
  }
  std::vector<command> commands{{"MULTI"}, push};
  if (remove.size() > 2)
    commands.push_back(remove);
  commands.push_back({"EXEC"});
  auto replies = conn_->pipeline(commands);
  if (replies.back()->type != REDIS_REPLY_ARRAY)
    conn_->fail("requeue (RPUSH + ZREM) failed: " + reply_text(replies.back().get()));
}

std::size_t ack_able_connection::count(const std::string& queue) {
  return reconnecting([&] {
    auto reply = conn_->run({"LLEN", broker_->key(queue)});
    return static_cast<std::size_t>(std::max(0LL, reply_int(reply.get(), 0)));
  });
}

void ack_able_connection::clear(const std::string& queue) {
  reconnecting([&] { conn_->run({"DEL", broker_->key(queue)}); });
}

} // namespace

std::shared_ptr<broker> make_redis_ack_able_broker(const booster_options& options) {
  return std::make_shared<ack_able_broker>(options);
}

} // namespace funboost::brokers::redis
