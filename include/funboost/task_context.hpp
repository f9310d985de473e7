// What a task function can ask about the task it runs, from inside the function.
//
// C++ cannot interrupt a thread. When a task passes its function_timeout (or a stop gives up
// waiting for it), the queue asks the function to stop through a cooperative token and lets
// its worker thread go; the function keeps running until it returns. A function that may run
// long should poll the token and return (or throw) when asked:
//
//   auto crawl = [](std::string url) {
//     for (auto& page : pages_of(url)) {
//       if (funboost::stop_requested())
//         throw std::runtime_error("asked to stop");  // its outcome is discarded anyway
//       fetch(page);
//     }
//   };
//
// or wait with it: std::condition_variable_any::wait(lock, funboost::current_stop_token(), pred).
// With booster_options::process_isolation the function runs in a child process that is killed
// instead, and the token there never fires.
#pragma once

#include <stop_token>

namespace funboost {

/// True once the queue asked the running task to stop: its function_timeout passed, or a
/// graceful stop gave up waiting for it (stop_timeout). False outside a task function.
bool stop_requested() noexcept;

/// The running task's stop token, for waits that take one (std::condition_variable_any,
/// std::stop_callback). Outside a task function (and in a process-isolated child) an empty
/// token: stop_possible() is false.
std::stop_token current_stop_token() noexcept;

} // namespace funboost
