#include "core/outbox.hpp"

#include <filesystem>
#include <fstream>

namespace funboost::detail {

outbox::outbox(queue_context_ptr ctx) : ctx_(std::move(ctx)) {
  const auto& dir = ctx_->options.broker.outbox_dir;
  path_ = (std::filesystem::path{dir} / (ctx_->queue() + ".outbox")).string();
}

std::string outbox::keep(const std::vector<std::string>& bodies) {
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path{path_}.parent_path(), ignored);
  std::ofstream out{path_, std::ios::app};
  for (const auto& body : bodies)
    out << body << '\n'; // our JSON has no raw newlines: one message per line
  out.flush();
  if (!out)
    ctx_->log->critical("queue '{}': cannot write the outbox file '{}': {} message(s) could "
                        "not be kept; check the disk and outbox_dir",
                        ctx_->queue(), path_, bodies.size());
  return path_;
}

std::vector<std::string> outbox::read_all() const {
  std::vector<std::string> lines;
  std::ifstream in{path_};
  for (std::string line; std::getline(in, line);)
    if (!line.empty())
      lines.push_back(std::move(line));
  return lines;
}

void outbox::remove() {
  std::error_code ignored;
  std::filesystem::remove(path_, ignored);
}

bool outbox::empty() const {
  std::error_code ignored;
  return !std::filesystem::exists(path_, ignored);
}

} // namespace funboost::detail
