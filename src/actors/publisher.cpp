#include "actors/publisher.hpp"

#include "core/direct_publisher.hpp"

namespace funboost::actors {

namespace {

using self_ptr = publisher_actor::stateful_pointer<publisher_state>;

/// One try: "" when the broker holds the messages, else the failure text. A stale connection
/// (the broker restarted since its last use) gets one fresh reconnect within the try.
std::string try_publish(self_ptr self, const std::vector<std::string>& bodies) {
  auto& st = self->state;
  for (int round = 0; round < 2; ++round) {
    try {
      if (!st.connection)
        st.connection = st.ctx->broker->connect();
      detail::publish_in_batches(*st.connection, st.ctx->queue(), bodies);
      return {};
    } catch (const std::exception& e) {
      st.connection.reset();
      if (round == 1)
        return e.what();
    }
  }
  return {};
}

std::vector<push_receipt> receipts(const std::vector<std::string>& ids, ec status,
                                   const std::string& detail) {
  std::vector<push_receipt> out;
  out.reserve(ids.size());
  for (const auto& id : ids)
    out.push_back(push_receipt{id, status, detail});
  return out;
}

void schedule_retry(self_ptr self) {
  auto& st = self->state;
  if (st.retry_scheduled || st.waiting.empty())
    return;
  st.retry_scheduled = true;
  self->delayed_send(self, st.ctx->options.publish_retry_interval, retry_atom::value);
}

void schedule_replay(self_ptr self, bool now) {
  auto& st = self->state;
  if (st.replay_scheduled)
    return;
  st.replay_scheduled = true;
  if (now)
    self->send(self, replay_atom::value);
  else
    self->delayed_send(self, st.ctx->options.publish_retry_interval, replay_atom::value);
}

/// Out of retries: the messages go to the outbox; the push is answered, nothing is lost.
void keep_in_outbox(self_ptr self, waiting_publish& w, const std::string& error) {
  auto& st = self->state;
  const auto& o = st.ctx->options;
  auto file = st.outbox->keep(w.bodies);
  auto text = "queue '" + o.queue_name + "': push failed after " + std::to_string(w.attempts)
              + " attempts on broker '" + o.broker_kind + "' (" + st.ctx->broker_address()
              + "): " + error + "; " + std::to_string(w.bodies.size())
              + " message(s) kept in the outbox '"
              + file + "' and delivered when the broker is reachable again";
  st.ctx->log->error("{}", text);
  w.promise.deliver(receipts(w.task_ids, ec::kept_in_outbox, text));
  schedule_replay(self, false);
}

/// Tries the waiting batches in order; a failure counts as an attempt for all of them (they
/// share the broker), and those out of attempts go to the outbox.
void retry_waiting(self_ptr self) {
  auto& st = self->state;
  const auto& o = st.ctx->options;
  while (!st.waiting.empty()) {
    auto& front = st.waiting.front();
    auto error = try_publish(self, front.bodies);
    if (error.empty()) {
      front.promise.deliver(receipts(front.task_ids, ec::none, {}));
      st.waiting.pop_front();
      continue;
    }
    for (auto& w : st.waiting)
      ++w.attempts;
    while (!st.waiting.empty() && st.waiting.front().attempts > o.publish_retries) {
      keep_in_outbox(self, st.waiting.front(), error);
      st.waiting.pop_front();
    }
    if (!st.waiting.empty())
      st.ctx->log->warn("queue '{}': push of {} batch(es) failed ({}); reconnecting, next try "
                        "in {} ms",
                        o.queue_name, st.waiting.size(), error,
                        o.publish_retry_interval.count());
    break;
  }
  schedule_retry(self);
}

/// Queues a push for the retry timer. `error` non-empty: it has just failed once (attempt 1);
/// empty: it waits behind earlier failures and has not been tried.
caf::typed_response_promise<std::vector<push_receipt>>
enqueue(self_ptr self, std::vector<std::string> bodies, std::vector<std::string> ids,
        const std::string& error) {
  auto& st = self->state;
  const auto& o = st.ctx->options;
  waiting_publish w{std::move(bodies), std::move(ids),
                    self->make_response_promise<std::vector<push_receipt>>(),
                    error.empty() ? 0 : 1};
  auto promise = w.promise;
  if (!error.empty() && w.attempts > o.publish_retries) { // publish_retries = 0
    keep_in_outbox(self, w, error);
    return promise;
  }
  if (!error.empty())
    st.ctx->log->warn("queue '{}': push of {} message(s) failed ({}); reconnecting, retry 1 "
                      "of {} in {} ms",
                      o.queue_name, w.bodies.size(), error, o.publish_retries,
                      o.publish_retry_interval.count());
  st.waiting.push_back(std::move(w));
  schedule_retry(self);
  return promise;
}

} // namespace

publisher_actor::behavior_type publisher(self_ptr self, detail::queue_context_ptr ctx) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.outbox = std::make_unique<detail::outbox>(st.ctx);
  if (!st.outbox->empty())
    schedule_replay(self, true); // an earlier process left messages behind
  // The booster is going away: what still waits for a retry is kept, not dropped.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    for (auto& w : st.waiting)
      keep_in_outbox(self, w, "the booster stopped before the broker took them");
    st.waiting.clear();
    self->quit(msg.reason);
  });
  return {
    [self](push_atom, std::vector<std::string>& bodies, std::vector<std::string>& ids)
      -> caf::result<std::vector<push_receipt>> {
      std::string error;
      if (self->state.waiting.empty()) {
        error = try_publish(self, bodies);
        if (error.empty())
          return receipts(ids, ec::none, {});
      }
      return enqueue(self, std::move(bodies), std::move(ids), error);
    },
    [self](retry_atom, std::vector<std::string>& bodies, std::vector<std::string>& ids) {
      return enqueue(self, std::move(bodies), std::move(ids), "refused on the caller's thread");
    },
    [self](retry_atom) {
      self->state.retry_scheduled = false;
      retry_waiting(self);
    },
    [self](replay_atom) {
      auto& st = self->state;
      st.replay_scheduled = false;
      auto lines = st.outbox->read_all();
      if (lines.empty()) {
        st.outbox->remove();
        return;
      }
      auto error = try_publish(self, lines);
      if (!error.empty()) {
        st.ctx->log->warn("queue '{}': {} message(s) still in the outbox '{}': {}; next try in "
                          "{} ms",
                          st.ctx->queue(), lines.size(), st.outbox->path(), error,
                          st.ctx->options.publish_retry_interval.count());
        schedule_replay(self, false);
        return;
      }
      st.outbox->remove();
      st.ctx->log->info("queue '{}': delivered {} message(s) from the outbox '{}'",
                        st.ctx->queue(), lines.size(), st.outbox->path());
    },
  };
}

} // namespace funboost::actors
