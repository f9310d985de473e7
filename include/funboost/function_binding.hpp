// Turns any C++ callable into the one uniform callable a worker runs: it decodes the message's
// arguments by name into the parameter types, calls the function and encodes the result.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <funboost/codec.hpp>

namespace funboost {

/// What one call of the user's function gave.
struct call_outcome {
  bool ok = false;
  std::string result_json;       // the return value as JSON ("null" for void)
  std::string exception_type;    // set when !ok
  std::string exception_message; // set when !ok
  // What the function asked for by what it threw (funboost/task_exceptions.hpp).
  enum class request : uint8_t { none, requeue, dead_letter } asked = request::none;
};

/// Runs a task from its message's JSON object. Throws decode_error when an argument is
/// missing, has the wrong type or names no parameter (the message is bad, not the function). Exceptions the user's
/// function throws come back as !ok. Anything else that escapes (e.g. a result that cannot be
/// encoded) is a crash of the worker running it.
using task_function = std::function<call_outcome(simdjson::dom::object message)>;

namespace detail {
/// Fills type, message and what it asks for from the exception being handled; call inside a
/// catch block.
void describe_current_exception(call_outcome& out);

template <class T>
T decode_argument(simdjson::dom::object message, const std::string& name) {
  simdjson::dom::element value;
  if (message.at_key(name).get(value)) {
    if constexpr (is_optional<T>::value)
      return T{};
    else
      throw decode_error(name, type_name<T>(), "no such key");
  }
  T out{};
  decode(value, name, out);
  return out;
}
} // namespace detail

/// The default argument names: arg0, arg1, ...
inline std::vector<std::string> default_arg_names(std::size_t count) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < count; ++i)
    names.push_back("arg" + std::to_string(i));
  return names;
}

namespace detail {
/// Every key but "extra" must name a parameter, as in funboost (a keyword argument the
/// function does not take fails the task there).
inline void reject_unknown_arguments(simdjson::dom::object message,
                                     const std::vector<std::string>& names) {
  for (auto [key, value] : message) {
    (void) value;
    if (key == "extra")
      continue;
    bool known = false;
    for (const auto& name : names)
      known = known || name == key;
    if (!known)
      throw decode_error::unknown_argument(std::string{key}, names);
  }
}

template <class R, class... Args, class F, std::size_t... I>
call_outcome call_with_message(F& fn, const std::vector<std::string>& names,
                               simdjson::dom::object message, std::index_sequence<I...>) {
  reject_unknown_arguments(message, names);
  std::tuple<std::decay_t<Args>...> args{decode_argument<std::decay_t<Args>>(message, names[I])...};
  call_outcome out;
  if constexpr (std::is_void_v<R>) {
    try {
      std::apply(fn, std::move(args));
    } catch (...) {
      describe_current_exception(out);
      return out;
    }
    out.result_json = "null";
  } else {
    std::optional<std::decay_t<R>> result;
    try {
      result.emplace(std::apply(fn, std::move(args)));
    } catch (...) {
      describe_current_exception(out);
      return out;
    }
    out.result_json = to_json(*result); // outside the try: a codec failure is a crash
  }
  out.ok = true;
  return out;
}
} // namespace detail

/// Binds `fn`, whose signature is R(Args...), to argument names (one per parameter).
template <class R, class... Args, class F>
task_function bind_function(F fn, std::vector<std::string> names) {
  return [fn = std::move(fn), names = std::move(names)](simdjson::dom::object message) mutable {
    return detail::call_with_message<R, Args...>(fn, names, message,
                                                 std::index_sequence_for<Args...>{});
  };
}

// -- signature deduction for boost(fn, ...) -----------------------------------------------

template <class T>
struct signature_of : signature_of<decltype(&T::operator())> {};
template <class R, class... Args>
struct signature_of<R (*)(Args...)> {
  using type = R(Args...);
};
template <class R, class... Args>
struct signature_of<R(Args...)> {
  using type = R(Args...);
};
template <class R, class... Args>
struct signature_of<std::function<R(Args...)>> {
  using type = R(Args...);
};
template <class C, class R, class... Args>
struct signature_of<R (C::*)(Args...) const> {
  using type = R(Args...);
};
template <class C, class R, class... Args>
struct signature_of<R (C::*)(Args...)> {
  using type = R(Args...);
};

} // namespace funboost
