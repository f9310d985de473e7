#include "core/message_peek.hpp"

#include <simdjson.h>

namespace funboost::detail {

std::string task_id_of(std::string_view body) {
  simdjson::dom::parser parser; // a rare path: a parser of its own is fine
  std::string_view id;
  if (parser.parse(body.data(), body.size())["extra"]["task_id"].get(id))
    return "(unknown)";
  return std::string{id};
}

} // namespace funboost::detail
