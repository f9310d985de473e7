// Makes redis:// and unix:// result_store_url values mean the Redis result store.
#include "brokers/redis/redis_url.hpp"
#include "results/redis_result_store.hpp"

namespace funboost::detail {

namespace {

std::shared_ptr<result_store> make_from_options(caf::actor_system& system,
                                                const booster_options& options,
                                                std::shared_ptr<spdlog::logger> log) {
  // options.broker.url is the results URL here; transport options (db) apply to it.
  return make_redis_result_store(system, brokers::redis::parse_redis_address(options),
                                 options.rpc_result_expire, std::move(log));
}

const bool registered = [] {
  register_result_store("redis", make_from_options);
  register_result_store("unix", make_from_options);
  return true;
}();

} // namespace

} // namespace funboost::detail
