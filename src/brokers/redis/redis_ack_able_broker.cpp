#include "brokers/redis/redis_ack_able_broker.hpp"

#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "brokers/redis/redis_broker_base.hpp"
#include "brokers/redis/redis_consumer_id.hpp"
#include "brokers/redis/redis_crash_suspects.hpp"
#include "brokers/redis/redis_queue_connection.hpp"
#include "brokers/redis/redis_delay_store.hpp"
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

/// A consumer as Redis knows it: its id (heartbeat, unack key name) and what it fetched and
/// has not acked, by delivery tag. It outlives a lost connection: see ack_able_broker::park.
struct consumer_identity {
  std::string consumer_id;
  std::string unack_key;
  uint64_t next_tag = 0;
  std::unordered_map<uint64_t, std::string> unacked;
  crash_suspects suspects;
};

class ack_able_connection final : public redis_queue_connection<ack_able_broker> {
public:
  using redis_queue_connection::redis_queue_connection;
  ~ack_able_connection() override;

  void publish(const std::string& queue, std::span<const std::string> bodies) override;
  std::size_t fetch(const std::string& queue, std::size_t max, std::chrono::milliseconds wait,
                    std::vector<fetched_message>& out) override;
  /// Blocks until `queue_key` has a message or `left` passed; false if the server cannot.
  bool wait_for_message(const std::string& queue_key, std::chrono::steady_clock::duration left);
  void ack(const std::string& queue, std::span<const uint64_t> delivery_tags) override;
  void requeue(const std::string& queue, std::span<const fetched_message> messages) override;
  std::size_t count(const std::string& queue) override;
  void clear(const std::string& queue) override;
  void mark_running(const std::string& queue, uint64_t delivery_tag) override;
  bool continues_previous() const override { return continues_; }

  /// This connection serves consumer slot `slot`; `previous` is the identity its last
  /// connection left when Redis was lost (see ack_able_broker::park), continued here.
  void serve_slot(uint32_t slot, std::optional<consumer_identity> previous);

private:
  void start_consuming();
  crash_suspects::keys crash_keys() const;

  std::string unack_key_;
  // unacked_: delivery tag -> body (ZREM needs it)
  crash_suspects suspects_;
  std::optional<uint32_t> slot_;           // a fetcher's connection; none for publishers
  bool blocking_wait_ = true;              // false once the server turned BLMOVE down
  bool continues_ = false;
};

class ack_able_broker final : public redis_broker_base,
                              public std::enable_shared_from_this<ack_able_broker> {
public:
  explicit ack_able_broker(const booster_options& options)
    : redis_broker_base(options, "REDIS_ACK_ABLE") {}

  std::unique_ptr<delay_store> make_delay_store() override {
    return make_redis_delay_store(*this, false);
  }

  std::unique_ptr<broker_connection> connect() override {
    return std::make_unique<ack_able_connection>(shared_from_this(), open());
  }

  std::unique_ptr<broker_connection> connect_consumer(uint32_t slot) override {
    auto conn = std::make_unique<ack_able_connection>(shared_from_this(), open());
    conn->serve_slot(slot, take_parked(slot)); // only once Redis answered: else it stays parked
    return conn;
  }

  /// A consuming connection lost Redis: its consumer id, unack key and unacked messages stay
  /// valid (the keeper goes on sending its heartbeat), so the slot's next connection continues
  /// as that consumer and acks what is still running, instead of the messages being given back
  /// and run twice. Identities nobody continues lapse with the heartbeat when the broker goes,
  /// and other consumers (or the next start) give their messages back.
  void park(uint32_t slot, consumer_identity identity) {
    std::lock_guard guard{parked_mutex_};
    parked_[slot] = std::move(identity);
  }

  std::optional<consumer_identity> take_parked(uint32_t slot) {
    std::lock_guard guard{parked_mutex_};
    auto i = parked_.find(slot);
    if (i == parked_.end())
      return std::nullopt;
    auto identity = std::move(i->second);
    parked_.erase(i);
    return identity;
  }

  /// funboost's REDIS_ACK_ABLE recovery lock (its typo included).
  std::string lock_key() const {
    return key("fsdf_lock__requeue_tasks_which_unconfirmed:" + queue());
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
    auto counts = crash_counts_key();
    auto marks = running_marks_key();
    return redis_broker_base::keeper(
      [=, this](redis_connection& conn, const std::vector<std::string>& lost,
                const std::vector<std::string>& gone) {
        std::vector<std::string> args{expiry, prefix, std::to_string(unmarked_cap()),
                                      std::to_string(lost.size())};
        args.insert(args.end(), lost.begin(), lost.end());
        args.insert(args.end(), gone.begin(), gone.end());
        auto reply = conn.eval(scripts::ack_able_recover,
                               {lock, heartbeat, registry, queue_key, counts, marks}, args);
        return recovered(reply.get());
      });
  }

protected:
  /// funboost's booster makes its consumer, which registers its unack key, even when it only
  /// publishes; it sends a heartbeat only once it consumes. The key stays empty, and the next
  /// recovery (ours or funboost's) drops it quietly.
  void add_publisher_registration(std::vector<command>& commands) const override {
    commands.push_back({"SADD", registry_key(), unack_prefix() + new_consumer_id()});
  }

private:
  std::mutex parked_mutex_; // fetchers of several slots connect on their own threads
  std::unordered_map<uint32_t, consumer_identity> parked_;
};

void ack_able_connection::serve_slot(uint32_t slot, std::optional<consumer_identity> previous) {
  slot_ = slot;
  if (!previous)
    return;
  continues_ = true;
  consumer_id_ = std::move(previous->consumer_id);
  unack_key_ = std::move(previous->unack_key);
  next_tag_ = previous->next_tag;
  unacked_ = std::move(previous->unacked);
  suspects_ = std::move(previous->suspects);
  // The heartbeat is the keeper's and never stopped; if Redis lost the registry entry (a
  // restart without persistence, or another consumer's recovery), the first fetch re-registers.
  std::vector<std::string> known;
  known.reserve(unacked_.size());
  for (const auto& [tag, body] : unacked_)
    known.push_back(body);
  auto reply = conn_->eval(scripts::ack_able_reclaim,
                           {unack_key_, broker_->key(broker_->queue())}, known);
  if (auto lost = reply_int(reply.get(), 0); lost > 0)
    broker_->log().warn("queue '{}': consumer {} gave back {} message(s) that a fetch moved to "
                        "its unack key while the connection was lost (they never ran)",
                        broker_->queue(), consumer_id_, lost);
  broker_->log().info("queue '{}': consumer {} continues on a new connection after losing "
                      "Redis, with {} unacknowledged message(s) still its own",
                      broker_->queue(), consumer_id_, unacked_.size());
}

ack_able_connection::~ack_able_connection() {
  if (slot_ && !consumer_id_.empty() && !conn_->usable()) {
    broker_->park(*slot_, consumer_identity{std::move(consumer_id_), std::move(unack_key_),
                                            next_tag_, std::move(unacked_),
                                            std::move(suspects_)});
    return;
  }
  leave([&] {
    conn_->eval(scripts::ack_able_close,
                {unack_key_, broker_->key(broker_->queue()), broker_->registry_key(),
                 broker_->heartbeat_key(), broker_->running_marks_key()},
                {consumer_id_});
  });
}

void ack_able_connection::start_consuming() {
  auto id = broker_->new_consumer_id();
  auto key = broker_->unack_prefix() + id;
  // Heartbeat first, then register the unack key: a registered key without a live heartbeat
  // would be recovered by other consumers while we hold its messages.
  send_heartbeat(*conn_, broker_->heartbeat_key(), broker_->timing(), {id});
  conn_->run({"HSET", broker_->clients_key(), id, process_client_name()});
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
  std::vector<command_view> commands; // views: the bodies are not copied before hiredis
  for (std::size_t i = 0; i < bodies.size(); i += max_values_per_command) {
    auto end = std::min(bodies.size(), i + max_values_per_command);
    command_view c;
    c.reserve(end - i + 2);
    c.push_back("RPUSH");
    c.push_back(key);
    c.insert(c.end(), bodies.begin() + static_cast<std::ptrdiff_t>(i),
             bodies.begin() + static_cast<std::ptrdiff_t>(end));
    commands.push_back(std::move(c));
  }
  reconnecting([&] {
    for (auto& r : conn_->pipeline_views(commands))
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
  // Only without BLMOVE (Redis < 6.2): polls start after 0.5 ms and back off to
  // poll_interval, so a message pushed just after an empty fetch waits well under a
  // millisecond and an idle queue costs few calls.
  clock::duration step = std::chrono::microseconds{500};
  auto queue_key = broker_->key(queue);
  auto n = std::to_string(max);
  for (;;) {
    auto reply = conn_->eval(scripts::ack_able_fetch,
                             {queue_key, unack_key_, broker_->registry_key(),
                              broker_->heartbeat_key(), broker_->crash_counts_key(),
                              broker_->clients_key()},
                             {n, now_score(), consumer_id_, process_client_name()});
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
      conn_->fail("fetch script answered " + reply_text(reply.get()));
    if (reply_int(reply->element[2], 0) == 1)
      broker_->log().warn(
        "queue '{}': consumer {} was declared dead by another consumer (no heartbeat for more "
        "than {} s: this process was frozen or cut off from Redis), which gave its unacked "
        "tasks back to the queue; those may run twice. It registered again before fetching.",
        queue, consumer_id_, seconds_text(broker_->timing().heartbeat_expiry));
    const auto* msgs = reply->element[0];
    const auto* counts = reply->element[1];
    if (msgs->elements > 0) {
      for (std::size_t i = 0; i < msgs->elements; ++i) {
        auto tag = ++next_tag_;
        auto body = reply_text(msgs->element[i]);
        uint32_t crashes = 0;
        if (i < counts->elements)
          crashes = static_cast<uint32_t>(std::max(0LL, reply_int(counts->element[i], 0)));
        if (crashes > 0)
          suspects_.add(tag, body);
        unacked_.emplace(tag, body);
        out.push_back({std::move(body), tag, crashes});
      }
      return msgs->elements;
    }
    auto now = clock::now();
    if (now >= deadline)
      return 0;
    if (blocking_wait_ && wait_for_message(queue_key, deadline - now))
      continue;
    // Within one bounded broker call, on the fetcher's own (detached) thread: REDIS_ACK_ABLE
    // has no blocking pop that keeps a message safe, so without BLMOVE an empty list is polled.
    std::this_thread::sleep_for(std::min<clock::duration>(step, deadline - now));
    step = std::min<clock::duration>(step * 2, broker_->timing().poll_interval);
  }
}

bool ack_able_connection::wait_for_message(const std::string& queue_key,
                                           std::chrono::steady_clock::duration left) {
  // BLMOVE q q RIGHT RIGHT takes the last message and puts it back where it was: the list is
  // unchanged, but the call blocks until the list has a message. So an idle consumer makes one
  // call per fetch_wait (funboost polls with a backoff up to 2 s) and a push wakes it at once.
  auto ms = std::max<long long>(
    1, std::chrono::duration_cast<std::chrono::milliseconds>(left).count());
  char timeout[32];
  std::snprintf(timeout, sizeof(timeout), "%.3f", static_cast<double>(ms) / 1000.0);
  conn_->set_timeout(std::chrono::milliseconds{ms} + conn_->default_timeout());
  auto reply = conn_->run_allow_error({"BLMOVE", queue_key, queue_key, "RIGHT", "RIGHT", timeout});
  conn_->set_timeout(conn_->default_timeout());
  if (is_error(reply.get(), "ERR unknown command")) {
    blocking_wait_ = false; // Redis before 6.2: poll instead
    return false;
  }
  if (is_error(reply.get()))
    conn_->fail("BLMOVE (waiting for a message) failed: " + reply_text(reply.get()));
  return true;
}

void ack_able_connection::ack(const std::string& queue, std::span<const uint64_t> tags) {
  broker_->check_queue(queue, true);
  std::vector<command> commands;
  suspects_.finished(tags, crash_keys(), commands);
  command c{"ZREM", unack_key_};
  std::vector<uint64_t> removed;
  for (auto tag : tags) {
    auto i = unacked_.find(tag);
    if (i == unacked_.end())
      continue;
    c.push_back(std::move(i->second));
    removed.push_back(tag);
    unacked_.erase(i);
  }
  if (c.size() > 2)
    commands.insert(commands.begin(), std::move(c));
  try {
    if (commands.size() == 1)
      conn_->run(commands.front());
    else if (!commands.empty())
      for (auto& r : conn_->pipeline(commands))
        if (is_error(r.get()))
          conn_->fail("ack failed: " + reply_text(r.get()));
  } catch (const broker_error&) {
    // Not acked: the messages stay this consumer's, so the connection that continues it
    // (see ack_able_broker::park) acks them when the fetcher hands the acks back.
    for (std::size_t k = 0; k < removed.size(); ++k)
      unacked_.emplace(removed[k], std::move(commands.front()[k + 2]));
    throw;
  }
}

crash_suspects::keys ack_able_connection::crash_keys() const {
  return {broker_->crash_counts_key(), broker_->running_marks_key(), consumer_id_};
}

void ack_able_connection::mark_running(const std::string& queue, uint64_t tag) {
  broker_->check_queue(queue, true);
  if (auto mark = suspects_.mark(tag, crash_keys()))
    conn_->run(*mark);
}

void ack_able_connection::requeue(const std::string& queue,
                                  std::span<const fetched_message> messages) {
  broker_->check_queue(queue, true);
  if (messages.empty())
    return;
  command push{"RPUSH", broker_->key(queue)};
  command remove{"ZREM", unack_key_};
  std::vector<command> commands{{"MULTI"}};
  for (const auto& m : messages) {
    suspects_.given_back(m.delivery_tag, crash_keys(), commands);
    push.push_back(m.body);
    auto i = unacked_.find(m.delivery_tag);
    if (i != unacked_.end()) {
      remove.push_back(std::move(i->second));
      unacked_.erase(i);
    }
  }
  commands.push_back(push);
  if (remove.size() > 2)
    commands.push_back(remove);
  commands.push_back({"EXEC"});
  try {
    auto replies = conn_->pipeline(commands);
    if (replies.back()->type != REDIS_REPLY_ARRAY)
      conn_->fail("requeue (RPUSH + ZREM) failed: " + reply_text(replies.back().get()));
  } catch (const broker_error&) {
    for (const auto& m : messages) // not given back: still this consumer's (as in ack)
      unacked_.emplace(m.delivery_tag, m.body);
    throw;
  }
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
