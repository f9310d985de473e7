// The runtime: owns a caf::actor_system (or borrows yours) and the boosters made with it.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <funboost/booster.hpp>
#include <funboost/function_binding.hpp>
#include <funboost/options.hpp>
#include <funboost/protocol.hpp>
#include <funboost/queue_publisher.hpp>

namespace funboost {

class runtime;

namespace detail {
class result_store;
/// `fn` null: a publish-only booster.
std::shared_ptr<booster_core> make_booster_core(runtime& rt, booster_options options,
                                                task_function fn, std::size_t arity);
} // namespace detail

class runtime {
public:
  /// Owns a new actor system configured from the command line (CAF's --caf.* options).
  runtime(int argc, char** argv);
  runtime();
  /// Borrows `system`, e.g. inside your own CAF application. It must outlive the runtime.
  explicit runtime(caf::actor_system& system);
  /// Stops every booster gracefully, then the actor system if it is ours. If a stop abandoned
  /// workers whose function never returned, an owned system is left running (CAF would wait
  /// for their threads forever) so the process can exit.
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

  /// A publish-only booster for `options.queue_name`: pushes kwargs JSON without the function.
  queue_publisher publisher(booster_options options);
  queue_publisher publisher(const std::string& queue_name) {
    return publisher(booster_options{.queue_name = queue_name});
  }

  /// The result of a task in RPC mode, by id, whoever pushed it: this process or another (via
  /// the result store, e.g. a Python funboost producer's task). Blocks up to `timeout`; throws
  /// timeout_error. A failed task comes back with success = false (no throw).
  task_result result(const std::string& task_id,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60));

  // -- scheduled pushes (interval, date and cron jobs that push to a queue) -------------------

  /// Runs this runtime's scheduler of scheduled pushes on a job store: "sqlite:PATH" (a local
  /// file: processes of one machine) or "redis://host:port/db" (processes anywhere). Every
  /// runtime running a scheduler on one store fires each job once per fire, and a job fires in
  /// a runtime that knows its queue (a booster or rt.publisher for it). Once per runtime; throws
  /// std::invalid_argument for an unknown URL, std::runtime_error when the store cannot open.
  void run_scheduler(const std::string& job_store_url = "sqlite:funboost_jobs.sqlite3");
  /// Adds `job` (or replaces the one with its id) and returns its id. Throws
  /// std::invalid_argument naming what is wrong with it, std::runtime_error if the store fails.
  std::string schedule(scheduled_job job);
  /// Every job of the store, with its next fire time.
  std::vector<scheduled_job> scheduled_jobs();
  /// Each returns false when there is no job `id`.
  bool pause_job(const std::string& id);
  bool resume_job(const std::string& id);
  bool remove_job(const std::string& id);

  /// The node actor (funboost/protocol.hpp): what CAF code, other nodes and services talk to.
  node_actor node() const { return node_; }

  /// Blocks until SIGINT, SIGTERM or shutdown(), then stops every booster gracefully: each
  /// waits at most its stop_timeout for running tasks, then gives them back to the broker. A
  /// second SIGINT/SIGTERM while stopping gives back every fetched and running task at once
  /// (waiting at most 5 s for the brokers) and ends the process with _exit(128 + signal).
  void wait();

  /// Makes wait() return; safe from any thread.
  void shutdown();

  /// Stops every booster gracefully, all at once (what wait() does before returning).
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
      if (options.arg_names.size() == sizeof...(Args)) {
        constexpr bool optional[] = {detail::is_optional<std::decay_t<Args>>::value..., false};
        options.optional_arg_names.clear();
        for (std::size_t i = 0; i < sizeof...(Args); ++i)
          if (optional[i])
            options.optional_arg_names.push_back(options.arg_names[i]);
      }
      auto task = bind_function<R, Args...>(fn, options.arg_names); // sizes checked in core
      auto core = detail::make_booster_core(rt, std::move(options), std::move(task),
                                            sizeof...(Args));
      rt.remember(core);
      return booster<R(Args...)>{std::move(core), std::move(fn)};
    }
  };
  template <class Signature>
  booster<Signature> make(std::function<Signature> fn, booster_options options) {
    return maker<Signature>::make(*this, std::move(fn), std::move(options));
  }

  friend std::shared_ptr<detail::booster_core>
  detail::make_booster_core(runtime&, booster_options, task_function, std::size_t);

  void remember(const std::shared_ptr<detail::booster_core>& core);
  void start_node();
  std::vector<std::shared_ptr<detail::booster_core>> cores();
  /// Asks every consuming queue to stop and waits for the answers; `at_once`: running tasks
  /// are given back now and the answers are waited for a bounded time.
  void stop_queues(bool at_once);
  /// The second stop signal: give back what can be given back, then end the process.
  [[noreturn]] void give_back_and_exit(int signal);
  /// Called by ~runtime when a stop abandoned workers that still run.
  void leave_abandoned_workers_running();
  /// The result store for these options (one per address, shared), or null: in-process only.
  std::shared_ptr<detail::result_store> result_store_for(const booster_options& options);

  std::unique_ptr<caf::actor_system_config> own_config_;
  std::unique_ptr<caf::actor_system> own_system_;
  caf::actor_system* system_ = nullptr;
  std::mutex mutex_;
  std::vector<std::shared_ptr<detail::booster_core>> boosters_; // stopped in ~runtime
  std::map<std::string, std::shared_ptr<detail::result_store>> result_stores_; // by address
  node_actor node_;
  caf::actor push_scheduler_; // null until run_scheduler()
  // Workers whose function had not returned when their queue's stop gave up on them, still
  // running (every queue of this runtime counts here).
  std::shared_ptr<std::atomic<int>> abandoned_workers_ = std::make_shared<std::atomic<int>>(0);
};

} // namespace funboost
