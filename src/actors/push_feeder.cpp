#include "actors/push_feeder.hpp"

#include "core/result_registry.hpp"

namespace funboost::actors {

namespace {

using slot_list = std::vector<std::shared_ptr<detail::result_slot>>;

/// What the publisher answered, onto each task's slot: published, or why not. A task that is
/// not even in the outbox is lost: nobody will wait for its result.
void settle(const slot_list& slots, const std::vector<push_receipt>& receipts,
            const std::string& no_answer) {
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const push_receipt* r = i < receipts.size() ? &receipts[i]
                                                : (receipts.empty() ? nullptr : &receipts.back());
    bool lost = false;
    {
      std::lock_guard guard{slots[i]->mutex};
      slots[i]->publish_pending = false;
      if (!r)
        slots[i]->publish_failure = no_answer;
      else if (r->status != ec::none)
        slots[i]->publish_failure = r->detail.empty() ? no_answer : r->detail;
      lost = !r || (r->status != ec::none && r->status != ec::kept_in_outbox);
    }
    slots[i]->cv.notify_all();
    if (lost)
      detail::forget_result(slots[i]);
  }
}

} // namespace

push_feeder_actor::behavior_type push_feeder(push_feeder_actor::pointer self,
                                             std::shared_ptr<detail::push_pipeline> pipeline,
                                             publisher_actor publisher,
                                             detail::queue_context_ptr ctx) {
  return {
    [=](tick_atom) {
      auto batch = pipeline->take();
      if (batch.empty())
        return;
      auto count = batch.bodies.size();
      auto slots = std::make_shared<slot_list>(std::move(batch.slots));
      auto no_answer = "queue '" + ctx->queue() + "': the publisher did not answer; the push "
                       "was not published: push it again";
      self->request(publisher, caf::infinite, push_atom::value, std::move(batch.bodies),
                    std::move(batch.task_ids))
        .then(
          [=](std::vector<push_receipt>& receipts) {
            settle(*slots, receipts, no_answer);
            pipeline->answered(count);
            self->send(self, tick_atom::value);
          },
          [=](caf::error& err) {
            ctx->log->error("{} ({})", no_answer, self->system().render(err));
            settle(*slots, {}, no_answer);
            pipeline->answered(count);
            self->send(self, tick_atom::value);
          });
    },
  };
}

} // namespace funboost::actors
