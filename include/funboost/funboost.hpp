// funboost-cpp: a distributed task queue for any C++ function, with one call.
//
//   funboost::runtime rt{argc, argv};
//   auto add_booster = rt.boost(add, {.queue_name = "queue_test2", .concurrent_num = 50});
//   add_booster.consume();
//   add_booster.push(1, 2);
//   rt.wait();
#pragma once

#include <funboost/async_result.hpp>
#include <funboost/booster.hpp>
#include <funboost/broker.hpp>
#include <funboost/codec.hpp>
#include <funboost/function_binding.hpp>
#include <funboost/options.hpp>
#include <funboost/protocol.hpp>
#include <funboost/queue_publisher.hpp>
#include <funboost/runtime.hpp>
#include <funboost/task_context.hpp>
#include <funboost/task_exceptions.hpp>
#include <funboost/wire.hpp>
