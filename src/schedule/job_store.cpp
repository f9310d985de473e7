#include "schedule/job_store.hpp"

#include <map>
#include <mutex>
#include <stdexcept>

#include <simdjson.h>

#include <funboost/codec.hpp>

namespace funboost::schedule {

namespace {

std::mutex registry_mutex;
std::map<std::string, job_store_factory>& registry() {
  static std::map<std::string, job_store_factory> factories;
  return factories;
}

int64_t micros_of(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point time_of(int64_t micros) {
  return std::chrono::system_clock::time_point{std::chrono::microseconds(micros)};
}

const char* kind_name(scheduled_job::kind k) {
  switch (k) {
    case scheduled_job::kind::interval:
      return "interval";
    case scheduled_job::kind::date:
      return "date";
    case scheduled_job::kind::cron:
      return "cron";
  }
  return "interval";
}

} // namespace

void register_job_store(const std::string& scheme, job_store_factory factory) {
  std::lock_guard guard{registry_mutex};
  registry()[scheme] = std::move(factory);
}

std::unique_ptr<job_store> make_job_store(const std::string& url) {
  auto scheme = url.substr(0, url.find(':'));
  job_store_factory factory;
  {
    std::lock_guard guard{registry_mutex};
    if (auto i = registry().find(scheme); i != registry().end())
      factory = i->second;
  }
  if (!factory)
    throw std::invalid_argument("job store '" + scheme + ":...': unknown scheme; use "
                                "sqlite:PATH (a local file) or redis://host:port/db");
  return factory(url);
}

std::string job_json(const scheduled_job& job) {
  std::string out;
  json_writer w{out};
  const auto& o = job.options;
  out += '{';
  w.key("id");
  w.string(job.id);
  out += ",";
  w.key("queue_name");
  w.string(job.queue_name);
  out += ",";
  w.key("kwargs");
  w.string(job.kwargs_json);
  out += ",";
  w.key("trigger");
  w.string(kind_name(job.trigger));
  out += ",";
  w.key("interval_seconds");
  w.number(job.interval_seconds);
  out += ",";
  w.key("start_us");
  w.integer(micros_of(job.start));
  out += ",";
  w.key("cron");
  w.string(job.cron);
  out += ",";
  w.key("time_zone");
  w.string(job.time_zone);
  out += ",";
  w.key("max_retry_times");
  w.integer(o.max_retry_times);
  out += ",";
  w.key("is_using_rpc_mode");
  w.boolean(o.is_using_rpc_mode);
  out += ",";
  w.key("msg_expire_seconds");
  w.number(o.msg_expire_seconds);
  out += ",";
  w.key("countdown");
  w.number(o.countdown);
  out += ",";
  w.key("misfire_grace_time");
  w.number(o.misfire_grace_time);
  out += ",";
  w.key("do_task_filtering");
  w.boolean(o.do_task_filtering);
  out += ",";
  w.key("filter_str");
  w.string(o.filter_str);
  out += '}';
  return out;
}

scheduled_job job_from_json(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(json.data(), json.size()).get(o))
    throw std::invalid_argument("a scheduled job that is not a JSON object: "
                                + std::string{json.substr(0, 200)});
  scheduled_job job;
  std::string_view text;
  auto str = [&](const char* key, std::string& out) {
    if (!o[key].get(text))
      out.assign(text);
  };
  str("id", job.id);
  str("queue_name", job.queue_name);
  str("kwargs", job.kwargs_json);
  str("cron", job.cron);
  str("time_zone", job.time_zone);
  str("filter_str", job.options.filter_str);
  if (!o["trigger"].get(text))
    job.trigger = text == "date"   ? scheduled_job::kind::date
                  : text == "cron" ? scheduled_job::kind::cron
                                   : scheduled_job::kind::interval;
  double d;
  if (!o["interval_seconds"].get(d))
    job.interval_seconds = d;
  if (!o["msg_expire_seconds"].get(d))
    job.options.msg_expire_seconds = d;
  if (!o["countdown"].get(d))
    job.options.countdown = d;
  if (!o["misfire_grace_time"].get(d))
    job.options.misfire_grace_time = d;
  int64_t i;
  if (!o["start_us"].get(i))
    job.start = time_of(i);
  if (!o["max_retry_times"].get(i))
    job.options.max_retry_times = static_cast<int>(i);
  bool b;
  if (!o["is_using_rpc_mode"].get(b))
    job.options.is_using_rpc_mode = b;
  if (!o["do_task_filtering"].get(b))
    job.options.do_task_filtering = b;
  if (job.id.empty() || job.queue_name.empty())
    throw std::invalid_argument("a scheduled job without id or queue_name: "
                                + std::string{json.substr(0, 200)});
  return job;
}

} // namespace funboost::schedule
