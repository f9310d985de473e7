// Turns an exception that escaped an actor's handler into an exit reason that keeps its text,
// so the supervisor's log says what went wrong (CAF's default says only "unhandled exception").
#pragma once

#include <exception>
#include <string>

#include <caf/error.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/sec.hpp>

namespace funboost::actors {

inline caf::error exit_reason_from_exception(caf::scheduled_actor*, std::exception_ptr& eptr) {
  try {
    std::rethrow_exception(eptr);
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error, std::string{e.what()});
  } catch (...) {
    return caf::make_error(caf::sec::runtime_error, std::string{"a non-standard exception"});
  }
}

/// The exception's text that `reason` carries (exit_reason_from_exception), else CAF's
/// rendering of it.
inline std::string reason_text(const caf::error& reason) {
  if (reason.context().match_elements<std::string>())
    return reason.context().get_as<std::string>(0);
  return to_string(reason);
}

} // namespace funboost::actors
