// Reads what funboost logs: every line of every queue logger made after the first
// log_capture exists (a process-wide spdlog sink), as the console and the log file show it.
#pragma once

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/sinks/base_sink.h>

#include "core/log_text.hpp"
#include "core/logging.hpp"

namespace test_support {

class log_capture {
public:
  log_capture() { sink(); }

  /// Every line captured so far, formatted as funboost's sinks write them.
  std::vector<std::string> lines() const {
    auto& s = sink();
    std::lock_guard guard{s.lines_mutex};
    return s.lines;
  }

  /// Lines that contain `text`.
  std::vector<std::string> containing(std::string_view text) const {
    std::vector<std::string> out;
    for (auto& line : lines())
      if (line.find(text) != std::string::npos)
        out.push_back(line);
    return out;
  }

  bool any_contains(std::string_view text) const { return !containing(text).empty(); }

  void clear() {
    auto& s = sink();
    std::lock_guard guard{s.lines_mutex};
    s.lines.clear();
  }

private:
  struct line_sink : spdlog::sinks::base_sink<std::mutex> {
    mutable std::mutex lines_mutex;
    std::vector<std::string> lines;

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      spdlog::memory_buf_t formatted;
      formatter_->format(msg, formatted);
      std::lock_guard guard{lines_mutex};
      lines.emplace_back(formatted.data(), formatted.size());
    }
    void flush_() override {}
  };

  static line_sink& sink() {
    static std::shared_ptr<line_sink> s = [] {
      auto made = std::make_shared<line_sink>();
      funboost::detail::add_log_sink(made);
      return made;
    }();
    return *s;
  }
};

/// True if `text` is valid UTF-8 throughout (what a log file must stay).
inline bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    auto len = funboost::detail::utf8_char_length(text, i);
    if (len == 0)
      return false;
    i += len;
  }
  return true;
}

} // namespace test_support
