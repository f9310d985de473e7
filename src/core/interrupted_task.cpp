#include "core/interrupted_task.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/fmt/fmt.h>

#include <simdjson.h>

#include "core/result_registry.hpp"
#include "core/status_record.hpp"
#include "core/task_extra.hpp"
#include "results/result_store.hpp"

namespace funboost::detail {

actors::task_controls controls_of_running(const std::string& body,
                                          const booster_options& options) {
  simdjson::dom::parser parser;
  simdjson::dom::object message;
  if (parser.parse(body).get_object().get(message))
    return {};
  auto controls = read_task_controls(message, options);
  std::string_view id;
  if (message["extra"]["task_id"].get(id)) // read_task_controls made one up: not the worker's
    controls.task_id.clear();
  return controls;
}

namespace {

/// Finishes the waiters of an RPC task with a failure, here and in the result store.
void report_failed(const queue_context& ctx, const std::string& body, const std::string& task_id,
                   std::string type, std::string text, double seconds_running, int run_times) {
  std::string record;
  if (ctx.results) {
    auto now = std::chrono::duration<double>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
    status_record_input in;
    in.queue_name = ctx.queue();
    in.function_name = ctx.options.function_name;
    in.task_id = task_id;
    in.message_json = body;
    in.success = false;
    in.result_json = "null";
    in.exception_type = type;
    in.exception_message = text;
    in.run_times = run_times;
    in.time_start = now - seconds_running;
    in.time_end = now;
    in.rpc_result_expire_seconds = static_cast<int>(ctx.options.rpc_result_expire.count());
    in.utc_offset_minutes = ctx.options.publish_time_utc_offset_minutes;
    record = make_status_record(in);
    ctx.results->write(task_id, record);
  }
  deliver_result(task_id, false, "null", std::move(type), std::move(text), std::move(record));
}

} // namespace

void report_interrupted(const queue_context& ctx, const std::string& body,
                        const actors::task_controls& controls, double seconds_running) {
  if (!controls.rpc || controls.task_id.empty())
    return; // no one can be waiting for it
  auto type = "funboost::" + to_string(ec::interrupted);
  auto text = "queue '" + ctx.queue() + "': task " + controls.task_id
              + " was still running when the consumer stopped (stop_timeout passed, or a "
                "second stop signal); it went back to the broker and runs again: ask for its "
                "result by task id once a consumer has run it";
  report_failed(ctx, body, controls.task_id, std::move(type), std::move(text), seconds_running,
                1);
}

caf::timespan timeout_span(double seconds) {
  constexpr double cap = 1e8; // ~3 years; int64 nanoseconds end at ~292 years
  return std::chrono::duration_cast<caf::timespan>(
    std::chrono::duration<double>(std::min(seconds, cap)));
}

std::string function_timeout_text(const std::string& queue, const std::string& task_id,
                                  double seconds) {
  return fmt::format("queue '{}': task {} ran longer than its function_timeout of {} s", queue,
                     task_id, seconds);
}

void report_failure(const queue_context& ctx, const actors::task& t, std::string type,
                    std::string text, double seconds_running) {
  if (!t.controls.rpc)
    return;
  report_failed(ctx, t.body, t.controls.task_id, std::move(type), std::move(text),
                seconds_running, static_cast<int>(t.attempts));
}

} // namespace funboost::detail
