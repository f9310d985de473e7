// funboost's status record: what a consumer in RPC mode stores for waiters, key for key as
// Python funboost's FunctionResultStatus.get_status_dict(without_datetime_obj=True), and what
// our waiters read back from records of either side.
#include <doctest/doctest.h>

#include <pthread.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <simdjson.h>

#include <funboost/codec.hpp>

#include "core/status_record.hpp"

namespace {

using funboost::detail::make_status_record;
using funboost::detail::parse_status_record;
using funboost::detail::parsed_status;
using funboost::detail::status_record_input;

constexpr const char* message
  = R"({"x":1,"y":[2,3],"extra":{"task_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b",)"
    R"("is_using_rpc_mode":true,"publish_time":1718000000.1234,)"
    R"("publish_time_format":"2024-06-10 14:13:20"}})";

status_record_input sample(bool success) {
  status_record_input in;
  in.queue_name = "q_add";
  in.function_name = "add";
  in.task_id = "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b";
  in.message_json = message;
  in.success = success;
  in.result_json = success ? R"({"sum":3,"parts":[1,2]})" : "null";
  in.exception_type = success ? "" : "std::runtime_error";
  in.exception_message = success ? "" : "boom \"quoted\"";
  in.run_times = success ? 1 : 3;
  in.time_start = 1718000000.5;
  in.time_end = 1718000001.75;
  in.rpc_result_expire_seconds = 1800;
  return in;
}

/// The keys of a JSON object, in order.
std::vector<std::string> keys_of(simdjson::dom::object obj) {
  std::vector<std::string> out;
  for (auto [k, v] : obj)
    out.emplace_back(k);
  return out;
}

std::string text_of(simdjson::dom::object obj, const char* key) {
  return std::string{simdjson::minify(obj[key])};
}

} // namespace

TEST_CASE("the record has every field funboost writes, in funboost's order") {
  auto record = make_status_record(sample(true));
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  REQUIRE_MESSAGE(!parser.parse(record).get(obj), record);
  // FunctionResultStatus.__init__'s public attributes, then get_status_dict's additions.
  std::vector<std::string> expected{
    "host_process", "queue_name", "function", "msg_dict", "task_id", "publish_time",
    "publish_time_format", "process_id", "thread_id", "params", "result", "run_times",
    "exception", "exception_type", "exception_msg", "rpc_chain_error_msg_dict", "time_start",
    "time_cost", "time_end", "success", "run_status", "rpc_result_expire_seconds",
    "user_context", "params_str", "total_thread", "host_name", "script_name",
    "script_name_long", "insert_time_str", "insert_minutes", "_id"};
  CHECK(keys_of(obj) == expected);
}

TEST_CASE("a success record carries the message, params, result and this process's identity") {
  auto record = make_status_record(sample(true));
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  REQUIRE(!parser.parse(record).get(obj));
  CHECK(text_of(obj, "queue_name") == R"("q_add")");
  CHECK(text_of(obj, "function") == R"("add")");
  CHECK(text_of(obj, "msg_dict") == std::string{message});
  CHECK(text_of(obj, "task_id") == R"("0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b")");
  CHECK(text_of(obj, "_id") == R"("0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b")");
  CHECK(double(obj["publish_time"]) == doctest::Approx(1718000000.1234));
  CHECK(text_of(obj, "publish_time_format") == R"("2024-06-10 14:13:20")");
  CHECK(text_of(obj, "params") == R"({"x":1,"y":[2,3]})");
  CHECK(std::string_view(obj["params_str"]) == R"({"x":1,"y":[2,3]})");
  CHECK(text_of(obj, "result") == R"({"sum":3,"parts":[1,2]})");
  CHECK(bool(obj["success"]) == true);
  CHECK(obj["exception"].is_null());
  CHECK(obj["exception_type"].is_null());
  CHECK(obj["exception_msg"].is_null());
  CHECK(obj["rpc_chain_error_msg_dict"].is_null());
  CHECK(text_of(obj, "user_context") == "{}");
  CHECK(std::string_view(obj["run_status"]) == "finish");
  CHECK(int64_t(obj["run_times"]) == 1);
  CHECK(int64_t(obj["rpc_result_expire_seconds"]) == 1800);
  CHECK(double(obj["time_start"]) == 1718000000.5);
  CHECK(double(obj["time_end"]) == 1718000001.75);
  CHECK(double(obj["time_cost"]) == 1.25);

  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  CHECK(std::string_view(obj["host_name"]) == host);
  CHECK(int64_t(obj["process_id"]) == ::getpid());
  CHECK(std::string_view(obj["host_process"])
        == std::string{host} + " - " + std::to_string(::getpid()));
  CHECK(uint64_t(obj["thread_id"]) == static_cast<uint64_t>(::pthread_self()));
  CHECK(int64_t(obj["total_thread"]) >= 1);
  CHECK(std::string_view(obj["script_name"]) == "test_status_record");
  CHECK(std::string_view(obj["script_name_long"]).ends_with("test_status_record"));
  std::string_view inserted = obj["insert_time_str"];
  CHECK(inserted.size() == 19); // "YYYY-MM-DD HH:MM:SS"
  CHECK(std::string_view(obj["insert_minutes"]) == inserted.substr(0, 16));
}

TEST_CASE("a failure record says FUNC_RUN_ERROR and the exception as funboost formats it") {
  auto record = make_status_record(sample(false));
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  REQUIRE(!parser.parse(record).get(obj));
  CHECK(std::string_view(obj["result"]) == "FUNC_RUN_ERROR");
  CHECK(bool(obj["success"]) == false);
  CHECK(std::string_view(obj["exception"]) == "std::runtime_error    boom \"quoted\"");
  CHECK(std::string_view(obj["exception_type"]) == "std::runtime_error");
  CHECK(std::string_view(obj["exception_msg"]) == "boom \"quoted\"");
  CHECK(int64_t(obj["run_times"]) == 3);
  CHECK(std::string_view(obj["run_status"]) == "finish");
}

TEST_CASE("a void function's success records result null") {
  auto in = sample(true);
  in.result_json = "";
  auto record = make_status_record(in);
  parsed_status s;
  std::string error;
  REQUIRE(parse_status_record(record, s, error));
  CHECK(s.success);
  CHECK(s.result_json == "null");
}

TEST_CASE("a message that is not a JSON object is kept as a string with empty params") {
  auto in = sample(true);
  in.message_json = "not json";
  auto record = make_status_record(in);
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  REQUIRE_MESSAGE(!parser.parse(record).get(obj), record);
  CHECK(std::string_view(obj["msg_dict"]) == "not json");
  CHECK(text_of(obj, "params") == "{}");
  CHECK(obj["publish_time"].is_null());
}

TEST_CASE("round trip: what we write parses back to the same outcome") {
  parsed_status s;
  std::string error;
  REQUIRE(parse_status_record(make_status_record(sample(true)), s, error));
  CHECK(s.success);
  CHECK(s.result_json == R"({"sum":3,"parts":[1,2]})");
  CHECK(s.exception_type.empty());
  CHECK(s.exception_message.empty());

  REQUIRE(parse_status_record(make_status_record(sample(false)), s, error));
  CHECK_FALSE(s.success);
  CHECK(s.result_json == R"("FUNC_RUN_ERROR")");
  CHECK(s.exception_type == "std::runtime_error");
  CHECK(s.exception_message == "boom \"quoted\"");
}

// Shaped exactly as Python funboost 54.8 writes them (orjson, compact): the consumer's
// _set_rpc_result LPUSHes get_status_dict(without_datetime_obj=True).
TEST_CASE("a Python funboost success record parses; from_json reads its result") {
  std::string record
    = R"({"host_process":"worker-1 - 4242","queue_name":"test_queue","function":"add",)"
      R"("msg_dict":{"a":1,"b":2,"extra":{"task_id":"0195c7a8-1d2e-7f3a-9b4c-5d6e7f8a9b0c",)"
      R"("publish_time":1742600000.1234,"publish_time_format":"2025-03-22 07:33:20"}},)"
      R"("task_id":"0195c7a8-1d2e-7f3a-9b4c-5d6e7f8a9b0c","publish_time":1742600000.1234,)"
      R"("publish_time_format":"2025-03-22 07:33:20","process_id":4242,)"
      R"("thread_id":140234567890432,"params":{"a":1,"b":2},"result":3,"run_times":1,)"
      R"("exception":null,"exception_type":null,"exception_msg":null,)"
      R"("rpc_chain_error_msg_dict":null,"time_start":1742600000.2345678,"time_cost":0.0012,)"
      R"("time_end":1742600000.2357678,"success":true,"run_status":"finish",)"
      R"("rpc_result_expire_seconds":1800,"user_context":{},"params_str":"{\"a\":1,\"b\":2}",)"
      R"("total_thread":7,"host_name":"worker-1","script_name":"consume.py",)"
      R"("script_name_long":"/srv/app/consume.py","insert_time_str":"2025-03-22 07:33:20",)"
      R"("insert_minutes":"2025-03-22 07:33","_id":"0195c7a8-1d2e-7f3a-9b4c-5d6e7f8a9b0c"})";
  parsed_status s;
  std::string error;
  REQUIRE_MESSAGE(parse_status_record(record, s, error), error);
  CHECK(s.success);
  CHECK(funboost::from_json<int>(s.result_json) == 3);
}

TEST_CASE("a Python funboost failure record parses with its exception type and message") {
  std::string record
    = R"({"host_process":"worker-1 - 4242","queue_name":"test_queue","function":"div",)"
      R"("msg_dict":{"a":1,"b":0,"extra":{"task_id":"0195c7a8-1d2e-7f3a-9b4c-5d6e7f8a9b0d",)"
      R"("publish_time":1742600000.1234,"publish_time_format":"2025-03-22 07:33:20"}},)"
      R"("task_id":"0195c7a8-1d2e-7f3a-9b4c-5d6e7f8a9b0d","publish_time":1742600000.1234,)"
      R"("publish_time_format":"2025-03-22 07:33:20","process_id":4242,)"
      R"("thread_id":140234567890432,"params":{"a":1,"b":0},"result":"FUNC_RUN_ERROR",)"
      R"("run_times":3,"exception":"ZeroDivisionError    division by zero",)"
      R"("exception_type":"ZeroDivisionError","exception_msg":"division by zero",)"
      R"("rpc_chain_error_msg_dict":null,"time_start":1742600000.2345678,"time_cost":0.0031,)"
      R"("time_end":1742600000.2376678,"success":false,"run_status":"finish",)"
      R"("rpc_result_expire_seconds":1800,"user_context":{},"params_str":"{\"a\":1,\"b\":0}",)"
      R"("total_thread":7,"host_name":"worker-1","script_name":"consume.py",)"
      R"("script_name_long":"/srv/app/consume.py","insert_time_str":"2025-03-22 07:33:20",)"
      R"("insert_minutes":"2025-03-22 07:33","_id":"0195c7a8-1d2e-7f3a-9b4c-5d6e7f8a9b0d"})";
  parsed_status s;
  std::string error;
  REQUIRE_MESSAGE(parse_status_record(record, s, error), error);
  CHECK_FALSE(s.success);
  CHECK(s.result_json == R"("FUNC_RUN_ERROR")");
  CHECK(s.exception_type == "ZeroDivisionError");
  CHECK(s.exception_message == "division by zero");
}

TEST_CASE("a failure that raised nothing (funboost's filtered task) still explains itself") {
  parsed_status s;
  std::string error;
  REQUIRE(parse_status_record(
    R"({"result":"filtered_task_result","success":false,"exception":null,)"
    R"("exception_type":null,"exception_msg":null})",
    s, error));
  CHECK_FALSE(s.success);
  CHECK(s.exception_message.find("filtered_task_result") != std::string::npos);
}

TEST_CASE("input that is not a status record is refused with the reason") {
  parsed_status s;
  std::string error;
  CHECK_FALSE(parse_status_record("not json", s, error));
  CHECK(error.find("not JSON") != std::string::npos);
  CHECK_FALSE(parse_status_record("", s, error));
  CHECK(error.find("not JSON") != std::string::npos);
  CHECK_FALSE(parse_status_record("[1,2]", s, error));
  CHECK(error.find("not a JSON object") != std::string::npos);
  CHECK_FALSE(parse_status_record(R"({"result":1})", s, error));
  CHECK(error.find("success") != std::string::npos);
  CHECK_FALSE(parse_status_record(R"({"success":"yes","result":1})", s, error));
  CHECK(error.find("success") != std::string::npos);
  CHECK_FALSE(parse_status_record(R"({"success":true})", s, error));
  CHECK(error.find("result") != std::string::npos);
}
