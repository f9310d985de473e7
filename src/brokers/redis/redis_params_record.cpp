#include "brokers/redis/redis_params_record.hpp"

#include <cmath>

#include <unistd.h>

#include <algorithm>
#include <vector>

#include <funboost/codec.hpp>

#include "brokers/redis/redis_consumer_id.hpp"

namespace funboost::brokers::redis {

namespace {

/// Python logging's numeric levels, which BoosterParams.log_level holds.
int python_log_level(log_level level) {
  switch (level) {
  case log_level::trace:
  case log_level::debug: return 10;
  case log_level::info: return 20;
  case log_level::warn: return 30;
  case log_level::error: return 40;
  case log_level::off: return 50;
  }
  return 20;
}

/// Writes `"name":` before each value, with the commas between.
class record_writer {
public:
  explicit record_writer(std::string& out) : w_(out) {}
  json_writer& field(const char* name) {
    if (!first_)
      w_.raw(",");
    first_ = false;
    w_.key(name);
    return w_;
  }
  void list(const char* name, const std::vector<std::string>& items) {
    field(name).raw("[");
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i)
        w_.raw(",");
      w_.string(items[i]);
    }
    w_.raw("]");
  }
  void open(const char* name) {
    field(name).raw("{");
    first_ = true;
  }
  void close() {
    w_.raw("}");
    first_ = false;
  }

private:
  json_writer w_;
  bool first_ = true;
};

} // namespace

std::string params_record(const booster_options& o, const std::string& funboost_kind,
                          params_writer writer) {
  bool consumer = writer == params_writer::consumer;
  const std::string& function = o.function_name.empty() ? o.queue_name : o.function_name;
  std::vector<std::string> must, optional;
  if (consumer) {
    for (const auto& name : o.arg_names)
      (std::find(o.optional_arg_names.begin(), o.optional_arg_names.end(), name)
           == o.optional_arg_names.end()
         ? must
         : optional)
        .push_back(name);
  }
  std::vector<std::string> all = must;
  all.insert(all.end(), optional.begin(), optional.end());
  // What str(function) is in Python; funboost's faas replaces it with a stand-in function.
  std::string described = consumer ? "<C++ function " + function + ">" : std::string{};

  std::string out{"{"};
  record_writer r{out};
  r.field("queue_name").string(o.queue_name);
  r.field("broker_kind").string(funboost_kind);
  r.field("project_name").null();
  r.field("concurrent_mode").string("threading"); // workers are threads
  r.field("concurrent_num").integer(o.concurrent_num);
  r.field("specify_concurrent_pool").null();
  r.field("specify_async_loop").null();
  r.field("is_auto_start_specify_async_loop_in_child_thread").boolean(true);
  if (o.qps > 0)
    r.field("qps").number(o.qps);
  else
    r.field("qps").null();
  r.field("is_using_distributed_frequency_control").boolean(false);
  r.field("is_send_consumer_heartbeat_to_redis").boolean(true); // every Redis kind does
  r.field("max_retry_times").integer(o.max_retries);
  // retry_delay is a fixed pause that holds the task without a worker: funboost's "requeue"
  // retry mode with a multiplier of 1.
  bool delayed_retry = o.retry_delay.count() > 0;
  r.field("is_using_advanced_retry").boolean(delayed_retry);
  r.open("advanced_retry_config");
  r.field("retry_mode").string(delayed_retry ? "requeue" : "sleep");
  if (delayed_retry) {
    r.field("retry_base_interval").number(static_cast<double>(o.retry_delay.count()) / 1000.0);
    r.field("retry_multiplier").number(o.retry_multiplier);
    r.field("retry_max_interval").number(static_cast<double>(o.retry_delay_max.count()) / 1000.0);
  } else {
    r.field("retry_base_interval").raw("1.0");
    r.field("retry_multiplier").raw("2.0");
    r.field("retry_max_interval").raw("60.0");
  }
  r.field("retry_jitter").boolean(false);
  r.close();
  r.field("is_push_to_dlx_queue_when_retry_max_times").boolean(o.dead_letter_on_failure);
  r.field("consuming_function_decorator").null();
  if (o.function_timeout > 0)
    r.field("function_timeout").number(o.function_timeout);
  else
    r.field("function_timeout").null(); // funboost's None: no limit
  r.field("is_support_remote_kill_task").boolean(false);
  r.field("log_level").integer(python_log_level(o.logging.level));
  r.field("logger_prefix").string("");
  r.field("create_logger_file").boolean(!o.logging.file_dir.empty());
  r.field("logger_name").string("");
  r.field("log_filename").null();
  r.field("is_show_message_get_from_broker").boolean(false);
  r.field("is_print_detail_exception").boolean(true);
  r.field("publish_msg_log_use_full_msg").boolean(false);
  if (o.msg_expire_seconds > 0)
    r.field("msg_expire_seconds").number(o.msg_expire_seconds);
  else
    r.field("msg_expire_seconds").null(); // funboost's None: never
  r.field("do_task_filtering").boolean(o.do_task_filtering);
  // funboost's is an int; whole seconds are written as one, so its tools read the same type.
  if (auto e = o.task_filtering_expire_seconds; e == std::floor(e) && e < 1e15)
    r.field("task_filtering_expire_seconds").integer(static_cast<long long>(e));
  else
    r.field("task_filtering_expire_seconds").number(e);
  r.open("function_result_status_persistance_conf");
  r.field("is_save_status").boolean(false);
  r.field("is_save_result").boolean(false);
  r.field("expire_seconds").integer(7 * 24 * 3600);
  r.field("is_use_bulk_insert").boolean(false);
  r.field("table_name").string(o.queue_name);
  r.close();
  r.field("user_custom_record_process_info_func").null();
  r.field("is_using_rpc_mode").boolean(o.is_using_rpc_mode);
  r.field("rpc_result_expire_seconds").integer(o.rpc_result_expire.count());
  r.field("rpc_timeout").integer(1800);
  r.field("delay_task_apscheduler_jobstores_kind").string("redis");
  r.field("allow_run_time_cron").null();
  r.field("schedule_tasks_on_main_thread").boolean(false);
  r.field("is_auto_start_consuming_message").boolean(false);
  r.field("booster_group").null();
  if (consumer) {
    r.field("consuming_function").string(described);
    r.field("consuming_function_raw").string(described);
  } else {
    r.field("consuming_function").null();
    r.field("consuming_function_raw").null();
  }
  r.field("consuming_function_name").string(function);
  r.open("broker_exclusive_config");
  if (funboost_kind == "REDIS_STREAM")
    r.field("group").string("funboost_group");
  r.field("pull_msg_batch_size").integer(1000); // the fetcher's largest batch
  r.close();
  // funboost checks a publish against the signature; a publisher that does not know it must
  // not make funboost's tools reject every call.
  r.field("should_check_publish_func_params").boolean(consumer);
  // A C++ function's parameter names are declared (arg_names), never read from its source.
  r.open("manual_func_input_params");
  r.field("is_manual_func_input_params").boolean(consumer);
  r.list("must_arg_name_list", must);
  r.list("optional_arg_name_list", optional);
  r.close();
  r.field("consumer_override_cls").null();
  r.field("publisher_override_cls").null();
  r.field("consuming_function_kind").string("COMMON_FUNCTION");
  r.field("user_options").raw("{}");
  r.open("auto_generate_info");
  r.field("where_to_instantiate")
    .string("funboost-cpp on " + host_name() + " (pid " + std::to_string(getpid()) + ")");
  r.open("final_func_input_params_info");
  r.field("func_name").string(function);
  r.field("func_position").string(described);
  r.field("is_manual_func_input_params").boolean(consumer);
  r.list("all_arg_name_list", all);
  r.list("must_arg_name_list", must);
  r.list("optional_arg_name_list", optional);
  r.close();
  r.close();
  r.field("is_fake_booster").boolean(false);
  r.field("booster_registry_name").string("booster_registry_default");
  out += "}";
  return out;
}

} // namespace funboost::brokers::redis
