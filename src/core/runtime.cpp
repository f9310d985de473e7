#include <funboost/runtime.hpp>

#include <atomic>
#include <csignal>
#include <cstring>
#include <thread>
#include <variant>
#include <semaphore.h>
#include <unistd.h>

#include <caf/actor_registry.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/node.hpp"
#include "actors/push_scheduler.hpp"
#include "actors/queue_supervisor.hpp"
#include "core/crash_report.hpp"
#include "core/log_text.hpp"
#include "core/logging.hpp"
#include "core/result_registry.hpp"
#include "results/result_store.hpp"

namespace funboost {

namespace {

/// Posted by SIGINT/SIGTERM and by runtime::shutdown(); sem_post is async-signal-safe.
sem_t& wake_semaphore() {
  static sem_t sem;
  static bool ready = (sem_init(&sem, 0, 0), true);
  (void) ready;
  return sem;
}

/// SIGINT/SIGTERM received so far, and the last one: one that arrives while a stop is under way
/// ends the process. (Lock-free atomics: safe to touch in a signal handler.)
std::atomic<int> stop_signals{0};
std::atomic<int> last_stop_signal{0};

extern "C" void on_stop_signal(int signal) {
  last_stop_signal.store(signal);
  stop_signals.fetch_add(1);
  sem_post(&wake_semaphore());
}

void await_wake() {
  while (sem_wait(&wake_semaphore()) != 0) {
    // EINTR: a signal arrived while waiting; its handler posted, so the next wait returns.
  }
}

/// The second stop signal waits at most this long for the queues to give their tasks back.
constexpr auto forced_give_back_limit = std::chrono::seconds(5);

/// With abandoned workers, ~runtime waits at most this long for its other detached actors
/// (result records still being written, the outbox) before it leaves the system running.
constexpr auto abandoned_exit_limit = std::chrono::seconds(10);

} // namespace

runtime::runtime() : runtime(0, nullptr) {}

runtime::runtime(int argc, char** argv) {
  own_config_ = std::make_unique<caf::actor_system_config>();
  add_message_types(*own_config_);
  own_config_->load<caf::io::middleman>(); // so supervisors can be published to other nodes
  // The sharing scheduler wakes an idle thread at once through a condition variable; the default
  // work-stealing one sleeps idle threads in 10 ms steps, which is push-to-start latency here.
  own_config_->set("scheduler.policy", caf::atom("sharing"));
  if (argc > 0) {
    if (auto err = own_config_->parse(argc, argv))
      throw std::invalid_argument("funboost::runtime: bad command line: "
                                  + caf::to_string(err));
  }
  own_system_ = std::make_unique<caf::actor_system>(*own_config_);
  system_ = own_system_.get();
  start_node();
}

runtime::runtime(caf::actor_system& system) : system_(&system) {
  start_node();
}

void runtime::start_node() {
  detail::install_crash_report(); // a task that kills the process is named as it dies
  node_ = system_->spawn(actors::node);
}

runtime::~runtime() {
  stop_all();
  {
    std::lock_guard guard{mutex_};
    boosters_.clear(); // each core's destructor ends its supervisor and publisher
    // Each store ends its actors, also one an abandoned worker still holds.
    for (auto& [address, store] : result_stores_)
      store->close();
    result_stores_.clear();
  }
  if (push_scheduler_)
    caf::anon_send_exit(push_scheduler_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(node_, caf::exit_reason::user_shutdown);
  if (abandoned_workers_->load() > 0)
    leave_abandoned_workers_running();
}

void runtime::leave_abandoned_workers_running() {
  // Every actor of ours has been told to exit; wait until only the abandoned workers still run
  // (the registry counts actors that have not terminated yet; CAF's own are hidden from it).
  auto deadline = std::chrono::steady_clock::now() + abandoned_exit_limit;
  while (system_->registry().running() > static_cast<std::size_t>(abandoned_workers_->load())
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto abandoned = abandoned_workers_->load();
  if (abandoned <= 0)
    return; // their functions returned after all: the system can end normally
  auto log = detail::queue_logger(booster_options{.queue_name = "runtime",
                                                  .logging = {.file_dir = ""}});
  if (!own_system_) {
    log->error("{} worker thread(s) still run a function that did not return when its queue "
               "stopped; the actor system you lent to funboost::runtime waits for them when it "
               "is destroyed (CAF joins every detached actor): make the function return, or end "
               "the process without destroying the system (std::quick_exit)",
               abandoned);
    return;
  }
  log->warn("{} worker thread(s) still run a function that did not return when its queue "
            "stopped; the actor system is left running so they stay valid until the process "
            "exits",
            abandoned);
  // Deliberately leaked: ~actor_system would wait forever for the abandoned threads.
  (void) own_system_.release();
  (void) own_config_.release();
}

queue_publisher runtime::publisher(booster_options options) {
  options.arg_names.clear(); // learned from the queue's registry
  options.optional_arg_names.clear();
  options.broker.register_queue = false; // the consumers' record is theirs to write
  auto core = detail::make_booster_core(*this, std::move(options), nullptr, 0);
  remember(core);
  return queue_publisher{std::move(core)};
}

void runtime::run_scheduler(const std::string& job_store_url) {
  std::lock_guard guard{mutex_};
  if (push_scheduler_)
    throw std::logic_error("run_scheduler: this runtime runs a scheduler already");
  std::shared_ptr<schedule::job_store> store = schedule::make_job_store(job_store_url);
  booster_options log_options;
  log_options.queue_name = "scheduled pushes";
  auto scheduler = system_->spawn<caf::detached>(actors::push_scheduler, std::move(store), node_,
                                                 actors::wall_clock{},
                                                 detail::queue_logger(log_options));
  push_scheduler_ = caf::actor_cast<caf::actor>(scheduler);
  caf::anon_send(caf::actor_cast<actors::node_internal_actor>(node_), actors::put_atom::value,
                 scheduler);
}

namespace {

/// A scheduled-push request to the node, answered or thrown: bad jobs as std::invalid_argument,
/// a missing job as false (through `missing`), anything else as std::runtime_error.
template <class T, class... Ts>
T ask_node(caf::actor_system& system, const node_actor& node, T missing, Ts&&... xs) {
  caf::scoped_actor self{system};
  T out{};
  caf::error failure;
  self->request(node, caf::infinite, std::forward<Ts>(xs)...)
    .receive([&](T& x) { out = std::move(x); }, [&](caf::error& err) { failure = err; });
  if (!failure)
    return out;
  if (failure == ec::unknown_job)
    return missing;
  auto text = system.render(failure);
  if (failure == ec::bad_message)
    throw std::invalid_argument(text);
  throw std::runtime_error(text);
}

} // namespace

std::string runtime::schedule(scheduled_job job) {
  return ask_node<std::string>(*system_, node_, {}, schedule_atom::value, std::move(job));
}

std::vector<scheduled_job> runtime::scheduled_jobs() {
  return ask_node<std::vector<scheduled_job>>(*system_, node_, {}, jobs_atom::value);
}

bool runtime::pause_job(const std::string& id) {
  return ask_node<bool>(*system_, node_, false, pause_job_atom::value, id);
}

bool runtime::resume_job(const std::string& id) {
  return ask_node<bool>(*system_, node_, false, resume_job_atom::value, id);
}

bool runtime::remove_job(const std::string& id) {
  return ask_node<bool>(*system_, node_, false, remove_job_atom::value, id);
}

task_result runtime::result(const std::string& task_id, std::chrono::milliseconds timeout) {
  caf::scoped_actor self{*system_};
  task_result out;
  std::string failure;
  self->request(node_, caf::infinite, result_atom::value, task_id, caf::timespan{timeout})
    .receive([&](task_result& r) { out = std::move(r); },
             [&](caf::error& err) { failure = system_->render(err); });
  if (!failure.empty())
    throw timeout_error("task " + task_id + ": " + failure);
  return out;
}

std::shared_ptr<detail::result_store>
runtime::result_store_for(const booster_options& options) {
  auto url = options.result_store_url;
  bool redis_broker = options.broker_kind == std::string{broker_kind::redis}
                      || options.broker_kind == std::string{broker_kind::redis_stream};
  auto resolved = options;
  if (url == "in-process" || (url.empty() && !redis_broker))
    return nullptr;
  if (url.empty()) {
    // funboost's default: the queue's Redis, with results in db 8.
    resolved.result_store_url = options.broker.url.empty() ? "redis://127.0.0.1:6379"
                                                           : options.broker.url;
    resolved.broker.transport_options["db"] = 8LL;
  } else {
    resolved.broker.transport_options.erase("db"); // the queues' db; the URL names the results'
  }
  resolved.broker.url = resolved.result_store_url;
  auto scheme = resolved.result_store_url.substr(0, resolved.result_store_url.find(':'));
  auto factory = detail::find_result_store(scheme);
  if (!factory)
    throw std::invalid_argument("queue '" + options.queue_name + "': result_store_url '"
                                + detail::redact_url(resolved.result_store_url)
                                + "' names no known result store; "
                                  "use redis://host:port/db, unix:///path, or \"in-process\"");
  std::lock_guard guard{mutex_};
  std::string key = resolved.result_store_url;
  if (auto db = resolved.broker.transport_options.find("db");
      db != resolved.broker.transport_options.end())
    key += std::visit(
      [](const auto& v) {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>)
          return "#db=" + v;
        else
          return "#db=" + std::to_string(v);
      },
      db->second);
  auto& store = result_stores_[key];
  if (!store)
    store = factory(*system_, resolved, detail::queue_logger(options));
  return store;
}

void runtime::remember(const std::shared_ptr<detail::booster_core>& core) {
  std::lock_guard guard{mutex_};
  boosters_.push_back(core);
}

void runtime::wait() {
  wake_semaphore();
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  auto handled = stop_signals.load(); // signals an earlier wait() saw
  await_wake();
  // The signal that woke us (if one did) starts the stop; any later one is a second signal.
  // Counted, not compared with a snapshot: two signals may both arrive before this line.
  if (stop_signals.load() > handled)
    ++handled;
  // The graceful stop runs on its own thread, so a second signal meanwhile is seen at once.
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    stop_all();
    stopped = true;
    sem_post(&wake_semaphore());
  });
  for (;;) {
    await_wake();
    if (stopped)
      break;
    if (stop_signals.load() > handled)
      give_back_and_exit(last_stop_signal.load());
    // shutdown() again while stopping: the graceful stop goes on.
  }
  stopper.join();
}

void runtime::shutdown() {
  sem_post(&wake_semaphore());
}

void runtime::stop_all() {
  stop_queues(false);
}

std::vector<std::shared_ptr<detail::booster_core>> runtime::cores() {
  std::lock_guard guard{mutex_};
  return boosters_;
}

void runtime::stop_queues(bool at_once) {
  // Every queue is asked first, then the answers are collected: the queues stop together, so
  // the slowest one's stop_timeout bounds the whole, not the sum of them.
  caf::scoped_actor self{*system_};
  using handle = decltype(self->request(actors::supervisor_actor{}, caf::infinite,
                                        stop_atom::value, caf::timespan{}));
  std::vector<std::pair<handle, std::string>> asked;
  for (auto& core : cores()) {
    auto supervisor = caf::actor_cast<actors::supervisor_actor>(core->supervisor());
    if (!supervisor)
      continue; // publish-only
    // At once: running tasks are given back now, and the answer is waited for a bounded time.
    // Else each queue's own stop_timeout bounds its stop.
    auto give_back_after = at_once ? caf::timespan::zero()
                                   : caf::timespan{core->options().stop_timeout};
    auto wait = at_once ? caf::duration{forced_give_back_limit} : caf::duration{caf::infinite};
    asked.emplace_back(self->request(supervisor, wait, stop_atom::value, give_back_after),
                       core->options().queue_name);
  }
  for (auto& [answer, queue] : asked)
    answer.receive([](bool) {},
                   [&, queue = queue](const caf::error& err) {
                     detail::queue_logger(booster_options{.queue_name = queue,
                                                          .logging = {.file_dir = ""}})
                       ->error("queue '{}': stop failed: {}", queue, system_->render(err));
                   });
}

void runtime::give_back_and_exit(int signal) {
  auto code = 128 + signal; // what a shell reports for a process ended by that signal
  auto options = booster_options{.queue_name = "runtime"};
  if (auto all = cores(); !all.empty()) { // its logs go where the queues' go
    options.logging = all.front()->options().logging;
  } else {
    options.logging.file_dir = "";
  }
  auto log = detail::queue_logger(options);
  log->warn("{} while stopping: giving back every fetched and running task to its broker, "
            "then exiting at once with code {} (running functions are not waited for)",
            signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : strsignal(signal),
            code);
  stop_queues(true);
  log->flush(); // the sinks are shared with the queues' loggers: their lines are written too
  ::_exit(code);
}

} // namespace funboost
