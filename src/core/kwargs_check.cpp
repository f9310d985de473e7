#include "core/kwargs_check.hpp"

#include <algorithm>

#include <simdjson.h>

namespace funboost::detail {

namespace {

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out;
}

} // namespace

std::string check_kwargs(const queue_info& queue, std::string_view kwargs_json) {
  if (queue.arg_names.empty() && queue.optional_arg_names.empty())
    return {};
  simdjson::dom::parser parser;
  simdjson::dom::object kwargs;
  if (parser.parse(kwargs_json.data(), kwargs_json.size()).get(kwargs))
    return {};
  auto signature = "the function " + (queue.function_name.empty() ? queue.queue_name
                                                                   : queue.function_name)
                   + " takes (" + joined(queue.arg_names) + ")";
  for (auto [key, value] : kwargs) {
    (void) value;
    if (key != "extra" && !contains(queue.arg_names, key))
      return "queue '" + queue.queue_name + "': unknown argument '" + std::string{key} + "'; "
             + signature + ". Remove it or fix its name.";
  }
  for (const auto& name : queue.arg_names) {
    if (contains(queue.optional_arg_names, name))
      continue;
    simdjson::dom::element ignored;
    if (kwargs.at_key(name).get(ignored))
      return "queue '" + queue.queue_name + "': missing argument '" + name + "'; " + signature
             + ". Add \"" + name + "\" to the keyword arguments.";
  }
  return {};
}

bool read_signature(std::string_view params_json, queue_info& queue) {
  simdjson::dom::parser parser;
  simdjson::dom::object info;
  if (params_json.empty() || parser.parse(params_json.data(), params_json.size())
                                .at_pointer("/auto_generate_info/final_func_input_params_info")
                                .get(info))
    return false;
  std::vector<std::string> must, optional;
  auto read_list = [&](const char* key, std::vector<std::string>& out) {
    simdjson::dom::array names;
    if (info.at_key(key).get(names))
      return false;
    for (auto n : names) {
      std::string_view name;
      if (!n.get(name))
        out.emplace_back(name);
    }
    return true;
  };
  if (!read_list("must_arg_name_list", must))
    return false;
  read_list("optional_arg_name_list", optional);
  std::string_view func_name;
  if (!info.at_key("func_name").get(func_name))
    queue.function_name.assign(func_name);
  queue.arg_names = must;
  queue.arg_names.insert(queue.arg_names.end(), optional.begin(), optional.end());
  queue.optional_arg_names = optional;
  return true;
}

} // namespace funboost::detail
