// The one broker interface, and the registry that maps a broker kind to its factory.
// Add a broker without touching the core: implement broker + broker_connection and call
// funboost::register_broker("my_kind", factory) before boosting a function with that kind.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <funboost/delay_store.hpp>
#include <funboost/options.hpp>

namespace funboost {

/// A broker failure (refused connection, lost connection, bad URL). Its text names the broker,
/// the queue and the address, and says what to do.
class broker_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A broker refused this process's configuration, not its availability: a wrong password or
/// user, a database or vhost that does not exist, missing permissions. Retrying cannot help
/// until someone changes the configuration; consumers still retry (the server side may be
/// fixed), but log it as a configuration error with the fix, once a minute.
class broker_config_error : public broker_error {
public:
  using broker_error::broker_error;
};

/// One message as fetched: the body (funboost JSON) and the broker's handle for ack/requeue.
struct fetched_message {
  std::string body;
  uint64_t delivery_tag = 0;
  /// How often a consumer process died while running this message, as far as the broker
  /// tracks it (0 when it does not). The dispatcher runs such a "suspect" task alone, and moves
  /// it to {queue}_dlx once it reaches max_crash_deliveries, so one poison task cannot stop a
  /// whole fleet.
  uint32_t crash_deliveries = 0;
};

/// One connection to a broker. Not thread-safe: each fetcher owns one, the publisher owns one.
/// Every call may throw broker_error (or broker_config_error); the caller (a fetcher) then dies
/// and is restarted.
class broker_connection {
public:
  virtual ~broker_connection() = default;

  /// Appends messages to the tail of `queue`. Returns when the broker holds them.
  virtual void publish(const std::string& queue, std::span<const std::string> bodies) = 0;

  /// Moves up to `max` messages into `out`, waiting at most `wait` for the first one.
  /// Returns how many were added. Fetched messages stay owned by this connection until acked.
  virtual std::size_t fetch(const std::string& queue, std::size_t max,
                            std::chrono::milliseconds wait, std::vector<fetched_message>& out)
    = 0;

  /// Confirms messages fetched on this connection: they are done and gone.
  virtual void ack(const std::string& queue, std::span<const uint64_t> delivery_tags) = 0;

  /// Gives fetched, unfinished messages back so any consumer can take them again.
  virtual void requeue(const std::string& queue, std::span<const fetched_message> messages) = 0;

  /// A suspect message (crash_deliveries > 0) is about to run alone on this consumer: if the
  /// process dies before it is acked or requeued, only this message is counted as the crash's
  /// cause (without a mark, every message the dead consumer held is). No-op where the broker
  /// counts nothing.
  virtual void mark_running(const std::string& queue, uint64_t delivery_tag) {
    (void) queue;
    (void) delivery_tag;
  }

  /// Messages waiting in `queue` (not counting ones fetched and unacked).
  virtual std::size_t count(const std::string& queue) = 0;

  /// Removes every waiting message from `queue`.
  virtual void clear(const std::string& queue) = 0;

  /// True when this connection took over the consumer identity of the previous connection of
  /// its slot (broker::connect_consumer), so messages fetched on that one can still be acked,
  /// requeued and dead-lettered through this one with their delivery tags. False (the default)
  /// when the broker gave the previous connection's messages back.
  virtual bool continues_previous() const { return false; }

  /// What `queue`'s consumers registered about it: funboost's params record (the JSON of
  /// funboost_queue__consumer_parmas, with auto_generate_info.final_func_input_params_info),
  /// or "" when nothing is registered or this broker keeps no registry.
  virtual std::string registered_params(const std::string& queue) {
    (void) queue;
    return {};
  }
};

/// A configured broker: makes connections. One per booster; shared by its actors.
class broker {
public:
  virtual ~broker() = default;
  virtual std::unique_ptr<broker_connection> connect() = 0;

  /// The connection of consumer slot `slot` (0 .. conn_num-1), made again after a failure. A
  /// broker whose consumer identity outlives a lost connection (Redis: the unack key belongs to
  /// a consumer id, not to a socket) may hand the slot's previous identity to the new
  /// connection, which then says so with continues_previous(); that turns a reconnect into no
  /// duplicate runs. The default makes a fresh connection.
  virtual std::unique_ptr<broker_connection> connect_consumer(uint32_t slot) {
    (void) slot;
    return connect();
  }

  /// Where this broker is, for log lines and errors: never with a password, and the address it
  /// really uses when the URL is empty (e.g. "redis://127.0.0.1:6379/7"). "" = not known (the
  /// URL, redacted, is shown instead).
  virtual std::string address() const { return {}; }

  /// Upkeep while the queue consumes (e.g. Redis heartbeats and recovering dead consumers'
  /// messages), so a broker needs no thread of its own: the queue's heartbeat actor calls it
  /// on a timer, one call at a time; it may block briefly. Returns how long until the next call.
  virtual std::chrono::milliseconds maintain() { return std::chrono::minutes(1); }

  /// Gives the broker a way to ask for maintain() at once (e.g. a consumer's connection was
  /// lost and its messages must be recovered now). Replaces an earlier one.
  virtual void on_maintenance_needed(std::function<void()> wake) { (void) wake; }

  /// Where this queue's delayed tasks (countdown, eta) wait until due; the queue's scheduler
  /// actor makes one when it starts. The default keeps them in this process's memory (see
  /// delay_store.hpp); a broker that can keep them durably overrides it.
  virtual std::unique_ptr<delay_store> make_delay_store() { return make_process_delay_store(*this); }
};

using broker_factory = std::function<std::shared_ptr<broker>(const booster_options&)>;

/// Makes `kind` usable as booster_options::broker_kind. Replaces an earlier registration.
void register_broker(const std::string& kind, broker_factory factory);

/// Builds the broker for `options.broker_kind`; throws std::invalid_argument naming the known
/// kinds when it is not registered.
std::shared_ptr<broker> make_broker(const booster_options& options);

/// The name of the dead-letter queue of `queue`, as funboost names it.
inline std::string dead_letter_queue(const std::string& queue) {
  return queue + "_dlx";
}

} // namespace funboost
