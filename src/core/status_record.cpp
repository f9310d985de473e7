#include "core/status_record.hpp"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>

#include <simdjson.h>

#include <funboost/codec.hpp>

namespace funboost::detail {

namespace {

// What funboost writes as `result` when the function raised.
constexpr std::string_view func_run_error = "FUNC_RUN_ERROR";

const std::string& host_name() {
  static const std::string name = [] {
    char buf[256] = {};
    return ::gethostname(buf, sizeof(buf) - 1) == 0 ? std::string{buf} : std::string{"unknown"};
  }();
  return name;
}

/// sys.argv[0] in Python; the program as it was started here.
const std::string& script_name_long() {
  static const std::string name = program_invocation_name ? program_invocation_name : "";
  return name;
}

std::string_view script_name() {
  std::string_view s = script_name_long();
  auto slash = s.find_last_of("/\\");
  return slash == std::string_view::npos ? s : s.substr(slash + 1);
}

/// The process's thread count (threading.active_count() in funboost). Listing /proc/self/task
/// per record would cost more than the record; once a second is plenty for a statistic.
long long total_threads() {
  static std::atomic<long long> cached{1};
  static std::atomic<int64_t> counted_at{-1};
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
               .count();
  if (counted_at.exchange(now) != now) {
    long long n = 0;
    std::error_code ec;
    for (std::filesystem::directory_iterator it{"/proc/self/task", ec}, end; !ec && it != end;
         it.increment(ec))
      ++n;
    cached = n > 0 ? n : 1;
  }
  return cached;
}

/// "YYYY-MM-DD HH:MM:SS" of now at a fixed UTC offset, like funboost's insert_time_str.
std::string now_text(int utc_offset_minutes) {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())
           + static_cast<std::time_t>(utc_offset_minutes) * 60;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  auto n = std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return {buf, n};
}

/// A JSON string value, or null when `s` is empty (funboost's None).
void string_or_null(json_writer& w, std::string_view s) {
  if (s.empty())
    w.null();
  else
    w.string(s);
}

/// `key` of `obj` as compact JSON, or null when absent.
void member_or_null(json_writer& w, simdjson::dom::object obj, std::string_view key) {
  simdjson::dom::element value;
  if (obj.at_key(key).get(value))
    w.null();
  else
    w.raw(simdjson::minify(value));
}

std::string optional_string(simdjson::dom::object obj, std::string_view key) {
  std::string_view s;
  return obj.at_key(key).get(s) ? std::string{} : std::string{s};
}

} // namespace

std::string make_status_record(const status_record_input& in) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object message;
  simdjson::dom::element root;
  bool is_object = !parser.parse(in.message_json.data(), in.message_json.size()).get(root)
                   && !root.get_object().get(message);
  simdjson::dom::object extra;
  bool has_extra = is_object && !message.at_key("extra").get(extra);

  // params and params_str are the same text: the message's keys except "extra".
  std::string params{"{"};
  if (is_object) {
    json_writer pw{params};
    for (auto [key, value] : message) {
      if (key == "extra")
        continue;
      if (params.size() > 1)
        params.push_back(',');
      pw.key(key);
      params.append(simdjson::minify(value));
    }
  }
  params.push_back('}');

  std::string out;
  out.reserve(1024 + 2 * in.message_json.size() + in.result_json.size());
  json_writer w{out};
  auto pid = static_cast<long long>(::getpid());
  auto host_process = host_name() + " - " + std::to_string(pid);

  // The order of FunctionResultStatus.__init__'s attributes, then get_status_dict's additions.
  w.raw("{\"host_process\":");
  w.string(host_process);
  w.raw(",\"queue_name\":");
  w.string(in.queue_name);
  w.raw(",\"function\":");
  w.string(in.function_name);
  w.raw(",\"msg_dict\":");
  if (is_object)
    w.raw(simdjson::minify(root));
  else
    w.string(in.message_json);
  w.raw(",\"task_id\":");
  w.string(in.task_id);
  w.raw(",\"publish_time\":");
  if (has_extra)
    member_or_null(w, extra, "publish_time");
  else
    w.null();
  w.raw(",\"publish_time_format\":");
  if (has_extra)
    member_or_null(w, extra, "publish_time_format");
  else
    w.null();
  w.raw(",\"process_id\":");
  w.integer(pid);
  w.raw(",\"thread_id\":");
  w.integer(static_cast<uint64_t>(::pthread_self())); // what Python's threading.get_ident() is
  w.raw(",\"params\":");
  w.raw(params);
  w.raw(",\"result\":");
  if (!in.success)
    w.string(func_run_error);
  else if (in.result_json.empty())
    w.null(); // a void function: Python's None
  else
    w.raw(in.result_json);
  w.raw(",\"run_times\":");
  w.integer(in.run_times);
  w.raw(",\"exception\":");
  if (in.success) {
    w.null();
  } else {
    std::string exception{in.exception_type};
    exception.append("    "); // f'{e.__class__.__name__}    {str(e)}'
    exception.append(in.exception_message);
    w.string(exception);
  }
  w.raw(",\"exception_type\":");
  if (in.success)
    w.null();
  else
    string_or_null(w, in.exception_type);
  w.raw(",\"exception_msg\":");
  if (in.success)
    w.null();
  else
    w.string(in.exception_message); // str(e): "" for an empty message, not None
  w.raw(",\"rpc_chain_error_msg_dict\":null,\"time_start\":");
  w.number(in.time_start);
  w.raw(",\"time_cost\":");
  w.number(std::round((in.time_end - in.time_start) * 10000.0) / 10000.0); // round(x, 4)
  w.raw(",\"time_end\":");
  w.number(in.time_end);
  w.raw(",\"success\":");
  w.boolean(in.success);
  w.raw(",\"run_status\":\"finish\",\"rpc_result_expire_seconds\":");
  w.integer(in.rpc_result_expire_seconds);
  w.raw(",\"user_context\":{},\"params_str\":");
  w.string(params);
  w.raw(",\"total_thread\":");
  w.integer(total_threads());
  w.raw(",\"host_name\":");
  w.string(host_name());
  w.raw(",\"script_name\":");
  w.string(script_name());
  w.raw(",\"script_name_long\":");
  w.string(script_name_long());
  auto inserted = now_text(in.utc_offset_minutes);
  w.raw(",\"insert_time_str\":");
  w.string(inserted);
  w.raw(",\"insert_minutes\":");
  w.string(std::string_view{inserted}.substr(0, inserted.size() - 3)); // "YYYY-MM-DD HH:MM"
  w.raw(",\"_id\":");
  w.string(in.task_id);
  w.raw("}");
  return out;
}

bool parse_status_record(std::string_view record_json, parsed_status& out, std::string& error) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::object record;
  if (auto code = parser.parse(record_json.data(), record_json.size()).get(root)) {
    error = std::string{"not JSON ("} + simdjson::error_message(code) + ")";
    return false;
  }
  if (root.get_object().get(record)) {
    error = "not a JSON object";
    return false;
  }
  bool success = false;
  if (record.at_key("success").get(success)) {
    error = "no bool 'success' (not a funboost status record)";
    return false;
  }
  simdjson::dom::element result;
  if (record.at_key("result").get(result)) {
    error = "no 'result' (not a funboost status record)";
    return false;
  }
  out.success = success;
  out.result_json = simdjson::minify(result);
  out.exception_type.clear();
  out.exception_message.clear();
  if (!success) {
    out.exception_type = optional_string(record, "exception_type");
    out.exception_message = optional_string(record, "exception_msg");
    if (out.exception_type.empty() && out.exception_message.empty())
      out.exception_message = optional_string(record, "exception");
    // funboost also records failures that raised nothing, e.g. a task skipped by its filter.
    if (out.exception_type.empty() && out.exception_message.empty())
      out.exception_message = "the task did not succeed; its result is " + out.result_json;
  }
  return true;
}

} // namespace funboost::detail
