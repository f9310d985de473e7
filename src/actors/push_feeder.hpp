// push_feeder: in publish_mode::pipelined, takes everything pending in the booster's
// push_pipeline (core/push_pipeline.hpp) as one batch, asks the publisher actor to publish it
// (which retries and keeps in the outbox as for any push), and when the publisher answers,
// settles each task's async_result (published, kept in the outbox, or lost) and takes the next
// batch. One batch is out at a time; pushes gather meanwhile, so batches grow with the rate.
// It never blocks: the broker calls are the publisher's.
#pragma once

#include <memory>

#include "actors/actors.hpp"
#include "core/push_pipeline.hpp"
#include "core/queue_context.hpp"

namespace funboost::actors {

using push_feeder_actor = caf::typed_actor<caf::reacts_to<tick_atom>>; // work is pending

push_feeder_actor::behavior_type push_feeder(push_feeder_actor::pointer self,
                                             std::shared_ptr<detail::push_pipeline> pipeline,
                                             publisher_actor publisher,
                                             detail::queue_context_ptr ctx);

} // namespace funboost::actors
