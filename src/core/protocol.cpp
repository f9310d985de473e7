// The protocol's registration: one call for a host application's actor system config.
#include <funboost/protocol.hpp>

#include <caf/actor_system_config.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/message.hpp>

namespace funboost {

std::string to_string(ec code) {
  switch (code) {
    case ec::none:
      return "none";
    case ec::bad_message:
      return "bad_message";
    case ec::kept_in_outbox:
      return "kept_in_outbox";
    case ec::broker_unreachable:
      return "broker_unreachable";
    case ec::queue_stopped:
      return "queue_stopped";
    case ec::unknown_queue:
      return "unknown_queue";
    case ec::timeout:
      return "timeout";
    case ec::cancelled:
      return "cancelled";
    case ec::publish_only:
      return "publish_only";
    case ec::interrupted:
      return "interrupted";
    case ec::no_scheduler:
      return "no_scheduler";
    case ec::unknown_job:
      return "unknown_job";
  }
  return "unknown funboost error code " + std::to_string(static_cast<int>(code));
}

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::funboost>();
  // (CAF 0.17.6's add_error_category<T> does not compile: give the renderer ourselves.)
  cfg.add_error_category(caf::atom("funboost"),
                         [](uint8_t code, caf::atom_value, const caf::message& context) {
                           auto text = "funboost::" + to_string(static_cast<ec>(code));
                           if (context.match_elements<std::string>())
                             text += ": " + context.get_as<std::string>(0);
                           else if (!context.empty())
                             text += ": " + caf::deep_to_string(context);
                           return text;
                         });
}

} // namespace funboost
