// Now in Unix seconds: the unit of funboost's publish_time, eta, due times and filter scores.
#pragma once

#include <chrono>

namespace funboost::detail {

inline double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace funboost::detail
