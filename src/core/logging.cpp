#include "core/logging.hpp"

#include <filesystem>
#include <map>
#include <mutex>
#include <vector>

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace funboost::detail {

namespace {

spdlog::level::level_enum to_spdlog(log_level level) {
  switch (level) {
    case log_level::trace:
      return spdlog::level::trace;
    case log_level::debug:
      return spdlog::level::debug;
    case log_level::info:
      return spdlog::level::info;
    case log_level::warn:
      return spdlog::level::warn;
    case log_level::error:
      return spdlog::level::err;
    case log_level::off:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

/// Sinks are shared: one console, one rotating file per directory, for the whole process.
struct shared_sinks {
  std::mutex mutex;
  spdlog::sink_ptr console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  std::map<std::string, spdlog::sink_ptr> files;
  std::vector<spdlog::sink_ptr> extra; // add_log_sink

  static shared_sinks& instance() {
    static shared_sinks sinks;
    return sinks;
  }

  spdlog::sink_ptr file(const logging_options& opts) {
    std::lock_guard guard{mutex};
    auto& sink = files[opts.file_dir];
    if (!sink) {
      std::filesystem::create_directories(opts.file_dir);
      sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        opts.file_dir + "/funboost.log", opts.max_file_bytes, opts.max_files);
    }
    return sink;
  }
};

} // namespace

std::shared_ptr<spdlog::logger> queue_logger(const booster_options& options) {
  auto& sinks = shared_sinks::instance();
  std::vector<spdlog::sink_ptr> used{sinks.console};
  if (!options.logging.file_dir.empty())
    used.push_back(sinks.file(options.logging));
  {
    std::lock_guard guard{sinks.mutex};
    used.insert(used.end(), sinks.extra.begin(), sinks.extra.end());
  }
  auto log = std::make_shared<spdlog::logger>("funboost." + options.queue_name, used.begin(),
                                              used.end());
  log->set_level(to_spdlog(options.logging.level));
  log->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v");
  log->flush_on(spdlog::level::warn);
  return log;
}

void add_log_sink(spdlog::sink_ptr sink) {
  auto& sinks = shared_sinks::instance();
  std::lock_guard guard{sinks.mutex};
  sinks.extra.push_back(std::move(sink));
}

} // namespace funboost::detail
