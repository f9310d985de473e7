// The worker's side of funboost/task_context.hpp: installs the running batch's stop token in
// the worker thread's thread_local slot while the user's function may run.
#pragma once

#include <stop_token>

namespace funboost::detail {

/// Makes `token` the one funboost::stop_requested() reads on this thread, for this scope.
class task_token_scope {
public:
  explicit task_token_scope(std::stop_token token) noexcept;
  ~task_token_scope();
  task_token_scope(const task_token_scope&) = delete;
  task_token_scope& operator=(const task_token_scope&) = delete;

private:
  std::stop_token previous_;
};

} // namespace funboost::detail
