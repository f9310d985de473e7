#include "actors/worker.hpp"

#include <chrono>

#include "actors/exit_reason.hpp"
#include "core/result_registry.hpp"
#include "core/task_extra.hpp"

namespace funboost::actors {

namespace {

using clock = std::chrono::steady_clock;

/// Runs one task and returns what the dispatcher should do with it.
task_status run_one(worker_actor::stateful_pointer<worker_state> self, task& t) {
  const auto& ctx = *self->state.ctx;
  const auto& queue = ctx.queue();
  auto& log = *ctx.log;
  ++t.attempts;

  simdjson::dom::element root;
  simdjson::dom::object message;
  if (self->state.parser.parse(t.body).get(root) || root.get_object().get(message)) {
    log.error("queue '{}': a message is not a JSON object and was moved to '{}'; fix the "
              "producer. Message: {:.200}",
              queue, dead_letter_queue(queue), t.body);
    return task_status::dead_letter;
  }
  auto extra = detail::read_task_extra(message, ctx.options);

  log.info("queue '{}': task {} starts (attempt {} of {})", queue, extra.task_id, t.attempts,
           extra.max_retries + 1);
  auto started = clock::now();
  call_outcome outcome;
  try {
    outcome = ctx.function(message);
  } catch (const decode_error& e) {
    log.error("queue '{}': task {}: {}; the task was not run and was moved to '{}'. Fix the "
              "producer's arguments or the function's parameter types.",
              queue, extra.task_id, e.what(), dead_letter_queue(queue));
    if (extra.rpc)
      detail::deliver_result(extra.task_id, false, "null", "funboost::decode_error", e.what());
    return task_status::dead_letter;
  }
  auto took = std::chrono::duration<double>(clock::now() - started).count();

  if (outcome.ok) {
    log.info("queue '{}': task {} done in {:.6f} s, result {:.200}", queue, extra.task_id,
             took, outcome.result_json);
    if (extra.rpc)
      detail::deliver_result(extra.task_id, true, std::move(outcome.result_json), {}, {});
    return task_status::done;
  }
  if (t.attempts <= static_cast<uint32_t>(extra.max_retries)) {
    log.warn("queue '{}': task {} failed in {:.6f} s (attempt {} of {}): {}: {}; retrying",
             queue, extra.task_id, took, t.attempts, extra.max_retries + 1,
             outcome.exception_type, outcome.exception_message);
    return task_status::retry;
  }
  log.error("queue '{}': task {} failed for good after {} attempts: {}: {}", queue,
            extra.task_id, t.attempts, outcome.exception_type, outcome.exception_message);
  if (extra.rpc)
    detail::deliver_result(extra.task_id, false, "null", outcome.exception_type,
                           outcome.exception_message);
  return ctx.options.dead_letter_on_failure ? task_status::dead_letter : task_status::failed;
}

} // namespace

worker_actor::behavior_type worker(worker_actor::stateful_pointer<worker_state> self,
                                   detail::queue_context_ptr ctx, dispatcher_actor dispatcher) {
  self->state.ctx = std::move(ctx);
  self->state.dispatcher = std::move(dispatcher);
  // What escapes run_one is not the function's failure but a crash (e.g. a result that cannot
  // be encoded): the worker dies with the text, the dispatcher retries its batch.
  self->set_exception_handler(exit_reason_from_exception);
  return {
    [self](run_atom, task_batch batch) {
      auto started = clock::now();
      std::vector<task_status> statuses;
      statuses.reserve(batch->size());
      for (auto& t : *batch)
        statuses.push_back(run_one(self, t));
      auto spent = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - started);
      self->send(self->state.dispatcher, done_atom::value, caf::actor_cast<worker_actor>(self),
                 std::move(statuses), static_cast<uint64_t>(spent.count()));
    },
  };
}

} // namespace funboost::actors
