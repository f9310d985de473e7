#include "core/outbox.hpp"

#include <filesystem>
#include <fstream>

namespace funboost::detail {

namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in{path};
  for (std::string line; std::getline(in, line);)
    if (!line.empty())
      lines.push_back(std::move(line));
  return lines;
}

} // namespace

outbox::outbox(queue_context_ptr ctx, deliver_fn deliver)
  : ctx_(std::move(ctx)), deliver_(std::move(deliver)) {
  const auto& dir = ctx_->options.broker.outbox_dir;
  path_ = (std::filesystem::path{dir} / (ctx_->queue() + ".outbox")).string();
  thread_ = std::thread([this] { replay_loop(); });
}

outbox::~outbox() {
  {
    std::lock_guard guard{mutex_};
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::string outbox::keep(const std::vector<std::string>& bodies) {
  {
    std::lock_guard guard{mutex_};
    std::filesystem::create_directories(std::filesystem::path{path_}.parent_path());
    std::ofstream out{path_, std::ios::app};
    for (const auto& body : bodies)
      out << body << '\n'; // our JSON has no raw newlines: one message per line
    out.flush();
    if (!out)
      ctx_->log->critical("queue '{}': cannot write the outbox file '{}': {} message(s) could "
                          "not be kept; check the disk and outbox_dir",
                          ctx_->queue(), path_, bodies.size());
  }
  wake_.notify_all();
  return path_;
}

std::size_t outbox::size() {
  std::lock_guard guard{mutex_};
  return read_lines(path_).size();
}

bool outbox::replay_once() {
  std::lock_guard guard{mutex_}; // appends wait: they are failing anyway while we replay
  if (!std::filesystem::exists(path_))
    return true;
  auto lines = read_lines(path_);
  if (!lines.empty()) {
    try {
      deliver_(lines);
    } catch (const std::exception& e) {
      ctx_->log->warn("queue '{}': {} message(s) still in the outbox '{}': {}; next try in {} ms",
                      ctx_->queue(), lines.size(), path_, e.what(),
                      ctx_->options.publish_retry_interval.count());
      return false;
    }
    ctx_->log->info("queue '{}': delivered {} message(s) from the outbox '{}'", ctx_->queue(),
                    lines.size(), path_);
  }
  std::filesystem::remove(path_);
  return true;
}

void outbox::replay_loop() {
  std::unique_lock lock{mutex_};
  while (!stopping_) {
    bool pending = std::filesystem::exists(path_);
    if (pending) {
      lock.unlock();
      pending = !replay_once();
      lock.lock();
    }
    if (stopping_)
      break;
    if (pending)
      wake_.wait_for(lock, ctx_->options.publish_retry_interval);
    else
      wake_.wait(lock, [&] { return stopping_ || std::filesystem::exists(path_); });
  }
}

} // namespace funboost::detail
