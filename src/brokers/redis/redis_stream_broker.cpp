#include "brokers/redis/redis_stream_broker.hpp"

#include <algorithm>
#include <cstdlib>
#include <unordered_map>

#include "brokers/redis/redis_broker_base.hpp"
#include "brokers/redis/redis_consumer_id.hpp"
#include "brokers/redis/redis_crash_suspects.hpp"
#include "brokers/redis/redis_queue_connection.hpp"
#include "brokers/redis/redis_delay_store.hpp"
#include "brokers/redis/redis_scripts.hpp"

namespace funboost::brokers::redis {

namespace {

constexpr const char* group_name = "funboost_group"; // funboost's consumer group
constexpr std::size_t max_commands_per_pipeline = 1000;


class stream_broker;

class stream_connection final : public redis_queue_connection<stream_broker> {
public:
  using redis_queue_connection::redis_queue_connection;
  ~stream_connection() override;

  void publish(const std::string& queue, std::span<const std::string> bodies) override;
  std::size_t fetch(const std::string& queue, std::size_t max, std::chrono::milliseconds wait,
                    std::vector<fetched_message>& out) override;
  void ack(const std::string& queue, std::span<const uint64_t> delivery_tags) override;
  void requeue(const std::string& queue, std::span<const fetched_message> messages) override;
  std::size_t count(const std::string& queue) override;
  void clear(const std::string& queue) override;

  void mark_running(const std::string& queue, uint64_t delivery_tag) override;

private:
  void start_consuming();
  void create_group();
  /// Crash counts of the bodies just fetched (out[first..]), when any count exists.
  void read_crash_counts(std::vector<fetched_message>& out, std::size_t first);
  crash_suspects::keys crash_keys() const;

  // unacked_: delivery tag -> stream entry id
  crash_suspects suspects_;
};

class stream_broker final : public redis_broker_base,
                            public std::enable_shared_from_this<stream_broker> {
public:
  explicit stream_broker(const booster_options& options)
    : redis_broker_base(options, "REDIS_STREAM") {}

  std::unique_ptr<delay_store> make_delay_store() override {
    return make_redis_delay_store(*this, true);
  }

  std::unique_ptr<broker_connection> connect() override {
    return std::make_unique<stream_connection>(shared_from_this(), open());
  }

  /// funboost's REDIS_STREAM recovery lock (not the REDIS_ACK_ABLE one): whoever holds it,
  /// Python or C++, is the only one moving a dead consumer's pending entries, so an entry is
  /// never both re-added by us and XCLAIMed by a Python consumer.
  std::string stream_lock_key() const {
    return key("funboost_lock__requeue_tasks_which_unconfirmed:" + queue());
  }

  redis_keeper& keeper() {
    auto lock = stream_lock_key();
    auto heartbeat = heartbeat_key();
    auto stream = key(queue());
    auto expiry = seconds_text(timing().heartbeat_expiry);
    auto idle = std::to_string(timing().stream_claim_idle.count());
    return redis_broker_base::keeper(
      [=, this](redis_connection& conn, const std::vector<std::string>& lost,
                const std::vector<std::string>& gone) {
        std::vector<std::string> args{expiry, group_name, idle, std::to_string(unmarked_cap()),
                                      std::to_string(lost.size())};
        args.insert(args.end(), lost.begin(), lost.end());
        args.insert(args.end(), gone.begin(), gone.end());
        auto reply = conn.eval(scripts::stream_recover,
                               {lock, heartbeat, stream, crash_counts_key(), running_marks_key()},
                               args);
        return recovered(reply.get());
      });
  }
};

stream_connection::~stream_connection() {
  leave([&] {
    conn_->eval(scripts::stream_close,
                {broker_->key(broker_->queue()), broker_->heartbeat_key(),
                 broker_->running_marks_key()},
                {group_name, consumer_id_});
  });
}

void stream_connection::create_group() {
  auto reply = conn_->run_allow_error(
    {"XGROUP", "CREATE", broker_->key(broker_->queue()), group_name, "0", "MKSTREAM"});
  if (is_error(reply.get()) && !is_error(reply.get(), "BUSYGROUP"))
    conn_->fail("XGROUP CREATE failed: " + reply_text(reply.get()));
}

void stream_connection::start_consuming() {
  auto id = broker_->new_consumer_id();
  send_heartbeat(*conn_, broker_->heartbeat_key(), broker_->timing(), {id});
  conn_->run({"HSET", broker_->clients_key(), id, process_client_name()});
  create_group();
  consumer_id_ = std::move(id);
  broker_->keeper().add(consumer_id_);
}

void stream_connection::publish(const std::string& queue, std::span<const std::string> bodies) {
  auto key = broker_->key(queue);
  std::vector<command> commands;
  for (std::size_t i = 0; i < bodies.size(); i += max_commands_per_pipeline) {
    commands.clear();
    auto end = std::min(bodies.size(), i + max_commands_per_pipeline);
    for (std::size_t j = i; j < end; ++j)
      commands.push_back({"XADD", key, "*", "", bodies[j]});
    reconnecting([&] {
      for (auto& r : conn_->pipeline(commands))
        if (is_error(r.get()))
          conn_->fail("XADD failed: " + reply_text(r.get()));
    });
  }
}

std::size_t stream_connection::fetch(const std::string& queue, std::size_t max,
                                     std::chrono::milliseconds wait,
                                     std::vector<fetched_message>& out) {
  broker_->check_queue(queue, true);
  if (max == 0)
    return 0;
  if (consumer_id_.empty())
    start_consuming();
  command c{"XREADGROUP", "GROUP", group_name, consumer_id_, "COUNT", std::to_string(max)};
  bool blocking = wait.count() > 0; // BLOCK 0 would wait forever
  if (blocking) {
    c.push_back("BLOCK");
    c.push_back(std::to_string(wait.count()));
    conn_->set_timeout(wait + conn_->default_timeout());
  }
  c.push_back("STREAMS");
  c.push_back(broker_->key(queue));
  c.push_back(">");
  // The EXISTS runs after the read (a pipeline keeps order): whether any crash count exists
  // costs no round trip of its own.
  std::vector<command> commands{c};
  if (broker_->counts_crashes())
    commands.push_back({"EXISTS", broker_->crash_counts_key()});
  auto replies = conn_->pipeline(commands);
  auto reply = std::move(replies[0]);
  bool counted = replies.size() > 1 && reply_int(replies[1].get(), 0) == 1;
  if (blocking)
    conn_->set_timeout(conn_->default_timeout());
  if (is_error(reply.get(), "NOGROUP")) { // the stream was deleted (clear): start it again
    create_group();
    return 0;
  }
  if (is_error(reply.get()))
    conn_->fail("XREADGROUP failed: " + reply_text(reply.get()));
  if (reply->type != REDIS_REPLY_ARRAY)
    return 0; // nil: nothing within the wait
  std::size_t added = 0;
  auto first = out.size();
  for (std::size_t s = 0; s < reply->elements; ++s) {
    auto* stream = reply->element[s];
    if (stream->type != REDIS_REPLY_ARRAY || stream->elements < 2)
      continue;
    auto* entries = stream->element[1];
    for (std::size_t e = 0; e < entries->elements; ++e) {
      auto* entry = entries->element[e];
      if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2)
        continue;
      auto id = reply_text(entry->element[0]);
      auto* fields = entry->element[1];
      std::string body;
      bool found = false;
      if (fields->type == REDIS_REPLY_ARRAY) {
        for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
          if (!found || reply_text(fields->element[f]).empty()) {
            body = reply_text(fields->element[f + 1]);
            found = true;
            if (reply_text(fields->element[f]).empty())
              break; // funboost's field name is ""
          }
        }
      }
      auto tag = ++next_tag_;
      unacked_.emplace(tag, id);
      out.push_back({std::move(body), tag}); // an entry without fields is malformed: dead-letter
      ++added;
    }
  }
  if (counted && added > 0)
    read_crash_counts(out, first);
  return added;
}

void stream_connection::read_crash_counts(std::vector<fetched_message>& out, std::size_t first) {
  command hmget{"HMGET", broker_->crash_counts_key()};
  for (auto i = first; i < out.size(); ++i)
    hmget.push_back(out[i].body);
  auto counts = conn_->run(hmget);
  for (std::size_t i = 0; i < counts->elements && first + i < out.size(); ++i) {
    auto n = counts->element[i]->type == REDIS_REPLY_STRING
               ? std::atoll(reply_text(counts->element[i]).c_str())
               : 0;
    if (n > 0) {
      auto& m = out[first + i];
      m.crash_deliveries = static_cast<uint32_t>(n);
      suspects_.add(m.delivery_tag, m.body);
    }
  }
}

crash_suspects::keys stream_connection::crash_keys() const {
  return {broker_->crash_counts_key(), broker_->running_marks_key(), consumer_id_};
}

void stream_connection::mark_running(const std::string& queue, uint64_t tag) {
  broker_->check_queue(queue, true);
  if (auto mark = suspects_.mark(tag, crash_keys()))
    conn_->run(*mark);
}

void stream_connection::ack(const std::string& queue, std::span<const uint64_t> tags) {
  broker_->check_queue(queue, true);
  auto key = broker_->key(queue);
  command xack{"XACK", key, group_name};
  command xdel{"XDEL", key};
  for (auto tag : tags) {
    auto i = unacked_.find(tag);
    if (i == unacked_.end())
      continue;
    xack.push_back(i->second);
    xdel.push_back(std::move(i->second));
    unacked_.erase(i);
  }
  std::vector<command> commands;
  suspects_.finished(tags, crash_keys(), commands);
  if (xdel.size() <= 2 && commands.empty())
    return;
  if (xdel.size() > 2) {
    commands.push_back(std::move(xack));
    commands.push_back(std::move(xdel));
  }
  for (auto& r : conn_->pipeline(commands))
    if (is_error(r.get()) && !is_error(r.get(), "NOGROUP"))
      conn_->fail("XACK/XDEL failed: " + reply_text(r.get()));
}

void stream_connection::requeue(const std::string& queue,
                                std::span<const fetched_message> messages) {
  broker_->check_queue(queue, true);
  if (messages.empty())
    return;
  auto key = broker_->key(queue);
  command xack{"XACK", key, group_name};
  command xdel{"XDEL", key};
  std::vector<command> commands{{"MULTI"}};
  for (const auto& m : messages) {
    suspects_.given_back(m.delivery_tag, crash_keys(), commands);
    commands.push_back({"XADD", key, "*", "", m.body});
    auto i = unacked_.find(m.delivery_tag);
    if (i != unacked_.end()) {
      xack.push_back(i->second);
      xdel.push_back(std::move(i->second));
      unacked_.erase(i);
    }
  }
  if (xdel.size() > 2) {
    commands.push_back(xack);
    commands.push_back(xdel);
  }
  commands.push_back({"EXEC"});
  auto replies = conn_->pipeline(commands);
  if (replies.back()->type != REDIS_REPLY_ARRAY)
    conn_->fail("requeue (XADD + XACK + XDEL) failed: " + reply_text(replies.back().get()));
}

std::size_t stream_connection::count(const std::string& queue) {
  auto key = broker_->key(queue);
  return reconnecting([&] {
    auto replies = conn_->pipeline({{"XLEN", key}, {"XPENDING", key, group_name}});
    if (is_error(replies[0].get()))
      conn_->fail("XLEN failed: " + reply_text(replies[0].get()));
    auto length = reply_int(replies[0].get(), 0);
    long long pending = 0;
    auto* p = replies[1].get();
    if (p->type == REDIS_REPLY_ARRAY && p->elements > 0)
      pending = reply_int(p->element[0], 0);
    return static_cast<std::size_t>(std::max(0LL, length - pending));
  });
}

void stream_connection::clear(const std::string& queue) {
  reconnecting([&] { conn_->run({"DEL", broker_->key(queue)}); });
}

} // namespace

std::shared_ptr<broker> make_redis_stream_broker(const booster_options& options) {
  return std::make_shared<stream_broker>(options);
}

} // namespace funboost::brokers::redis
