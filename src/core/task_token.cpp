#include "core/task_token.hpp"

#include <utility>

#include <funboost/task_context.hpp>

namespace funboost {

namespace {
thread_local std::stop_token current_token; // empty outside a task function
} // namespace

bool stop_requested() noexcept {
  return current_token.stop_requested();
}

std::stop_token current_stop_token() noexcept {
  return current_token;
}

namespace detail {

task_token_scope::task_token_scope(std::stop_token token) noexcept
  : previous_(std::exchange(current_token, std::move(token))) {}

task_token_scope::~task_token_scope() {
  current_token = std::move(previous_);
}

} // namespace detail

} // namespace funboost
