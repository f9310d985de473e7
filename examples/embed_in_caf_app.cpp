// Embedding funboost in an existing CAF application.
//
// The application keeps its own actor system and its own actors; funboost borrows the system:
//   caf::actor_system_config cfg;
//   funboost::add_message_types(cfg);  // before the system exists
//   caf::actor_system system{cfg};
//   funboost::runtime rt{system};      // declared after the system: destroyed before it
// Then the application's actors talk to funboost by message, without blocking, through the
// typed handles rt.node() and booster.supervisor() (funboost/protocol.hpp):
//   node:       (push_atom, queue, kwargs JSON, task_options) -> push_receipt
//               (result_atom, task id, longest wait)          -> task_result
//   supervisor: (push_atom, kwargs JSON)                      -> push_receipt
// Failures come back as caf::error with a funboost::ec code, e.g. ec::unknown_queue.
// Exits 0 when every reply was the expected one.
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>

#include <caf/actor_ostream.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <funboost/funboost.hpp>

using namespace std::chrono_literals;

int add(int x, int y) {
  return x + y;
}

struct client_state {
  int pending = 0; // checks still waiting for a reply
  int wrong = 0;   // checks that got an unexpected reply
};

// One of the application's own (event-based) actors.
void client(caf::stateful_actor<client_state>* self, funboost::node_actor node,
            funboost::queue_supervisor_actor supervisor,
            std::shared_ptr<std::promise<bool>> all_right) {
  auto check = [=](bool right) {
    self->state.wrong += right ? 0 : 1;
    if (--self->state.pending == 0) {
      aout(self) << (self->state.wrong == 0 ? "every reply as expected" : "WRONG replies")
                 << std::endl;
      all_right->set_value(self->state.wrong == 0);
      self->quit();
    }
  };
  auto on_error = [=](const caf::error& err) {
    aout(self) << "unexpected error: " << self->system().render(err) << std::endl;
    check(false);
  };
  // Asks the node for a pushed task's result (waiting up to 10 s) and checks it.
  auto expect_result = [=](std::string kwargs, const funboost::push_receipt& receipt,
                           int expected) {
    self->request(node, 15s, funboost::result_atom_v, receipt.task_id, caf::timespan{10s})
      .then(
        [=](const funboost::task_result& r) {
          aout(self) << "add" << kwargs << " = " << r.result_json << "  (task " << r.task_id
                     << ")" << std::endl;
          check(r.success && r.result_json == std::to_string(expected));
        },
        on_error);
  };
  self->state.pending = 5;
  // Three tasks pushed by queue name to the node.
  for (int x : {1, 2, 3}) {
    auto kwargs = R"({"x":)" + std::to_string(x) + R"(,"y":)" + std::to_string(10 * x) + "}";
    self->request(node, 10s, funboost::push_atom_v, std::string{"embed_add"}, kwargs,
                  funboost::task_options{})
      .then([=](const funboost::push_receipt& r) { expect_result(kwargs, r, 11 * x); },
            on_error);
  }
  // One task pushed to the queue's supervisor.
  std::string kwargs = R"({"x":20,"y":22})";
  self->request(supervisor, 10s, funboost::push_atom_v, kwargs)
    .then([=](const funboost::push_receipt& r) { expect_result(kwargs, r, 42); }, on_error);
  // A push to a queue nobody boosted: an error reply, not an exception.
  self->request(node, 10s, funboost::push_atom_v, std::string{"no_such_queue"},
                std::string{R"({"x":1,"y":2})"}, funboost::task_options{})
    .then(
      [=](const funboost::push_receipt&) {
        aout(self) << "push to no_such_queue was accepted?" << std::endl;
        check(false);
      },
      [=](const caf::error& err) {
        aout(self) << "push to no_such_queue: " << self->system().render(err) << std::endl;
        check(err == funboost::ec::unknown_queue);
      });
}

int main() {
  caf::actor_system_config cfg;
  funboost::add_message_types(cfg);
  caf::actor_system system{cfg};
  funboost::runtime rt{system};

  auto adder = rt.boost(add, {.queue_name = "embed_add",
                              .broker_kind = funboost::broker_kind::memory,
                              .is_using_rpc_mode = true,
                              .arg_names = {"x", "y"},
                              .logging = {.level = funboost::log_level::warn, .file_dir = ""}});
  adder.consume();

  auto all_right = std::make_shared<std::promise<bool>>();
  auto outcome = all_right->get_future();
  system.spawn(client, rt.node(), adder.supervisor(), all_right);
  if (outcome.wait_for(30s) != std::future_status::ready) {
    std::fputs("no answer within 30 s\n", stderr);
    return 1;
  }
  return outcome.get() ? 0 : 1; // rt stops the booster, then the system stops
}
