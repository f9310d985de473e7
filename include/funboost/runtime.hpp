// The runtime: owns a caf::actor_system (or borrows yours) and the boosters made with it.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <funboost/booster.hpp>
#include <funboost/function_binding.hpp>
#include <funboost/options.hpp>

namespace funboost {

namespace detail {
std::shared_ptr<booster_core> make_booster_core(caf::actor_system& system,
                                                booster_options options, task_function fn,
                                                std::size_t arity);
} // namespace detail

class runtime {
public:
  /// Owns a new actor system configured from the command line (CAF's --caf.* options).
  runtime(int argc, char** argv);
  runtime();
  /// Borrows `system`, e.g. inside your own CAF application. It must outlive the runtime.
  explicit runtime(caf::actor_system& system);
  /// Stops every booster gracefully, then the actor system if it is ours.
  ~runtime();

  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// Gives `fn` a task queue. The signature is deduced for functions, lambdas and
  /// std::function; name it for anything else: rt.boost<int(int, int)>(std::bind_front(...)).
  template <class Signature = void, class F>
  auto boost(F fn, booster_options options) {
    if constexpr (std::is_void_v<Signature>) {
      using deduced = typename signature_of<std::decay_t<F>>::type;
      return boost<deduced>(std::move(fn), std::move(options));
    } else {
      return make<Signature>(std::function<Signature>(std::move(fn)), std::move(options));
    }
  }

  /// Blocks until SIGINT, SIGTERM or shutdown(), then stops every booster gracefully.
  void wait();

  /// Makes wait() return; safe from any thread.
  void shutdown();

  /// Stops every booster gracefully (what wait() does before returning).
  void stop_all();

  caf::actor_system& system() { return *system_; }

private:
  template <class Signature>
  struct maker;
  template <class R, class... Args>
  struct maker<R(Args...)> {
    static booster<R(Args...)> make(runtime& rt, std::function<R(Args...)> fn,
                                    booster_options options) {
      if (options.arg_names.empty())
        options.arg_names = default_arg_names(sizeof...(Args));
      auto task = bind_function<R, Args...>(fn, options.arg_names); // sizes checked in core
      auto core = detail::make_booster_core(*rt.system_, std::move(options), std::move(task),
                                            sizeof...(Args));
      rt.remember(core);
      return booster<R(Args...)>{std::move(core), std::move(fn)};
    }
  };
  template <class Signature>
  booster<Signature> make(std::function<Signature> fn, booster_options options) {
    return maker<Signature>::make(*this, std::move(fn), std::move(options));
  }

  void remember(const std::shared_ptr<detail::booster_core>& core);

  std::unique_ptr<caf::actor_system_config> own_config_;
  std::unique_ptr<caf::actor_system> own_system_;
  caf::actor_system* system_ = nullptr;
  std::mutex mutex_;
  std::vector<std::shared_ptr<detail::booster_core>> boosters_; // stopped in ~runtime
};

} // namespace funboost
