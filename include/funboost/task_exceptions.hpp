// Exceptions a task function throws to tell the queue what to do with its message, as
// funboost's ExceptionForRequeue and ExceptionForPushToDlxqueue do. Any other exception is a
// failure, retried up to max_retries.
#pragma once

#include <stdexcept>

namespace funboost {

/// The message goes back to its queue to run again later (a database in maintenance, a
/// resource not ready yet). Not counted as a retry; it goes back after a short pause
/// (requeue_pause in the dispatcher), so a function that always requeues does not spin.
class requeue_task : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The message goes to {queue}_dlx at once, with what() as its extra.dead_letter_reason, and
/// is not retried (input that will never work).
class dead_letter : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

} // namespace funboost
