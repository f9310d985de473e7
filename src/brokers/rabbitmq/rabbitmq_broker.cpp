#include "brokers/rabbitmq/rabbitmq_broker.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <exception>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <amqp.h>
#include <simdjson.h>

#include "brokers/rabbitmq/amqp_connection.hpp"
#include "brokers/rabbitmq/amqp_url.hpp"
#include "brokers/rabbitmq/rabbitmq_crash_counts.hpp"

namespace funboost::brokers {

namespace {

using namespace std::chrono;
using rabbitmq::amqp_connection;
using rabbitmq::connection_settings;
using rabbitmq::crash_count_of;
using rabbitmq::mark_queue_name;

struct rabbitmq_settings {
  connection_settings connection;
  milliseconds confirm_timeout{30000};
  uint16_t prefetch = 1;
  bool prefetch_fixed = false;  // prefetch_count given: never widen the window
  int max_priority = 0; // 0: no x-max-priority argument
  // "quorum": the booster's queue and its _dlx are declared with x-queue-type quorum (Raft,
  // acks fsynced before they are answered: an acked message never comes back after a node
  // crash, which a classic queue's lazily written acks allow). "" / "classic": the default.
  std::string queue_type;
  bool release_unasked = false; // conn_num > 1: see release_if_unwanted()
  // Crash counting (rabbitmq_crash_counts.hpp): on when max_crash_deliveries > 0. The highest
  // count a death with no mark may give: max_crash_deliveries - 1, at least 1.
  bool count_crashes = false;
  uint32_t unmarked_cap = 0;
};

/// A transport option as a number, or `fallback` when absent. Throws broker_error when it is
/// there but not a number.
long long number_option(const booster_options& o, const std::string& name, long long fallback,
                        const std::string& who) {
  auto i = o.broker.transport_options.find(name);
  if (i == o.broker.transport_options.end())
    return fallback;
  const auto& v = i->second;
  if (auto* n = std::get_if<long long>(&v))
    return *n;
  if (auto* d = std::get_if<double>(&v))
    return std::llround(*d);
  if (auto* s = std::get_if<std::string>(&v)) {
    try {
      std::size_t used = 0;
      long long n = std::stoll(*s, &used);
      if (used == s->size())
        return n;
    } catch (const std::exception&) {
    }
  }
  throw broker_error(who + ": transport option '" + name + "' must be a number");
}

/// A transport option as text, or `fallback` when absent. Throws broker_error when it is there
/// but not text.
std::string string_option(const booster_options& o, const std::string& name,
                          const std::string& fallback, const std::string& who) {
  auto i = o.broker.transport_options.find(name);
  if (i == o.broker.transport_options.end())
    return fallback;
  if (auto* s = std::get_if<std::string>(&i->second))
    return *s;
  throw broker_error(who + ": transport option '" + name + "' must be text");
}

timeval to_timeval(microseconds us) {
  us = std::max(us, microseconds{0});
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(us.count() / 1'000'000);
  tv.tv_usec = static_cast<suseconds_t>(us.count() % 1'000'000);
  return tv;
}

amqp_bytes_t bytes_of(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

class rabbitmq_connection final : public broker_connection {
public:
  explicit rabbitmq_connection(std::shared_ptr<const rabbitmq_settings> settings)
    : settings_(std::move(settings)) {
    reset();
  }

  /// Closing a connection gives its unsettled messages back as redelivered, which a counting
  /// consumer reads as a death: what RabbitMQ pushed here and nobody fetched goes back by a
  /// publish first. (Fetched ones are settled by the dispatcher before a graceful stop.)
  ~rabbitmq_connection() override {
    if (!conn_ || consuming_queue_.empty() || failed_)
      return;
    try {
      send_acks(true); // done tasks: not acking them would run them again
      if (!settings_->count_crashes)
        return;
      // A hung server must not hold up the stop: a short wait, then it counts the death.
      timeval tv = to_timeval(closing_timeout);
      amqp_set_rpc_timeout(conn_->state(), &tv);
      confirm_timeout_ = closing_timeout;
      pause_consuming();
      give_back(consuming_queue_, std::vector<fetched_message>(stash_.begin(), stash_.end()));
      stash_.clear();
    } catch (const std::exception&) {
      // The connection is gone: they come back redelivered and count as held by a death.
    }
  }

  void publish(const std::string& queue, std::span<const std::string> bodies) override {
    if (!bodies.empty())
      with_reconnect([&] { publish_once(queue, bodies); });
  }

  std::size_t fetch(const std::string& queue, std::size_t max, milliseconds wait,
                    std::vector<fetched_message>& out) override {
    failure_guard guard{failed_};
    used_ = true;
    if (!consuming_queue_.empty() && queue != consuming_queue_)
      throw std::logic_error("rabbitmq connection consumes '" + consuming_queue_
                             + "'; it cannot also fetch from '" + queue + "'");
    if (!active_)
      start_consuming(queue);
    send_acks(false); // the ones that waited too long
    widen_window(unacked_.size() - stash_.size() + max);
    std::size_t n = 0;
    while (n < max && !stash_.empty()) {
      out.push_back(std::move(stash_.front()));
      stash_.pop_front();
      ++n;
    }
    auto deadline = steady_clock::now() + wait;
    while (n < max) {
      // The first message may take up to `wait`; the rest only if they are already here.
      auto left = n == 0 ? duration_cast<microseconds>(deadline - steady_clock::now())
                         : microseconds{0};
      if (!pump(std::max(left, microseconds{0}), "fetching from queue '" + queue + "'"))
        break;
      while (n < max && !stash_.empty()) {
        out.push_back(std::move(stash_.front()));
        stash_.pop_front();
        ++n;
      }
    }
    settle_redelivered();
    // What the fetcher may still take without asking again; 0 when it may have no credit.
    remaining_ = max - n;
    amqp_maybe_release_buffers(conn_->state());
    return n;
  }

  void ack(const std::string&, std::span<const uint64_t> delivery_tags) override {
    if (delivery_tags.empty())
      return;
    failure_guard guard{failed_};
    std::vector<uint64_t> tags(delivery_tags.begin(), delivery_tags.end());
    std::sort(tags.begin(), tags.end());
    ack_tags(tags);
    release_if_unwanted();
  }

  /// A message about to run alone gets its mark queue (see rabbitmq_crash_counts.hpp), written
  /// and confirmed before it runs: a death from now on is blamed on it.
  void mark_running(const std::string&, uint64_t delivery_tag) override {
    auto i = suspect_bodies_.find(delivery_tag);
    if (!settings_->count_crashes || i == suspect_bodies_.end())
      return;
    failure_guard guard{failed_};
    auto mark = mark_queue_name(consuming_queue_, i->second);
    std::string one = "1";
    publish_once(mark, std::span{&one, 1});
    marked_tag_ = delivery_tag;
    marked_queue_ = std::move(mark);
  }

  void requeue(const std::string& queue, std::span<const fetched_message> messages) override {
    failure_guard guard{failed_};
    if (settings_->count_crashes) {
      give_back(queue, messages);
    } else {
      for (const auto& m : messages) {
        unacked_.erase(m.delivery_tag);
        conn_->check_status(
          amqp_basic_nack(conn_->state(), amqp_connection::channel, m.delivery_tag, 0, 1),
          "requeueing messages");
      }
      send_acks(false); // acks that waited for these
    }
    release_if_unwanted();
  }

  std::size_t count(const std::string& queue) override {
    std::size_t n = 0;
    with_reconnect([&] { n = declare(queue, declared_.count(queue) > 0); });
    return n;
  }

  void clear(const std::string& queue) override {
    with_reconnect([&] {
      ensure_declared(queue);
      amqp_queue_purge(conn_->state(), amqp_connection::channel, bytes_of(queue));
      conn_->check_last_rpc("purging queue '" + queue + "'");
    });
  }

private:
  /// Acks `tags` (sorted); a suspect's mark goes with it. See send_acks.
  void ack_tags(std::span<const uint64_t> tags) {
    for (auto t : tags) {
      unacked_.erase(t);
      if (!suspect_bodies_.empty())
        settled_suspect(t);
      if (deferred_acks_.empty())
        deferred_since_ = steady_clock::now();
      deferred_acks_.insert(t);
    }
    send_acks(false);
  }

  /// One frame acks, with multiple=true, every delivered tag up to the highest one below every
  /// still-open tag. Tasks finish out of order, so a tag above an open one (a task still
  /// running) waits for it here instead of costing a frame of its own, which the server pays
  /// for per frame. They wait at most a quarter of the delivery window (a long task must not
  /// hold the window shut) and at most max_ack_delay (they are done: a crash would run them
  /// again); `all` sends every waiting one (closing).
  void send_acks(bool all) {
    if (deferred_acks_.empty())
      return;
    auto lowest_open = unacked_.empty() ? std::numeric_limits<uint64_t>::max()
                                        : *unacked_.begin();
    auto split = deferred_acks_.lower_bound(lowest_open);
    auto* state = conn_->state();
    if (split != deferred_acks_.begin()) {
      conn_->check_status(amqp_basic_ack(state, amqp_connection::channel, *std::prev(split), 1),
                          "acking messages");
      deferred_acks_.erase(deferred_acks_.begin(), split);
    }
    if (deferred_acks_.empty())
      return;
    if (!all && deferred_acks_.size() <= window_ / 4
        && steady_clock::now() - deferred_since_ < max_ack_delay)
      return;
    for (auto t : deferred_acks_)
      conn_->check_status(amqp_basic_ack(state, amqp_connection::channel, t, 0),
                          "acking messages");
    deferred_acks_.clear();
  }

  /// A suspect was settled (acked, given back, dead-lettered): its mark queue goes.
  void settled_suspect(uint64_t tag) {
    if (suspect_bodies_.erase(tag) == 0 || tag != marked_tag_)
      return;
    marked_tag_ = 0;
    delete_queue(std::exchange(marked_queue_, {}));
  }

  /// Deletes a queue; returns how many messages it held (0 when it did not exist: RabbitMQ's
  /// queue.delete is idempotent).
  std::size_t delete_queue(const std::string& queue) {
    auto* ok = amqp_queue_delete(conn_->state(), amqp_connection::channel, bytes_of(queue), 0, 0);
    conn_->check_last_rpc("deleting queue '" + queue + "'");
    declared_.erase(queue);
    return ok ? ok->message_count : 0;
  }

  /// Gives messages back to the consumed queue without marking them redelivered: published
  /// again with their counts (confirmed), then acked. With a nack, RabbitMQ would flag them
  /// redelivered and the next consumer would count a death that never happened.
  void give_back(const std::string& queue, std::span<const fetched_message> messages) {
    if (messages.empty())
      return;
    std::vector<std::string> bodies;
    std::vector<uint32_t> counts;
    std::vector<uint64_t> tags;
    for (const auto& m : messages) {
      bodies.push_back(m.body);
      counts.push_back(m.crash_deliveries);
      tags.push_back(m.delivery_tag);
    }
    publish_once(queue, bodies, counts);
    std::sort(tags.begin(), tags.end());
    ack_tags(tags);
    send_acks(true); // at once: the copies exist now, a lost ack would make two of each
  }

  /// Messages a dead connection held (redelivered): published again with the count raised and
  /// acked, so the count is on the broker before anything of theirs runs; the copies come back
  /// as ordinary deliveries. A suspect that may have run alone is judged by its mark queue.
  void settle_redelivered() {
    while (!redelivered_.empty()) {
      auto batch = std::move(redelivered_);
      redelivered_.clear();
      for (auto& m : batch) {
        bool marked = m.crash_deliveries >= settings_->unmarked_cap
                      && delete_queue(mark_queue_name(consuming_queue_, m.body)) > 0;
        m.crash_deliveries
          = rabbitmq::count_after_death(m.crash_deliveries, marked, settings_->unmarked_cap);
      }
      give_back(consuming_queue_, batch); // may pump more redeliveries: the loop takes them
    }
  }

  /// basic.cancel, then whatever the server sent before it took effect is stashed.
  void pause_consuming() {
    if (!active_)
      return;
    amqp_basic_cancel(conn_->state(), amqp_connection::channel, bytes_of(consumer_tag_));
    conn_->check_last_rpc("pausing the consumer of queue '" + consuming_queue_ + "'");
    active_ = false;
    while (pump(milliseconds{0}, "pausing the consumer of queue '" + consuming_queue_ + "'"))
      ; // deliveries sent before the cancel took effect
  }

  /// Runs `f`; if it fails on a connection that worked before and does not consume, runs it
  /// once more on a fresh connection. An idle publisher's connection may have died unnoticed
  /// (a broker restart): this spares the caller's slower retries. A consumer's connection never
  /// reconnects here: its delivery tags would not survive.
  template <class F>
  void with_reconnect(F&& f) {
    if (!conn_)
      reset(); // an earlier reconnect failed
    bool may_reconnect = consuming_queue_.empty() && used_;
    used_ = true;
    try {
      f();
    } catch (const broker_error&) {
      if (!may_reconnect)
        throw;
      reset();
      used_ = true;
      f();
    }
  }

  /// A new connection and channel; forgets everything tied to the old one.
  void reset() {
    conn_.reset();
    conn_ = std::make_unique<amqp_connection>(settings_->connection);
    declared_.clear();
    confirming_ = false;
    next_publish_seq_ = 1;
    unconfirmed_.clear();
    nacked_ = false;
    returned_.clear();
    blocked_.clear();
    used_ = false;
    failed_ = false;
  }

  /// queue.declare(durable, not exclusive, not auto-delete); x-max-priority for the booster's
  /// own queue when configured. Returns the message count.
  std::size_t declare(const std::string& queue, bool passive) {
    amqp_table_entry_t entries[2]{};
    int n = 0;
    const auto& own = settings_->connection.queue;
    if (rabbitmq::is_mark_queue(queue)) {
      entries[n].key = amqp_cstring_bytes("x-expires");
      entries[n].value.kind = AMQP_FIELD_KIND_I32;
      entries[n].value.value.i32 = rabbitmq::mark_queue_expiry_ms;
      ++n;
    }
    if (settings_->max_priority > 0 && queue == own) {
      entries[n].key = amqp_cstring_bytes("x-max-priority");
      entries[n].value.kind = AMQP_FIELD_KIND_I32;
      entries[n].value.value.i32 = settings_->max_priority;
      ++n;
    }
    if (settings_->queue_type == "quorum" && (queue == own || queue == dead_letter_queue(own))) {
      entries[n].key = amqp_cstring_bytes("x-queue-type");
      entries[n].value.kind = AMQP_FIELD_KIND_UTF8;
      entries[n].value.value.bytes = amqp_cstring_bytes("quorum");
      ++n;
    }
    amqp_table_t args = n > 0 ? amqp_table_t{n, entries} : amqp_empty_table;
    auto* ok = amqp_queue_declare(conn_->state(), amqp_connection::channel, bytes_of(queue),
                                  passive ? 1 : 0, 1, 0, 0, args);
    conn_->check_last_rpc((passive ? "checking queue '" : "declaring queue '") + queue + "'");
    declared_.insert(queue);
    return ok ? ok->message_count : 0;
  }

  void ensure_declared(const std::string& queue) {
    if (!declared_.count(queue))
      declare(queue, false);
  }

  void publish_once(const std::string& queue, std::span<const std::string> bodies,
                    std::span<const uint32_t> crash_counts = {}) {
    ensure_declared(queue);
    if (!confirming_) {
      amqp_confirm_select(conn_->state(), amqp_connection::channel);
      conn_->check_last_rpc("enabling publisher confirms");
      confirming_ = true;
    }
    send(queue, bodies, crash_counts);
    wait_for_confirms(queue);
    if (!returned_.empty()) {
      // Unroutable (mandatory): the queue was deleted after we declared it. Declare it again
      // and publish those once more.
      auto again = std::move(returned_);
      returned_.clear();
      declared_.erase(queue);
      ensure_declared(queue);
      send(queue, again);
      wait_for_confirms(queue);
      if (!returned_.empty()) {
        returned_.clear();
        conn_->fail("publishing to queue '" + queue + "'",
                    "the broker could not route the message to the queue",
                    "check that queue '" + queue + "' exists and is not being deleted");
      }
    }
    amqp_maybe_release_buffers(conn_->state());
  }

  /// basic.publish each body: default exchange, routing key = queue, persistent, mandatory,
  /// content_encoding "utf-8" (what funboost's amqpstorm publisher sends with a str body);
  /// a body given back with a crash count carries it in its header.
  void send(const std::string& queue, std::span<const std::string> bodies,
            std::span<const uint32_t> crash_counts = {}) {
    bool priorities = settings_->max_priority > 0 && queue == settings_->connection.queue;
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      const auto& body = bodies[i];
      amqp_basic_properties_t props{};
      amqp_table_entry_t count_header{};
      if (i < crash_counts.size() && crash_counts[i] > 0) {
        count_header.key = amqp_cstring_bytes(rabbitmq::crash_header);
        count_header.value.kind = AMQP_FIELD_KIND_I32;
        count_header.value.value.i32 = static_cast<int32_t>(
          std::min<uint32_t>(crash_counts[i], std::numeric_limits<int32_t>::max()));
        props._flags |= AMQP_BASIC_HEADERS_FLAG;
        props.headers = amqp_table_t{1, &count_header};
      }
      props._flags |= AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG;
      props.delivery_mode = 2; // persistent
      props.content_encoding = amqp_cstring_bytes("utf-8");
      if (priorities) {
        if (auto p = priority_of(body); p > 0) {
          props._flags |= AMQP_BASIC_PRIORITY_FLAG;
          props.priority = static_cast<uint8_t>(std::min(p, settings_->max_priority));
        }
      }
      int status = amqp_basic_publish(conn_->state(), amqp_connection::channel,
                                      amqp_empty_bytes, bytes_of(queue), 1, 0, &props,
                                      bytes_of(body));
      conn_->check_status(status, "publishing to queue '" + queue + "'");
      unconfirmed_.insert(next_publish_seq_++);
    }
  }

  /// Blocks until the broker has confirmed every publish; throws if it refused one.
  void wait_for_confirms(const std::string& queue) {
    std::string doing = "waiting for the broker to confirm messages published to queue '"
                        + queue + "'";
    auto deadline = steady_clock::now() + confirm_timeout_;
    while (!unconfirmed_.empty()) {
      auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
      if (left <= milliseconds{0} || !pump(left, doing))
        conn_->fail(doing,
                    "no confirm within " + std::to_string(confirm_timeout_.count())
                      + " ms" + (blocked_.empty() ? "" : " (the server blocks publishers: "
                                                              + blocked_ + ")"),
                    "check rabbitmq-server's disk and memory alarms and its logs");
    }
    if (nacked_) {
      nacked_ = false;
      conn_->fail(doing, "the broker refused (nacked) a message",
                  "check rabbitmq-server's logs; the push is retried");
    }
  }

  void start_consuming(const std::string& queue) {
    ensure_declared(queue);
    auto* state = conn_->state();
    if (consuming_queue_.empty()) {
      amqp_basic_qos(state, amqp_connection::channel, 0, settings_->prefetch, 0);
      conn_->check_last_rpc("setting prefetch (basic.qos)");
      window_ = settings_->prefetch;
    }
    auto* ok = amqp_basic_consume(state, amqp_connection::channel, bytes_of(queue),
                                  amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    conn_->check_last_rpc("starting to consume queue '" + queue + "'");
    consumer_tag_ = ok && ok->consumer_tag.len
                      ? std::string(static_cast<char*>(ok->consumer_tag.bytes),
                                    ok->consumer_tag.len)
                      : std::string{};
    consuming_queue_ = queue;
    active_ = true;
  }

  /// The dispatcher's credit is what the pool can start soon, and it grows for fast tasks (see
  /// dispatcher.cpp). A delivery window narrower than that would make RabbitMQ the bottleneck,
  /// one ack round trip per few messages: widen basic.qos to `wanted` (never narrower than the
  /// configured prefetch; never when prefetch_count was given).
  void widen_window(std::size_t wanted) {
    if (settings_->prefetch_fixed || wanted <= window_)
      return;
    auto window = static_cast<uint16_t>(std::min<std::size_t>(wanted, 65535));
    amqp_basic_qos(conn_->state(), amqp_connection::channel, 0, window, 0);
    conn_->check_last_rpc("widening prefetch (basic.qos) to " + std::to_string(window));
    window_ = window;
    // RabbitMQ gives a per-consumer prefetch only to consumers started after it: the running
    // consumer is cancelled and started again (its unacked deliveries stay on this channel,
    // their tags valid). Rare: the window only grows.
    if (active_) {
      pause_consuming();
      start_consuming(consuming_queue_);
    }
  }

  /// RabbitMQ pushes up to prefetch messages whether or not the fetcher asked for them. When
  /// the fetcher has nothing in flight here and asked for nothing more (its credit may be
  /// gone, and the dispatcher may keep it elsewhere), whatever came unasked would wait here
  /// for good: pause the consumer and give those messages back so any consumer can run them.
  /// The next fetch resumes consuming. With one fetcher (conn_num 1) this cannot happen: the
  /// dispatcher's credit has nowhere else to go.
  void release_if_unwanted() {
    if (!settings_->release_unasked || !active_ || remaining_ > 0
        || unacked_.size() > stash_.size() + redelivered_.size())
      return;
    pause_consuming();
    if (settings_->count_crashes) {
      settle_redelivered();
      auto unwanted = std::move(stash_);
      stash_.clear();
      give_back(consuming_queue_, std::vector<fetched_message>(unwanted.begin(), unwanted.end()));
      return;
    }
    auto* state = conn_->state();
    for (const auto& m : stash_) {
      unacked_.erase(m.delivery_tag);
      conn_->check_status(
        amqp_basic_nack(state, amqp_connection::channel, m.delivery_tag, 0, 1),
        "giving back unrequested messages");
    }
    stash_.clear();
    send_acks(false); // acks that waited for these
  }

  /// Reads one thing from the connection, waiting at most `timeout`: a delivery (stashed), a
  /// publisher confirm, or a server notice. Returns false if nothing came.
  bool pump(microseconds timeout, const std::string& doing) {
    auto* state = conn_->state();
    amqp_envelope_t envelope;
    auto tv = to_timeval(timeout);
    auto reply = amqp_consume_message(state, &envelope, &tv, 0);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
      fetched_message m{std::string(static_cast<char*>(envelope.message.body.bytes),
                                    envelope.message.body.len),
                        envelope.delivery_tag};
      m.crash_deliveries = crash_count_of(envelope.message.properties);
      unacked_.insert(envelope.delivery_tag);
      if (settings_->count_crashes && envelope.redelivered) {
        redelivered_.push_back(std::move(m)); // a dead connection held it: settle_redelivered
      } else {
        if (m.crash_deliveries > 0 && settings_->count_crashes)
          suspect_bodies_.emplace(m.delivery_tag, m.body);
        stash_.push_back(std::move(m));
      }
      amqp_destroy_envelope(&envelope);
      return true;
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
        && reply.library_error == AMQP_STATUS_TIMEOUT)
      return false;
    if (reply.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION
        || reply.library_error != AMQP_STATUS_UNEXPECTED_STATE)
      conn_->check(reply, doing); // throws
    // Not a delivery: read that frame and act on it.
    amqp_frame_t frame;
    conn_->check_status(amqp_simple_wait_frame(state, &frame), doing);
    if (frame.frame_type != AMQP_FRAME_METHOD)
      return true;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        auto* m = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
        confirmed(m->delivery_tag, m->multiple);
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        auto* m = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
        confirmed(m->delivery_tag, m->multiple);
        nacked_ = true;
        break;
      }
      case AMQP_BASIC_RETURN_METHOD: { // a mandatory publish nobody could take
        amqp_message_t message;
        conn_->check(amqp_read_message(state, frame.channel, &message, 0), doing);
        returned_.emplace_back(static_cast<char*>(message.body.bytes), message.body.len);
        amqp_destroy_message(&message);
        break;
      }
      case AMQP_CONNECTION_BLOCKED_METHOD: {
        auto* m = static_cast<amqp_connection_blocked_t*>(frame.payload.method.decoded);
        blocked_ = m->reason.len ? std::string(static_cast<char*>(m->reason.bytes), m->reason.len)
                                 : std::string{"blocked"};
        break;
      }
      case AMQP_CONNECTION_UNBLOCKED_METHOD:
        blocked_.clear();
        break;
      case AMQP_CHANNEL_CLOSE_METHOD:
      case AMQP_CONNECTION_CLOSE_METHOD:
      case AMQP_BASIC_CANCEL_METHOD:
        conn_->fail_server_method(frame.payload.method, doing);
      default:
        break;
    }
    return true;
  }

  void confirmed(uint64_t seq, bool multiple) {
    if (multiple)
      unconfirmed_.erase(unconfirmed_.begin(), unconfirmed_.upper_bound(seq));
    else
      unconfirmed_.erase(seq);
  }

  /// extra.other_extra_params.priroty (funboost's spelling), or 0.
  int priority_of(const std::string& body) {
    simdjson::dom::element doc;
    if (parser_.parse(body).get(doc))
      return 0;
    int64_t p = 0;
    if (doc.at_pointer("/extra/other_extra_params/priroty").get(p))
      return 0;
    return static_cast<int>(std::clamp<int64_t>(p, 0, 255));
  }

  /// Sets `failed` when the scope is left by an exception: the connection is not trusted again.
  struct failure_guard {
    bool& failed;
    int exceptions = std::uncaught_exceptions();
    ~failure_guard() {
      if (std::uncaught_exceptions() > exceptions)
        failed = true;
    }
  };

  /// How long a closing connection waits for the server while giving messages back.
  static constexpr milliseconds closing_timeout{2000};
  static constexpr milliseconds max_ack_delay{50};

  std::shared_ptr<const rabbitmq_settings> settings_;
  std::unique_ptr<amqp_connection> conn_;
  milliseconds confirm_timeout_{settings_->confirm_timeout};
  bool failed_ = false; // a call threw: the destructor does not talk to the server
  std::unordered_set<std::string> declared_; // queues declared on this connection
  bool used_ = false;
  // Publisher confirms.
  bool confirming_ = false;
  uint64_t next_publish_seq_ = 1;
  std::set<uint64_t> unconfirmed_;
  bool nacked_ = false;
  std::vector<std::string> returned_; // unroutable mandatory publishes (basic.return)
  std::string blocked_;
  // Consuming.
  bool active_ = false;       // basic.consume in effect
  std::size_t remaining_ = 0; // what the last fetch could have taken more
  std::size_t window_ = 0;    // the channel's current basic.qos prefetch
  std::string consumer_tag_;
  std::string consuming_queue_;
  std::deque<fetched_message> stash_; // delivered, not yet handed out by fetch()
  std::set<uint64_t> unacked_;        // delivered, neither acked nor requeued
  std::set<uint64_t> deferred_acks_;  // acked by the pool, not yet sent (see send_acks)
  steady_clock::time_point deferred_since_;
  // Crash counting (rabbitmq_crash_counts.hpp).
  std::vector<fetched_message> redelivered_; // held by a dead connection, count not yet raised
  std::unordered_map<uint64_t, std::string> suspect_bodies_; // tag -> body, count > 0
  uint64_t marked_tag_ = 0;                                  // running alone, 0 = none
  std::string marked_queue_;
  simdjson::dom::parser parser_;
};

class rabbitmq_broker final : public broker {
public:
  explicit rabbitmq_broker(std::shared_ptr<const rabbitmq_settings> settings)
    : settings_(std::move(settings)) {}

  std::unique_ptr<broker_connection> connect() override {
    return std::make_unique<rabbitmq_connection>(settings_);
  }
  std::string address() const override { return settings_->connection.url.display(); }

private:
  std::shared_ptr<const rabbitmq_settings> settings_;
};

} // namespace

std::shared_ptr<broker> make_rabbitmq_broker(const booster_options& options) {
  auto settings = std::make_shared<rabbitmq_settings>();
  auto& c = settings->connection;
  c.queue = options.queue_name;
  std::string who = "rabbitmq broker for queue '" + options.queue_name + "'";
  try {
    c.url = rabbitmq::parse_amqp_url(options.broker.url);
  } catch (const std::invalid_argument& e) {
    throw broker_error(who + ": " + e.what());
  }
  who = rabbitmq::describe(c);
  c.heartbeat_seconds = static_cast<int>(
    std::clamp<long long>(number_option(options, "heartbeat", 0, who), 0, 65535));
  c.connect_timeout = milliseconds{number_option(options, "connect_timeout_ms", 5000, who)};
  c.rpc_timeout = milliseconds{number_option(options, "rpc_timeout_ms", 30000, who)};
  settings->confirm_timeout
    = milliseconds{number_option(options, "confirm_timeout_ms", 30000, who)};
  long long budget = static_cast<long long>(std::max(options.concurrent_num, 1))
                     * std::max(options.prefetch_per_worker, 1);
  long long conns = std::max(options.conn_num, 1);
  long long prefetch = number_option(options, "prefetch_count", (budget + conns - 1) / conns, who);
  settings->prefetch_fixed = options.broker.transport_options.count("prefetch_count") > 0;
  settings->release_unasked = options.conn_num > 1;
  settings->count_crashes = options.max_crash_deliveries > 0;
  settings->unmarked_cap = static_cast<uint32_t>(std::max(options.max_crash_deliveries - 1, 1));
  settings->prefetch = static_cast<uint16_t>(std::clamp<long long>(prefetch, 1, 65535));
  settings->max_priority = static_cast<int>(std::clamp<long long>(
    number_option(options, "max_priority",
                  number_option(options, "x-max-priority", 0, who), who),
    0, 255));
  settings->queue_type = string_option(
    options, "queue_type", string_option(options, "x-queue-type", "classic", who), who);
  if (settings->queue_type != "classic" && settings->queue_type != "quorum")
    throw broker_error(who + ": transport option queue_type is '" + settings->queue_type
                       + "'; use 'classic' (the default) or 'quorum'");
  if (settings->queue_type == "quorum" && settings->max_priority > 0)
    throw broker_error(who + ": transport options queue_type 'quorum' and max_priority do not "
                       "go together (RabbitMQ's quorum queues have no priorities before 4.0); "
                       "drop one of them");
  return std::make_shared<rabbitmq_broker>(std::move(settings));
}

namespace {
[[maybe_unused]] const bool registered
  = (register_broker(broker_kind::rabbitmq, &make_rabbitmq_broker), true);
} // namespace

} // namespace funboost::brokers
