#include "actors/fetcher.hpp"

#include <algorithm>
#include <utility>

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
    connection = ctx->broker->connect_consumer(slot);
  return *connection;
}

namespace {

/// A broker call failed: the connection is unusable. The fetcher does not die yet: verdicts the
/// dispatcher sent before it hears of the failure are in the mailbox and would die with it (a
/// lost ack is a task run twice). It tells the dispatcher, hands back every verdict that
/// arrives until the dispatcher's answer (undone), and then dies with the failure; the
/// supervisor restarts it.
void break_down(fetcher_actor::stateful_pointer<fetcher_state> self, const std::exception& e) {
  auto& st = self->state;
  if (st.broken)
    return;
  st.broken = exit_reason_of(e); // a refused configuration stays one for the supervisor
  self->send(st.dispatcher, broken_atom::value, st.slot, st.epoch,
             caf::actor_cast<fetcher_actor>(self));
}

void hand_back(fetcher_actor::stateful_pointer<fetcher_state> self, std::vector<uint64_t> acks,
               std::vector<task> dead, std::vector<task> back) {
  auto& st = self->state;
  self->send(st.dispatcher, undone_atom::value, st.slot, std::move(acks), std::move(dead),
             std::move(back));
}

/// Acks every tag queued since the last flush in one broker call; on failure (or once broken)
/// the tags go back to the dispatcher, which acks them on the slot's next connection.
void flush_acks(fetcher_actor::stateful_pointer<fetcher_state> self) {
  auto& st = self->state;
  if (st.acks_due.empty())
    return;
  auto tags = std::exchange(st.acks_due, {});
  if (!st.broken) {
    try {
      st.connect().ack(st.ctx->queue(), tags);
      settled(self, tags.size());
      return;
    } catch (const std::exception& e) {
      break_down(self, e);
    }
  }
  hand_back(self, std::move(tags), {}, {});
}

/// One fetch: a bounded broker call, its messages to the dispatcher.
void fetch_once(fetcher_actor::stateful_pointer<fetcher_state> self) {
  auto& st = self->state;
  auto& conn = st.connect();
  st.buffer.clear();
  bool may_block = st.outstanding == 0; // no ack can queue up behind a blocking call
  auto wait = may_block ? st.ctx->options.fetch_wait : std::chrono::milliseconds(0);
  auto n = conn.fetch(st.ctx->queue(), std::min(st.credit, max_fetch_batch), wait, st.buffer);
  if (!st.reported_healthy) {
    st.reported_healthy = true; // resets the supervisor's restart backoff
    caf::anon_send(st.supervisor, healthy_atom::value, st.slot);
  }
  if (n > 0) {
    std::vector<task> tasks;
    tasks.reserve(n);
    for (auto& m : st.buffer) {
      auto& t = tasks.emplace_back();
      t.body = std::move(m.body);
      t.delivery_tag = m.delivery_tag;
      t.fetcher_slot = st.slot;
      t.fetcher_epoch = st.epoch;
      t.crash_deliveries = m.crash_deliveries;
    }
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
}

} // namespace

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
  // A throwing call outside the broker calls below ends this fetcher with the error text.
  self->set_exception_handler(exit_reason_from_exception);
  // Connect before anything else, even with no credit: the dispatcher holds the previous
  // fetcher's tasks of this slot until it knows whether this connection continues it.
  self->send(self, connected_atom::value);
  return {
    [self](connected_atom) {
      auto& st = self->state;
      try {
        bool continues = st.connect().continues_previous();
        self->send(st.dispatcher, connected_atom::value, st.slot, st.epoch, continues);
      } catch (const std::exception& e) {
        break_down(self, e);
      }
    },
    [self](credit_atom, uint32_t n) {
      self->state.credit += n;
      schedule_fetch(self);
    },
    [self](fetch_atom) {
      auto& st = self->state;
      st.fetch_scheduled = false;
      st.parked = false;
      flush_acks(self); // first: they would otherwise wait behind this call
      if (st.draining || st.credit == 0 || st.broken)
        return;
      try {
        fetch_once(self);
      } catch (const std::exception& e) {
        break_down(self, e);
      }
    },
    [self](tick_atom) {
      auto& st = self->state;
      st.park_timer_set = false;
      if (st.parked) {
        st.parked = false;
        schedule_fetch(self);
      }
    },
    [self](ack_atom, std::vector<uint64_t>& tags) {
      auto& st = self->state;
      if (st.broken) {
        hand_back(self, std::move(tags), {}, {});
        return;
      }
      st.acks_due.insert(st.acks_due.end(), tags.begin(), tags.end());
      if (!st.ack_flush_scheduled) {
        st.ack_flush_scheduled = true;
        self->send(self, flush_acks_atom::value); // behind every ack already in the mailbox
      }
    },
    [self](flush_acks_atom) {
      self->state.ack_flush_scheduled = false;
      flush_acks(self);
    },
    [self](requeue_atom, std::vector<task>& tasks) {
      auto& st = self->state;
      if (!st.broken) {
        try {
          std::vector<fetched_message> messages; // copies: on failure the tasks go back
          messages.reserve(tasks.size());
          for (const auto& t : tasks)
            messages.push_back({t.body, t.delivery_tag, t.crash_deliveries});
          st.connect().requeue(st.ctx->queue(), messages);
          settled(self, messages.size());
          return;
        } catch (const std::exception& e) {
          break_down(self, e);
        }
      }
      hand_back(self, {}, {}, std::move(tasks));
    },
    [self](dead_atom, std::vector<task>& tasks) {
      auto& st = self->state;
      if (!st.broken) {
        try {
          std::vector<std::string> bodies;
          bodies.reserve(tasks.size());
          for (const auto& t : tasks)
            bodies.push_back(t.body);
          auto& conn = st.connect();
          conn.publish(dead_letter_queue(st.ctx->queue()), bodies);
          conn.ack(st.ctx->queue(), tags_of(tasks));
          settled(self, tasks.size());
          return;
        } catch (const std::exception& e) {
          break_down(self, e);
        }
      }
      hand_back(self, {}, std::move(tasks), {});
    },
    [self](mark_atom, uint64_t tag) {
      auto& st = self->state;
      if (st.broken)
        return false;
      try {
        st.connect().mark_running(st.ctx->queue(), tag);
        return true;
      } catch (const std::exception& e) {
        break_down(self, e);
        return false;
      }
    },
    [self](drain_atom) {
      self->state.draining = true;
      self->state.credit = 0;
    },
    [self](broken_atom) {
      // The dispatcher holds this slot's verdicts from now on; every one it sent before is
      // handed back above (queued acks included).
      flush_acks(self);
      self->quit(self->state.broken);
    },
    [self](stop_atom) {
      flush_acks(self); // the stop may have overtaken the flush of the acks sent before it
      self->quit(self->state.broken);
    },
  };
}

} // namespace funboost::actors
