// broker kind -> factory. The built-in kinds register themselves on first use.
#include <funboost/broker.hpp>

#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "brokers/memory/memory_broker.hpp"

namespace funboost {

namespace {

struct registry {
  std::mutex mutex;
  std::unordered_map<std::string, broker_factory> factories;

  registry() { factories[broker_kind::memory] = brokers::make_memory_broker; }

  static registry& instance() {
    static registry r;
    return r;
  }
};

} // namespace

void register_broker(const std::string& kind, broker_factory factory) {
  auto& r = registry::instance();
  std::lock_guard guard{r.mutex};
  r.factories[kind] = std::move(factory);
}

std::shared_ptr<broker> make_broker(const booster_options& options) {
  auto& r = registry::instance();
  broker_factory factory;
  {
    std::lock_guard guard{r.mutex};
    auto i = r.factories.find(options.broker_kind);
    if (i == r.factories.end()) {
      std::string known;
      for (const auto& [name, f] : r.factories)
        known += (known.empty() ? "" : ", ") + name;
      throw std::invalid_argument("queue '" + options.queue_name + "': unknown broker_kind '"
                                  + options.broker_kind + "'; known kinds: " + known
                                  + ". Register others with funboost::register_broker.");
    }
    factory = i->second;
  }
  return factory(options);
}

} // namespace funboost
