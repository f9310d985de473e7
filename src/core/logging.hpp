// spdlog loggers: coloured console plus size-rotated files (the seed's zap + lumberjack).
#pragma once

#include <memory>

#include <spdlog/logger.h>

#include <funboost/options.hpp>

namespace funboost::detail {

/// The logger of one queue ("funboost.{queue}"): console and, if logging.file_dir is set, the
/// rotating file {file_dir}/funboost.log shared by every queue of the process.
std::shared_ptr<spdlog::logger> queue_logger(const booster_options& options);

/// Also sends the lines of every queue logger made from now on to `sink` (tests read what was
/// logged through it; an application could forward the lines elsewhere the same way).
void add_log_sink(spdlog::sink_ptr sink);

} // namespace funboost::detail
