// Turns an exception that escaped an actor's handler into an exit reason that keeps its text,
// so the supervisor's log says what went wrong (CAF's default says only "unhandled exception"),
// and keeps apart a broker that refuses our configuration from one that is away.
#pragma once

#include <exception>
#include <string>

#include <caf/error.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/sec.hpp>

#include <funboost/broker.hpp>

namespace funboost::actors {

/// The code of the exit reason of an actor that a broker_config_error ended (a wrong password,
/// a database or vhost that does not exist): the supervisor logs those as configuration errors.
inline constexpr caf::sec config_refused = caf::sec::invalid_argument;

/// The exit reason of an actor that `e` ends: its text, and config_refused for a
/// broker_config_error.
inline caf::error exit_reason_of(const std::exception& e) {
  if (dynamic_cast<const broker_config_error*>(&e) != nullptr)
    return caf::make_error(config_refused, std::string{e.what()});
  return caf::make_error(caf::sec::runtime_error, std::string{e.what()});
}

inline caf::error exit_reason_from_exception(caf::scheduled_actor*, std::exception_ptr& eptr) {
  try {
    std::rethrow_exception(eptr);
  } catch (const broker_config_error& e) {
    return caf::make_error(config_refused, std::string{e.what()});
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error, std::string{e.what()});
  } catch (...) {
    return caf::make_error(caf::sec::runtime_error, std::string{"a non-standard exception"});
  }
}

/// True if `reason` is the exit of an actor that a broker_config_error ended.
inline bool is_config_refusal(const caf::error& reason) {
  return reason.category() == caf::atom("system")
         && reason.code() == static_cast<uint8_t>(config_refused);
}

/// The exception's text that `reason` carries (exit_reason_from_exception), else CAF's
/// rendering of it.
inline std::string reason_text(const caf::error& reason) {
  if (reason.context().match_elements<std::string>())
    return reason.context().get_as<std::string>(0);
  return to_string(reason);
}

} // namespace funboost::actors
