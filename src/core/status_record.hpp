// funboost's status record: the JSON object a consumer in RPC mode stores under the task id
// (LPUSH {task_id} record + EXPIRE, results db) once a task finishes for good, and that every
// waiter, Python or C++, reads. Field set and order are those of Python funboost's
// FunctionResultStatus.get_status_dict(without_datetime_obj=True) (funboost/core/
// function_result_status_saver.py), as its consumer writes it (funboost/consumers/
// base_consumer.py, _set_rpc_result). See docs/WIRE.md, "RPC results".
#pragma once

#include <string>
#include <string_view>

namespace funboost::detail {

struct status_record_input {
  std::string_view queue_name;
  std::string_view function_name;
  std::string_view task_id;
  std::string_view message_json;      // the whole message as fetched: msg_dict; params = its keys minus "extra"
  bool success = false;
  std::string_view result_json;       // the function's result as JSON text ("" = null); ignored on failure
  std::string_view exception_type;    // e.g. "std::runtime_error"; empty on success
  std::string_view exception_message;
  int run_times = 1;
  double time_start = 0, time_end = 0; // Unix seconds
  int rpc_result_expire_seconds = 1800; // funboost's waiter re-expires the key with it: required
  int utc_offset_minutes = 480;       // insert_time_str's zone (funboost: Asia/Shanghai)
};

/// The record, compact JSON, every field funboost writes in its order, with this process's true
/// host_name, process_id, thread_id (the calling thread), script_name and total_thread.
/// On failure `result` is "FUNC_RUN_ERROR" and `exception` is "{type}    {message}" (four
/// spaces), as funboost writes them. A message that is not a JSON object is kept as a string
/// in msg_dict, with empty params.
std::string make_status_record(const status_record_input& in);

struct parsed_status {
  bool success = false;
  std::string result_json;        // JSON text of `result`: from_json<R> reads it
  std::string exception_type;
  std::string exception_message;
};

/// Parses a record written by funboost-cpp or Python funboost. false + `error` (what is wrong,
/// without the record) when it is not one: not JSON, not an object, no bool `success`, no
/// `result`.
bool parse_status_record(std::string_view record_json, parsed_status& out, std::string& error);

} // namespace funboost::detail
