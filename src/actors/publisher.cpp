#include "actors/publisher.hpp"

#include <optional>
#include <span>

#include "core/direct_publisher.hpp"

namespace funboost::actors {

namespace {

using self_ptr = publisher_actor::stateful_pointer<publisher_state>;
using receipt_list = std::vector<push_receipt>;

struct publish_outcome {
  std::size_t published = 0; // how many of the messages the broker holds now, in order
  std::string error;         // "" when all of them
};

/// One try, in calls of at most max_publish_batch. A stale connection (the broker restarted
/// since its last use) gets one fresh reconnect within the try, which goes on where it stopped.
publish_outcome try_publish(self_ptr self, const std::vector<std::string>& bodies) {
  auto& st = self->state;
  std::span<const std::string> all{bodies};
  publish_outcome out;
  for (int round = 0; round < 2; ++round) {
    try {
      if (!st.connection)
        st.connection = st.ctx->broker->connect();
      while (out.published < all.size()) {
        auto n = std::min(detail::max_publish_batch, all.size() - out.published);
        st.connection->publish(st.ctx->queue(), all.subspan(out.published, n));
        out.published += n;
      }
      out.error.clear();
      return out;
    } catch (const std::exception& e) {
      st.connection.reset();
      out.error = e.what();
    }
  }
  return out;
}

receipt_list receipts(const std::vector<std::string>& ids, ec status, const std::string& detail) {
  receipt_list out;
  out.reserve(ids.size());
  for (const auto& id : ids)
    out.push_back(push_receipt{id, status, detail});
  return out;
}

std::string broker_name(self_ptr self) {
  const auto& ctx = *self->state.ctx;
  return "'" + ctx.options.broker_kind + "' (" + ctx.broker_address() + ")"; // no password
}

std::string interval_ms(self_ptr self) {
  return std::to_string(self->state.ctx->options.publish_retry_interval.count()) + " ms";
}

/// The push was refused and the outbox cannot keep it: each receipt names the queue, the task,
/// the path and the fix. Nothing of these messages is anywhere now.
receipt_list not_kept(self_ptr self, const std::vector<std::string>& ids, const std::string& why,
                      const std::string& failure) {
  auto& st = self->state;
  auto where = "could NOT be kept: the outbox '" + st.outbox->path() + "' cannot be written ("
               + failure + "); make broker.outbox_dir ('" + st.outbox->dir()
               + "') a writable directory with free space, then push again";
  st.ctx->log->error("queue '{}': {} task(s) (first {}) were NOT published ({}) and {}",
                     st.ctx->queue(), ids.size(), ids.empty() ? "" : ids.front(), why, where);
  receipt_list out;
  out.reserve(ids.size());
  for (const auto& id : ids)
    out.push_back(push_receipt{id, ec::broker_unreachable,
                               "queue '" + st.ctx->queue() + "': task " + id
                                 + " was NOT published (" + why + ") and " + where});
  return out;
}

/// Appends the messages to the outbox: kept_in_outbox receipts, or not_kept ones.
receipt_list keep(self_ptr self, const std::vector<std::string>& bodies,
                  const std::vector<std::string>& ids, const std::string& why) {
  auto& st = self->state;
  if (auto failure = st.outbox->keep(bodies); !failure.empty())
    return not_kept(self, ids, why, failure);
  auto text = "queue '" + st.ctx->queue() + "': " + why + "; " + std::to_string(bodies.size())
              + " message(s) kept in the outbox '" + st.outbox->path()
              + "' and delivered when the broker is reachable again";
  st.ctx->log->debug("{}", text);
  return receipts(ids, ec::kept_in_outbox, text);
}

/// The answer for a waiting batch that will not be tried again: what an earlier try published
/// is confirmed, the rest is kept.
receipt_list keep_waiting(self_ptr self, waiting_publish& w, const std::string& why) {
  auto out = receipts(w.published_ids, ec::none, {});
  auto kept = keep(self, w.bodies, w.task_ids, why);
  out.insert(out.end(), kept.begin(), kept.end());
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

/// The broker refused (`what`): from now on pushes go to the outbox without trying, and the
/// replay timer probes. What waits for a retry is kept now, in order.
void go_down(self_ptr self, const std::string& what) {
  auto& st = self->state;
  st.down = true;
  st.ctx->publisher_down->store(true);
  st.down_reason = "the broker " + broker_name(self) + " is down: it " + what;
  st.ctx->log->error("queue '{}': {}; until it is back, pushes go straight to the outbox '{}' "
                     "and a probe every {} replays it",
                     st.ctx->queue(), st.down_reason, st.outbox->path(), interval_ms(self));
  for (auto& w : st.waiting)
    w.promise.deliver(keep_waiting(self, w, st.down_reason));
  st.waiting.clear();
  schedule_replay(self, false);
}

void go_up(self_ptr self, std::size_t delivered) {
  auto& st = self->state;
  st.down = false;
  st.down_reason.clear();
  st.ctx->publisher_down->store(false);
  st.ctx->log->info("queue '{}': the broker {} is back; {} message(s) delivered from the outbox "
                    "'{}'; pushes go to the broker again",
                    st.ctx->queue(), broker_name(self), delivered, st.outbox->path());
}

/// Tries the waiting batches in order. When the front batch runs out of retries the broker is
/// down: go_down keeps every waiting batch at once (one retry cycle, not one per push).
void retry_waiting(self_ptr self) {
  auto& st = self->state;
  const auto& o = st.ctx->options;
  while (!st.waiting.empty()) {
    auto& front = st.waiting.front();
    auto outcome = try_publish(self, front.bodies);
    auto taken = static_cast<long>(outcome.published);
    front.published_ids.insert(front.published_ids.end(), front.task_ids.begin(),
                               front.task_ids.begin() + taken);
    front.task_ids.erase(front.task_ids.begin(), front.task_ids.begin() + taken);
    front.bodies.erase(front.bodies.begin(), front.bodies.begin() + taken);
    if (outcome.error.empty()) {
      front.promise.deliver(receipts(front.published_ids, ec::none, {}));
      st.waiting.pop_front();
      continue;
    }
    if (++front.attempts > o.publish_retries) {
      go_down(self, "refused a push through " + std::to_string(o.publish_retries)
                      + " retries " + interval_ms(self) + " apart (" + outcome.error + ")");
      return;
    }
    st.ctx->log->warn("queue '{}': push of {} batch(es) failed ({}); reconnecting, retry {} of "
                      "{} in {}",
                      o.queue_name, st.waiting.size(), outcome.error, front.attempts,
                      o.publish_retries, interval_ms(self));
    break;
  }
  schedule_retry(self);
}

/// A push: kept at once while down; else published now, or queued for the retry timer.
/// `refused`: why the caller's fast path could not publish it ("" when it was not tried).
caf::result<receipt_list> accept(self_ptr self, std::vector<std::string> bodies,
                                 std::vector<std::string> ids, std::string refused) {
  auto& st = self->state;
  const auto& o = st.ctx->options;
  if (st.down)
    return keep(self, bodies, ids, st.down_reason);
  std::vector<std::string> published_ids;
  if (refused.empty() && st.waiting.empty()) {
    auto outcome = try_publish(self, bodies);
    if (outcome.error.empty())
      return receipts(ids, ec::none, {});
    auto taken = static_cast<long>(outcome.published);
    published_ids.assign(ids.begin(), ids.begin() + taken);
    ids.erase(ids.begin(), ids.begin() + taken);
    bodies.erase(bodies.begin(), bodies.begin() + taken);
    refused = std::move(outcome.error);
  }
  if (!refused.empty()) {
    auto why = "the broker " + broker_name(self) + " refused the push (" + refused + ")";
    // Retrying first would only make the caller wait to hear that nothing can be kept.
    if (auto problem = st.outbox->problem(); !problem.empty()) {
      auto out = receipts(published_ids, ec::none, {});
      auto lost = not_kept(self, ids, why, problem);
      out.insert(out.end(), lost.begin(), lost.end());
      return out;
    }
    if (o.publish_retries == 0) {
      go_down(self, "refused a push (" + refused + "; publish_retries is 0)");
      auto out = receipts(published_ids, ec::none, {});
      auto kept = keep(self, bodies, ids, st.down_reason);
      out.insert(out.end(), kept.begin(), kept.end());
      return out;
    }
    st.ctx->log->warn("queue '{}': {}; reconnecting, retry 1 of {} in {}", o.queue_name, why,
                      o.publish_retries, interval_ms(self));
  }
  waiting_publish w{std::move(bodies), std::move(ids), std::move(published_ids),
                    self->make_response_promise<receipt_list>(), refused.empty() ? 0 : 1};
  auto promise = w.promise;
  st.waiting.push_back(std::move(w));
  schedule_retry(self);
  return promise;
}

/// With nothing to replay, a fresh connection is the probe.
bool broker_answers(self_ptr self) {
  auto& st = self->state;
  try {
    st.connection = st.ctx->broker->connect();
    return true;
  } catch (const std::exception& e) {
    st.connection.reset();
    st.ctx->log->debug("queue '{}': the broker {} is still down: {}", st.ctx->queue(),
                       broker_name(self), e.what());
    return false;
  }
}

/// While up, the outbox is looked at every publish_retry_interval all the same: another
/// process sharing the directory may have kept messages there while its broker connection was
/// down and exited before it could replay them; a long-running publisher delivers them.
void watch_outbox(self_ptr self) {
  if (!self->state.down)
    schedule_replay(self, false);
}

/// Delivers the outbox, oldest claim first. Each claim is locked while it is published, so
/// another publisher of this file (another process, or another booster of the queue) never
/// sends the same lines; what a failed publish left stays in its claim for the next replay.
void replay_outbox(self_ptr self) {
  auto& st = self->state;
  std::size_t delivered = 0;
  for (;;) {
    std::optional<detail::outbox_claim> claim;
    detail::outbox::take_status status;
    try {
      status = st.outbox->take(claim);
    } catch (const std::exception& e) {
      st.ctx->log->error("queue '{}': cannot read the outbox: {}; next try in {}",
                         st.ctx->queue(), e.what(), interval_ms(self));
      schedule_replay(self, false);
      return;
    }
    if (status == detail::outbox::take_status::busy) {
      schedule_replay(self, false); // another replay has the oldest lines; look again later
      return;
    }
    if (status == detail::outbox::take_status::nothing)
      break;
    auto outcome = try_publish(self, claim->lines());
    delivered += outcome.published;
    if (auto problem = claim->finish(outcome.published); !problem.empty())
      st.ctx->log->error("queue '{}': {}", st.ctx->queue(), problem);
    if (!outcome.error.empty()) {
      st.ctx->log->warn("queue '{}': {} message(s) still in the outbox '{}': {}; next try in {}",
                        st.ctx->queue(), claim->lines().size() - outcome.published,
                        st.outbox->path(), outcome.error, interval_ms(self));
      if (!st.down)
        go_down(self, "refused the outbox replay (" + outcome.error + ")");
      schedule_replay(self, false);
      return;
    }
  }
  if (st.down && delivered == 0 && !broker_answers(self)) {
    schedule_replay(self, false);
    return;
  }
  if (st.down)
    go_up(self, delivered);
  else if (delivered > 0)
    st.ctx->log->info("queue '{}': delivered {} message(s) from the outbox '{}'",
                      st.ctx->queue(), delivered, st.outbox->path());
  watch_outbox(self);
}

} // namespace

publisher_actor::behavior_type publisher(self_ptr self, detail::queue_context_ptr ctx) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.outbox = std::make_unique<detail::outbox>(st.ctx->options.broker.outbox_dir,
                                               st.ctx->queue());
  // An earlier process (or booster) may have left messages behind: replayed at once; else the
  // outbox is watched (watch_outbox).
  schedule_replay(self, !st.outbox->empty());
  // The booster is going away: what still waits for a retry is kept, not dropped.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    for (auto& w : st.waiting)
      w.promise.deliver(
        keep_waiting(self, w, "the booster stopped before the broker took the push"));
    st.waiting.clear();
    self->quit(msg.reason);
  });
  return {
    [self](push_atom, std::vector<std::string>& bodies, std::vector<std::string>& ids) {
      return accept(self, std::move(bodies), std::move(ids), {});
    },
    [self](retry_atom, std::vector<std::string>& bodies, std::vector<std::string>& ids,
           std::string& refused) {
      if (refused.empty())
        refused = "refused on the caller's thread";
      return accept(self, std::move(bodies), std::move(ids), std::move(refused));
    },
    [self](retry_atom) {
      self->state.retry_scheduled = false;
      retry_waiting(self);
    },
    [self](replay_atom) {
      self->state.replay_scheduled = false;
      replay_outbox(self);
    },
  };
}

} // namespace funboost::actors
