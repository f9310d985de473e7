#include "actors/worker.hpp"

#include <chrono>

#include <spdlog/fmt/fmt.h>

#include "actors/exit_reason.hpp"
#include "core/crash_report.hpp"
#include "core/json_problem.hpp"
#include "core/log_safe.hpp"
#include "core/result_registry.hpp"
#include "core/status_record.hpp"
#include "core/delay_controls.hpp"
#include "core/interrupted_task.hpp"
#include "core/isolated_call.hpp"
#include "core/task_extra.hpp"
#include "core/task_filter.hpp"
#include "core/task_token.hpp"
#include "results/result_store.hpp"

namespace funboost::actors {

namespace {

using detail::log_safe;

using clock = std::chrono::steady_clock;

using detail::unix_now;

/// Whether a task with this filter value ran before. A filter that cannot answer (its Redis is
/// down) lets the task run: running it twice is what filtering prevents at best, losing it is
/// worse.
bool already_ran(const detail::queue_context& ctx, const task_controls& c) {
  try {
    return ctx.filter->seen(ctx.queue(), c.filter_value);
  } catch (const std::exception& e) {
    ctx.log->warn("queue '{}': task {}: the task filter ({}) cannot be read: {}; the task runs",
                  ctx.queue(), log_safe{c.task_id}, ctx.filter->describe(), log_safe{e.what()});
    return false;
  }
}

/// A filtered task's values are kept once its run has an outcome (success, or failure after
/// its last attempt), as funboost keeps them after its run whatever the outcome.
void remember_ran(const detail::queue_context& ctx, const task_controls& c) {
  if (!c.filtering)
    return;
  try {
    ctx.filter->remember(ctx.queue(), c.filter_value);
  } catch (const std::exception& e) {
    ctx.log->warn("queue '{}': task {}: the task filter ({}) cannot be written: {}; a task with "
                  "the same arguments will run again",
                  ctx.queue(), log_safe{c.task_id}, ctx.filter->describe(), log_safe{e.what()});
  }
}

/// The final outcome of an RPC task: to this process's waiters at once, and to the result
/// store (funboost's status record, written once) for every other process's.
void report_result(const detail::queue_context& ctx, const task& t, bool ok,
                   std::string result_json, std::string type, std::string message,
                   double time_start) {
  const auto& c = t.controls;
  std::string record;
  if (ctx.results) {
    detail::status_record_input in;
    in.queue_name = ctx.queue();
    in.function_name = ctx.options.function_name;
    in.task_id = c.task_id;
    in.message_json = t.body;
    in.success = ok;
    in.result_json = result_json;
    in.exception_type = type;
    in.exception_message = message;
    in.run_times = static_cast<int>(t.attempts);
    in.time_start = time_start;
    in.time_end = unix_now();
    in.rpc_result_expire_seconds = static_cast<int>(ctx.options.rpc_result_expire.count());
    record = detail::make_status_record(in);
    ctx.results->write(c.task_id, record);
  }
  detail::deliver_result(c.task_id, ok, std::move(result_json), std::move(type),
                         std::move(message), std::move(record));
}

/// An argument of the message does not fit the function: not the function's failure.
task_status dead_letter_undecodable(const detail::queue_context& ctx, task& t,
                                    const std::string& problem, double time_start) {
  const auto& c = t.controls;
  ctx.log->error("queue '{}': task {}: {}; the task was not run and was moved to '{}'. Fix the "
                 "producer's arguments or the function's parameter types.",
                 ctx.queue(), log_safe{c.task_id}, log_safe{problem},
                 dead_letter_queue(ctx.queue()));
  if (c.rpc)
    report_result(ctx, t, false, "null", "funboost::decode_error", problem, time_start);
  return task_status::dead_letter;
}

/// A failed run that did not throw: what the function's exception would have carried.
call_outcome failure(std::string type, std::string message) {
  call_outcome out;
  out.exception_type = std::move(type);
  out.exception_message = std::move(message);
  return out;
}

/// process_isolation: the function runs in a child process (core/isolated_call.hpp), which this
/// thread waits for; the task's function_timeout and the stop token kill it. A crash or a kill
/// fails this task only. Returns no outcome when the task must not be judged here: it went back
/// to the broker (stopped) or did not decode (dead-lettered into `verdict`).
std::optional<call_outcome> call_isolated(const detail::queue_context& ctx, task& t,
                                          simdjson::dom::object message, task_run& run,
                                          double time_start, task_status& verdict) {
  const auto& c = t.controls;
  auto child = detail::run_isolated(ctx.function, message, c.function_timeout,
                                    run.stop.get_token());
  using end = detail::isolated_outcome::end;
  switch (child.how) {
    case end::returned:
      return std::move(child.outcome);
    case end::decode_error:
      verdict = dead_letter_undecodable(ctx, t, child.detail, time_start);
      return std::nullopt;
    case end::crashed:
      return failure("funboost::crashed", "queue '" + ctx.queue() + "': task " + c.task_id + ": "
                                            + child.detail
                                            + " (process_isolation: the consumer goes on)");
    case end::timed_out:
      t.timed_out = true;
      return failure("funboost::function_timeout",
                     detail::function_timeout_text(ctx.queue(), c.task_id, c.function_timeout)
                       + "; its process was killed (SIGKILL)");
    case end::stopped:
      break;
  }
  ctx.log->warn("queue '{}': task {}: its process was killed: the queue asked the task to stop",
                ctx.queue(), log_safe{c.task_id});
  verdict = task_status::requeue; // the stop gave it back to the broker already
  return std::nullopt;
}

/// Runs one task and returns what the dispatcher should do with it; nothing when the
/// dispatcher settled the task itself because its function passed its function_timeout (this
/// worker was let go of: it reports nothing more and ends). `alone`: the batch holds this task
/// only, as the dispatcher hands out tasks with a function_timeout.
std::optional<task_status> run_one(worker_actor::stateful_pointer<worker_state> self, task& t,
                                   task_run& run, bool alone) {
  const auto& ctx = *self->state.ctx;
  const auto& queue = ctx.queue();
  auto& log = *ctx.log;
  ++t.attempts;
  t.timed_out = false; // of this run

  simdjson::dom::object message;
  if (std::string problem; !detail::parse_message(self->state.parser, t.body, message, problem)) {
    log.error("queue '{}': a message cannot be read and was moved to '{}': {}. Fix the "
              "producer. Message: {}",
              queue, dead_letter_queue(queue), problem, log_safe{t.body, 200});
    return task_status::dead_letter;
  }
  if (!t.controls.known) // the one parse of the message: arguments and controls
    t.controls = detail::read_task_controls(message, ctx.options);
  const auto& c = t.controls;
  // A task with a function_timeout runs alone, so that its timeout concerns it only; one that
  // came in a batch of fast tasks goes back unstarted, and the dispatcher hands it out alone.
  // (Seen here, by the one parse, rather than by a look into every body the dispatcher batches.)
  if (!alone && c.invalid.empty() && c.function_timeout > 0 && !ctx.options.process_isolation) {
    --t.attempts;
    return task_status::not_started;
  }
  if (!c.invalid.empty()) {
    log.error("queue '{}': task {}: {}; the task was not run and was moved to '{}'. Fix the "
              "producer's per-message options.",
              queue, c.task_id, c.invalid, dead_letter_queue(queue));
    if (c.rpc)
      report_result(ctx, t, false, "null", "funboost::invalid_task_option", c.invalid, 0.0);
    t.dead_letter_reason = c.invalid;
    return task_status::dead_letter;
  }

  // funboost's msg_expire_seconds: judged when the task first reaches a worker (a retry of a
  // task that started in time is not dropped).
  if (t.attempts == 1 && c.expire_seconds > 0 && c.publish_time > 0) {
    auto age = unix_now() - c.publish_time;
    if (age > c.expire_seconds) {
      auto why = fmt::format("published {:.3f} s ago, more than msg_expire_seconds {}", age,
                             c.expire_seconds);
      log.warn("queue '{}': task {} was {}: dropped without running (acked). If it should "
               "have run, consume faster (concurrent_num, conn_num, more consumers) or raise "
               "msg_expire_seconds.",
               queue, log_safe{c.task_id}, why);
      if (c.rpc)
        report_result(ctx, t, false, "null", "funboost::expired", why, 0.0);
      return task_status::expired;
    }
  }

  // funboost's do_task_filtering, checked where funboost checks it: after expiry, before delays.
  if (t.attempts == 1 && c.filtering && already_ran(ctx, c)) {
    log.info("queue '{}': task {} is filtered: a task with the same {} ran before; acked "
             "without running", queue, log_safe{c.task_id}, log_safe{c.filter_value, 200});
    if (c.rpc)
      report_result(ctx, t, false, "null", "funboost::filtered",
                    "a task with the same arguments ran before (do_task_filtering)", 0.0);
    return task_status::filtered;
  }

  // funboost's countdown / eta: a task not due yet goes to the queue's scheduler, which keeps
  // it (in Redis for the Redis kinds) and pushes it back without them when due. One due
  // already runs now, unless it is later than its misfire_grace_time.
  if (t.attempts == 1 && c.run_at > 0) {
    auto now = unix_now();
    if (c.run_at > now) {
      t.delayed_body = detail::without_delay(t.body);
      log.debug("queue '{}': task {} is delayed by {:.3f} s", queue, log_safe{c.task_id},
                c.run_at - now);
      return task_status::delayed;
    }
    if (c.misfire_grace > 0 && now - c.run_at > c.misfire_grace) {
      auto why = fmt::format("{:.3f} s later than its eta, more than misfire_grace_time {}",
                             now - c.run_at, c.misfire_grace);
      log.warn("queue '{}': task {} came {}: dropped without running (acked).", queue,
               log_safe{c.task_id}, why);
      if (c.rpc)
        report_result(ctx, t, false, "null", "funboost::misfired", why, 0.0);
      return task_status::expired;
    }
  }

  log.info("queue '{}': task {} starts (attempt {} of {})", queue, log_safe{c.task_id},
           t.attempts, c.max_retries + 1);
  auto time_start = c.rpc ? unix_now() : 0.0; // for the result record only
  auto started = clock::now();
  call_outcome outcome;
  if (ctx.options.process_isolation) {
    task_status verdict = task_status::done;
    auto isolated = call_isolated(ctx, t, message, run, time_start, verdict);
    if (!isolated)
      return verdict;
    outcome = std::move(*isolated);
  } else {
    // The dispatcher times the function from here, on its clock, and settles the task itself
    // if the time runs out first (then `run` is claimed by it, not by us).
    bool timed = alone && c.function_timeout > 0;
    if (timed)
      self->send(self->state.dispatcher, started_atom::value,
                 caf::actor_cast<worker_actor>(self), detail::timeout_span(c.function_timeout));
    std::string undecodable;
    try {
      detail::running_task_scope running{&queue, &c.task_id}; // named if the process dies of it
      outcome = ctx.function(message);
    } catch (const decode_error& e) {
      undecodable = e.what();
    }
    if (timed && !run.claim()) {
      auto took = std::chrono::duration<double>(clock::now() - started).count();
      log.warn("queue '{}': task {} returned after {:.3f} s, past its function_timeout of {} s: "
               "the task was settled when its time ran out, so this outcome is discarded and "
               "its abandoned worker ends",
               queue, log_safe{c.task_id}, took, c.function_timeout);
      return std::nullopt;
    }
    if (!undecodable.empty())
      return dead_letter_undecodable(ctx, t, undecodable, time_start);
  }
  auto took = std::chrono::duration<double>(clock::now() - started).count();

  if (outcome.asked == call_outcome::request::requeue) {
    log.warn("queue '{}': task {} asked to be requeued after {:.6f} s ({}); it goes back to the "
             "queue, not counted as a retry",
             queue, log_safe{c.task_id}, took, log_safe{outcome.exception_message});
    return task_status::requeue;
  }
  if (outcome.asked == call_outcome::request::dead_letter) {
    auto reason = "the function threw funboost::dead_letter: " + outcome.exception_message;
    log.error("queue '{}': task {} was moved to '{}' by the function: {}", queue,
              log_safe{c.task_id}, dead_letter_queue(queue), log_safe{outcome.exception_message});
    remember_ran(ctx, c);
    if (c.rpc)
      report_result(ctx, t, false, "null", "funboost::dead_letter", outcome.exception_message,
                    time_start);
    t.dead_letter_reason = reason;
    return task_status::dead_letter;
  }

  if (outcome.ok) {
    log.info("queue '{}': task {} done in {:.6f} s, result {}", queue, log_safe{c.task_id}, took,
             log_safe{outcome.result_json, 200});
    remember_ran(ctx, c); // before the waiter hears: the same arguments pushed next are filtered
    if (c.rpc)
      report_result(ctx, t, true, std::move(outcome.result_json), {}, {}, time_start);
    return task_status::done;
  }
  if (t.attempts <= static_cast<uint32_t>(c.max_retries)) {
    log.warn("queue '{}': task {} failed in {:.6f} s (attempt {} of {}): {}: {}; retrying",
             queue, log_safe{c.task_id}, took, t.attempts, c.max_retries + 1,
             log_safe{outcome.exception_type}, log_safe{outcome.exception_message});
    return task_status::retry;
  }
  log.error("queue '{}': task {} failed for good after {} attempts: {}: {}", queue,
            log_safe{c.task_id}, t.attempts, log_safe{outcome.exception_type},
            log_safe{outcome.exception_message});
  remember_ran(ctx, c);
  if (c.rpc)
    report_result(ctx, t, false, "null", outcome.exception_type, outcome.exception_message,
                  time_start);
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
    [self](run_atom, task_batch batch, task_run_ptr run) {
      auto started = clock::now();
      if (!run)
        run = std::make_shared<task_run>();
      std::vector<task_status> statuses;
      statuses.reserve(batch->size());
      {
        // What funboost::stop_requested() reads while this batch runs.
        detail::task_token_scope token{run->stop.get_token()};
        for (auto& t : *batch) {
          if (!statuses.empty() && statuses.back() == task_status::not_started) {
            statuses.push_back(task_status::not_started); // the rest waits with it
            continue;
          }
          auto status = run_one(self, t, *run, batch->size() == 1);
          if (!status) { // the dispatcher settled it and let this worker go: end quietly
            self->quit();
            return;
          }
          statuses.push_back(*status);
        }
      }
      auto spent = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - started);
      self->send(self->state.dispatcher, done_atom::value, caf::actor_cast<worker_actor>(self),
                 std::move(statuses), static_cast<uint64_t>(spent.count()));
    },
  };
}

} // namespace funboost::actors
