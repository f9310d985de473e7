#include "actors/fetcher.hpp"

#include <algorithm>

#include "actors/exit_reason.hpp"

namespace funboost::actors {

namespace {

/// Largest single fetch: big enough to amortize a round trip, small enough to stay fair.
constexpr uint32_t max_fetch_batch = 1000;

void schedule_fetch(fetcher_actor::stateful_pointer<fetcher_state> self) {
  auto& st = self->state;
  if (st.fetch_scheduled || st.draining || st.credit == 0)
    return;
  st.fetch_scheduled = true;
  // A message to self, not a loop: acks and stop requests are handled between fetches.
  self->send(self, fetch_atom::value);
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
                                     caf::actor supervisor) {
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
      if (st.draining || st.credit == 0)
        return;
      auto& conn = st.connect();
      st.buffer.clear();
      auto n = conn.fetch(st.ctx->queue(), std::min(st.credit, max_fetch_batch),
                          st.ctx->options.fetch_wait, st.buffer);
      if (!st.reported_healthy) {
        st.reported_healthy = true; // resets the supervisor's restart backoff
        caf::anon_send(st.supervisor, healthy_atom::value, st.slot);
      }
      if (n > 0) {
        std::vector<task> tasks;
        tasks.reserve(n);
        for (auto& m : st.buffer)
          tasks.push_back(task{std::move(m.body), m.delivery_tag, st.slot, st.epoch, 0});
        st.credit -= static_cast<uint32_t>(std::min<std::size_t>(n, st.credit));
        self->send(st.dispatcher, deliver_atom::value, st.slot, st.epoch, std::move(tasks));
      } else if (st.ctx->options.conn_num > 1) {
        // Nothing here: hand the credit back so the dispatcher can give it to a connection
        // that has messages (a push-based broker like RabbitMQ may have buffered them there).
        self->send(st.dispatcher, credit_atom::value, st.slot, st.epoch, st.credit);
        st.credit = 0;
      }
      schedule_fetch(self);
    },
    [self](ack_atom, const std::vector<uint64_t>& tags) {
      self->state.connect().ack(self->state.ctx->queue(), tags);
    },
    [self](requeue_atom, std::vector<task>& tasks) {
      std::vector<fetched_message> messages;
      messages.reserve(tasks.size());
      for (auto& t : tasks)
        messages.push_back({std::move(t.body), t.delivery_tag});
      self->state.connect().requeue(self->state.ctx->queue(), messages);
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
    },
    [self](drain_atom) {
      self->state.draining = true;
      self->state.credit = 0;
    },
    [self](stop_atom) { self->quit(); },
  };
}

} // namespace funboost::actors
