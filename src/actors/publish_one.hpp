// How an actor answers a push by message (node, supervisor): register the RPC slot, hand the
// built message to the queue's publisher actor, answer with its receipt.
#pragma once

#include <string>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"
#include "core/queue_context.hpp"
#include "core/result_registry.hpp"

namespace funboost::actors {

template <class Self>
caf::typed_response_promise<push_receipt>
publish_one(Self* self, const detail::queue_context& ctx, const publisher_actor& publisher,
            std::string body, std::string task_id, bool rpc) {
  if (rpc)
    detail::expect_rpc_result(ctx.queue(), task_id, ctx.results.get());
  auto rp = self->template make_response_promise<push_receipt>();
  self->request(publisher, caf::infinite, push_atom::value,
                std::vector<std::string>{std::move(body)},
                std::vector<std::string>{std::move(task_id)})
    .then([rp](std::vector<push_receipt>& receipts) mutable { rp.deliver(receipts.at(0)); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

} // namespace funboost::actors
