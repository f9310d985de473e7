#include <funboost/runtime.hpp>

#include <csignal>
#include <variant>
#include <semaphore.h>

#include <caf/io/middleman.hpp>
#include <caf/send.hpp>

#include "actors/node.hpp"
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

extern "C" void on_stop_signal(int) {
  sem_post(&wake_semaphore());
}

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
    result_stores_.clear(); // each store ends its actors
  }
  caf::anon_send_exit(node_, caf::exit_reason::user_shutdown);
}

queue_publisher runtime::publisher(booster_options options) {
  options.arg_names.clear(); // learned from the queue's registry
  options.optional_arg_names.clear();
  options.broker.register_queue = false; // the consumers' record is theirs to write
  auto core = detail::make_booster_core(*this, std::move(options), nullptr, 0);
  remember(core);
  return queue_publisher{std::move(core)};
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
  while (sem_wait(&wake_semaphore()) != 0) {
    // EINTR: a signal arrived while waiting; its handler posted, so the next wait returns.
  }
  stop_all();
}

void runtime::shutdown() {
  sem_post(&wake_semaphore());
}

void runtime::stop_all() {
  std::vector<std::shared_ptr<detail::booster_core>> cores;
  {
    std::lock_guard guard{mutex_};
    cores = boosters_;
  }
  for (auto& core : cores)
    core->stop();
}

} // namespace funboost
