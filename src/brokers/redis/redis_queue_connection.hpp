// What both Redis connection kinds share: the broker, the hiredis connection, the consumer id
// (set on the first fetch; a publishing connection is no consumer), the unacked messages by
// delivery tag, reconnecting for publishers, and giving messages back on close.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <unordered_map>

#include <funboost/broker.hpp>

#include "brokers/redis/redis_connection.hpp"

namespace funboost::brokers::redis {

template <class Broker>
class redis_queue_connection : public broker_connection {
public:
  redis_queue_connection(std::shared_ptr<Broker> broker, std::unique_ptr<redis_connection> conn)
    : broker_(std::move(broker)), conn_(std::move(conn)) {}

  std::string registered_params(const std::string& queue) override {
    return reconnecting([&] {
      auto r = conn_->run({"HGET", broker_->key("funboost_queue__consumer_parmas"), queue});
      return reply_text(r.get());
    });
  }

protected:
  void reopen() { conn_ = broker_->open(); }

  /// Runs `f`; a connection that does not consume (a publisher's) reconnects once after a
  /// lost connection (e.g. a server restart) and runs it again. A consuming connection never
  /// does: its fetcher must die so acks of messages fetched on it are dropped.
  template <class F>
  auto reconnecting(F&& f) {
    try {
      return f();
    } catch (const broker_error&) {
      if (!consumer_id_.empty() || conn_->usable())
        throw;
      reopen();
      return f();
    }
  }

  /// For the destructor of a consuming connection: `give_back` returns its unacked messages at
  /// once; if the server is gone, the keeper does it once the server is reachable.
  template <class F>
  void leave(F&& give_back) noexcept {
    if (consumer_id_.empty())
      return;
    bool given_back = false;
    if (conn_->usable()) {
      try {
        give_back();
        given_back = true;
        conn_->run({"HDEL", broker_->clients_key(), consumer_id_});
      } catch (const std::exception&) {
      }
    }
    broker_->keeper().remove(consumer_id_, !given_back);
  }

  std::shared_ptr<Broker> broker_;
  std::unique_ptr<redis_connection> conn_;
  std::string consumer_id_;
  uint64_t next_tag_ = 0;
  std::unordered_map<uint64_t, std::string> unacked_; // delivery tag -> what ack needs
};

} // namespace funboost::brokers::redis
