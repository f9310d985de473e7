#include "core/push_pipeline.hpp"

#include <iterator>

namespace funboost::detail {

bool push_pipeline::add(std::vector<std::string>& bodies, std::vector<std::string>& task_ids,
                        const std::vector<std::shared_ptr<result_slot>>& slots) {
  std::unique_lock lock{mutex_};
  // Backpressure: a pusher faster than the broker waits here instead of filling memory. A
  // batch larger than the bound on its own is let through when nothing else waits.
  changed_.wait(lock, [&] {
    return pending_.bodies.size() + in_flight_ == 0
           || pending_.bodies.size() + in_flight_ + bodies.size() <= max_pending_;
  });
  if (pending_.empty()) {
    pending_.bodies = std::move(bodies);
    pending_.task_ids = std::move(task_ids);
    pending_.slots = slots;
  } else {
    pending_.bodies.insert(pending_.bodies.end(), std::make_move_iterator(bodies.begin()),
                           std::make_move_iterator(bodies.end()));
    pending_.task_ids.insert(pending_.task_ids.end(), std::make_move_iterator(task_ids.begin()),
                             std::make_move_iterator(task_ids.end()));
    pending_.slots.insert(pending_.slots.end(), slots.begin(), slots.end());
  }
  bool wake = !feeding_;
  feeding_ = true;
  return wake;
}

push_pipeline::batch push_pipeline::take() {
  std::lock_guard guard{mutex_};
  batch out;
  std::swap(out, pending_);
  in_flight_ += out.bodies.size();
  if (out.empty() && in_flight_ == 0) {
    feeding_ = false;
    changed_.notify_all(); // flush() waits for this
  }
  return out;
}

void push_pipeline::answered(std::size_t count) {
  {
    std::lock_guard guard{mutex_};
    in_flight_ -= count;
  }
  changed_.notify_all();
}

void push_pipeline::flush() {
  std::unique_lock lock{mutex_};
  changed_.wait(lock, [&] { return !feeding_; });
}

} // namespace funboost::detail
