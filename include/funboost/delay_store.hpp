// Where delayed tasks (extra.countdown / extra.eta) wait until they are due. A consumer that
// fetches a delayed message hands it to its queue's scheduler actor, which keeps it here and
// acks the original; when it is due the store puts it on the queue as an ordinary message
// (without countdown and eta, as funboost republishes it) and any consumer runs it.
//
// A broker kind chooses its store with broker::make_delay_store(): the Redis kinds keep delayed
// messages in a Redis sorted set (they survive a restart of every process, and a Lua script
// moves each due one exactly once however many processes fire), every other kind in this
// process's memory (see process_delay_store).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace funboost {

class broker;

/// One delayed message, ready to run when due.
struct delayed_message {
  double due = 0;            // Unix seconds
  double misfire_grace = 0;  // seconds; later than due + this when fired: dropped (0 = never)
  std::string body;          // the message without countdown and eta: it runs when pushed
};

/// What one fire() did.
struct fire_result {
  std::size_t fired = 0;                // put on the queue
  std::vector<std::string> missed;      // bodies dropped: later than their misfire grace
  std::optional<double> next_due;       // the earliest message still kept, Unix seconds
};

/// Keeps delayed messages of one queue until they are due. Not thread-safe: the queue's
/// scheduler actor owns one. Calls may block and may throw broker_error.
class delay_store {
public:
  virtual ~delay_store() = default;

  /// Keeps `messages`. Adding a body that is already kept changes nothing (a consumer that
  /// died after adding, before acking, makes the next one add it again).
  virtual void add(const std::string& queue, std::span<const delayed_message> messages) = 0;

  /// Puts on `queue` up to `max` messages due at `now` (Unix seconds), earliest first; each is
  /// fired once, however many processes call this at the same time.
  virtual fire_result fire(const std::string& queue, double now, std::size_t max) = 0;
};

/// The store of brokers that keep no delayed messages themselves: this process's memory,
/// shared by every booster of the process (by queue name), fired by publishing through a
/// connection of `broker`. Delayed messages do not survive the process.
std::unique_ptr<delay_store> make_process_delay_store(broker& broker);

} // namespace funboost
