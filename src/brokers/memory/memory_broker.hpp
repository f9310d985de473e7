// The in-memory broker: the embedded default. FIFO queues by name, shared by every booster in
// the process, pushed to from any thread. Nothing survives the process.
#pragma once

#include <memory>

#include <funboost/broker.hpp>

namespace funboost::brokers {

std::shared_ptr<broker> make_memory_broker(const booster_options& options);

} // namespace funboost::brokers
