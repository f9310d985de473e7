#include <funboost/runtime.hpp>

#include <csignal>
#include <semaphore.h>

#include <caf/io/middleman.hpp>

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
}

runtime::runtime(caf::actor_system& system) : system_(&system) {}

runtime::~runtime() {
  stop_all();
  std::lock_guard guard{mutex_};
  boosters_.clear(); // each core's destructor ends its supervisor
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
