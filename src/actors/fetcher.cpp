#include "actors/fetcher.hpp"

#include <algorithm>

#include "actors/exit_reason.hpp"

namespace funboost::actors {

namespace {

/// Largest single fetch: big enough to amortize a round trip, small enough to stay fair.
constexpr uint32_t max_fetch_batch = 1000;

/// How long a fetcher with messages out waits before polling an empty queue again (an ack
/// wakes it sooner).
constexpr auto park_interval = std::chrono::milliseconds(10);

void schedule_fetch(fetcher_actor::stateful_pointer<fetcher_state> self) {
  auto& st = self->state;
  if (st.fetch_scheduled || st.draining || st.credit == 0)
    return;
  st.fetch_scheduled = true;
  // A message to self, not a loop: acks and stop requests are handled between fetches.
  self->send(self, fetch_atom::value);
}

/// Called when messages come back from the dispatcher: a parked fetcher tries again at once.
void settled(fetcher_actor::stateful_pointer<fetcher_state> self, std::size_t n) {
  auto& st = self->state;
  st.outstanding -= static_cast<uint32_t>(std::min<std::size_t>(n, st.outstanding));
  if (st.parked) {
    st.parked = false;
    schedule_fetch(self);
  }
}

std::vector<uint64_t> tags_of(const std::vector<task>& tasks) {
  std::vector<uint64_t> tags;
  tags.reserve(tasks.size());
  for (const auto& t : tasks)
    tags.push_back(t.delivery_tag);
  return tags;
}

} // namespace

broker_connection& fetcher_state::connect() {
  if (!connection)
    connection = ctx->broker->connect();
  return *connection;
}

fetcher_actor::behavior_type fetcher(fetcher_actor::stateful_pointer<fetcher_state> self,
                                     detail::queue_context_ptr ctx, uint32_t slot,
                                     uint32_t epoch, dispatcher_actor dispatcher,
                                     supervisor_actor supervisor) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.slot = slot;
  st.epoch = epoch;
  st.dispatcher = std::move(dispatcher);
  st.supervisor = std::move(supervisor);
  // A throwing broker call ends this fetcher with the error text as its exit reason.
  self->set_exception_handler(exit_reason_from_exception);
  return {
    [self](credit_atom, uint32_t n) {
      self->state.credit += n;
      schedule_fetch(self);
    },
    [self](fetch_atom) {
      auto& st = self->state;
      st.fetch_scheduled = false;
      st.parked = false;
      if (st.draining || st.credit == 0)
        return;
      auto& conn = st.connect();
      st.buffer.clear();
      bool may_block = st.outstanding == 0; // no ack can queue up behind a blocking call
      auto wait = may_block ? st.ctx->options.fetch_wait : std::chrono::milliseconds(0);
      auto n = conn.fetch(st.ctx->queue(), std::min(st.credit, max_fetch_batch), wait,
                          st.buffer);
      if (!st.reported_healthy) {
        st.reported_healthy = true; // resets the supervisor's restart backoff
        caf::anon_send(st.supervisor, healthy_atom::value, st.slot);
      }
      if (n > 0) {
        std::vector<task> tasks;
        tasks.reserve(n);
        for (auto& m : st.buffer)
          tasks.push_back(
            task{std::move(m.body), m.delivery_tag, st.slot, st.epoch, 0, m.crash_deliveries, {}});
        st.credit -= static_cast<uint32_t>(std::min<std::size_t>(n, st.credit));
        st.outstanding += static_cast<uint32_t>(n);
        self->send(st.dispatcher, deliver_atom::value, st.slot, st.epoch, std::move(tasks));
      } else if (!may_block) {
        st.parked = true; // until an ack comes back or the timer fires
        if (!st.park_timer_set) {
          st.park_timer_set = true;
          self->delayed_send(self, park_interval, tick_atom::value);
        }
        return;
      } else if (st.ctx->options.conn_num > 1) {
        // Waited and nothing came: hand the credit back so the dispatcher can give it to a
        // connection that has messages (RabbitMQ pushes deliveries to every connection).
        self->send(st.dispatcher, credit_atom::value, st.slot, st.epoch, st.credit);
        st.credit = 0;
      }
      schedule_fetch(self);
    },
    [self](tick_atom) {
      auto& st = self->state;
      st.park_timer_set = false;
      if (st.parked) {
        st.parked = false;
        schedule_fetch(self);
      }
    },
    [self](ack_atom, const std::vector<uint64_t>& tags) {
      self->state.connect().ack(self->state.ctx->queue(), tags);
      settled(self, tags.size());
    },
    [self](requeue_atom, std::vector<task>& tasks) {
      std::vector<fetched_message> messages;
      messages.reserve(tasks.size());
      for (auto& t : tasks)
        messages.push_back({std::move(t.body), t.delivery_tag});
      self->state.connect().requeue(self->state.ctx->queue(), messages);
      settled(self, messages.size());
    },
    [self](dead_atom, const std::vector<task>& tasks) {
      auto& st = self->state;
      std::vector<std::string> bodies;
      bodies.reserve(tasks.size());
      for (const auto& t : tasks)
        bodies.push_back(t.body);
      auto& conn = st.connect();
      conn.publish(dead_letter_queue(st.ctx->queue()), bodies);
      conn.ack(st.ctx->queue(), tags_of(tasks));
      settled(self, tasks.size());
    },
    [self](mark_atom, uint64_t tag) {
      self->state.connect().mark_running(self->state.ctx->queue(), tag);
      return true;
    },
    [self](drain_atom) {
      self->state.draining = true;
      self->state.credit = 0;
    },
    [self](stop_atom) { self->quit(); },
  };
}

} // namespace funboost::actors
