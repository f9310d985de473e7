// Plain rabbitmq-c, no funboost code: what another producer or consumer (Python funboost, a
// shell tool) would do on the wire. Tests use it to publish and inspect raw messages.
#pragma once

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <stdexcept>
#include <string>

namespace rabbitmq_test {

struct raw_message {
  bool found = false;
  std::string body;
  bool has_delivery_mode = false;
  int delivery_mode = 0;
  std::string content_encoding; // "" when the message has none
};

class raw_amqp {
public:
  explicit raw_amqp(int port) {
    state_ = amqp_new_connection();
    auto* socket = amqp_tcp_socket_new(state_);
    timeval tv{10, 0};
    amqp_set_rpc_timeout(state_, &tv);
    if (!socket || amqp_socket_open_noblock(socket, "127.0.0.1", port, &tv) != AMQP_STATUS_OK)
      fail("cannot connect to 127.0.0.1:" + std::to_string(port));
    expect(amqp_login(state_, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
           "login");
    amqp_channel_open(state_, 1);
    expect(amqp_get_rpc_reply(state_), "channel.open");
  }
  ~raw_amqp() {
    amqp_channel_close(state_, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(state_);
  }
  raw_amqp(const raw_amqp&) = delete;
  raw_amqp& operator=(const raw_amqp&) = delete;

  /// queue.declare(durable=true, auto_delete=false, no arguments): as funboost declares it.
  /// Throws if the queue exists with other flags or arguments (RabbitMQ answers 406).
  uint32_t declare(const std::string& queue) {
    auto* ok = amqp_queue_declare(state_, 1, amqp_cstring_bytes(queue.c_str()), 0, 1, 0, 0,
                                  amqp_empty_table);
    expect(amqp_get_rpc_reply(state_), "queue.declare " + queue);
    return ok->message_count;
  }

  /// Ready messages in `queue` (declaring it, as funboost's count does).
  uint32_t count(const std::string& queue) { return declare(queue); }

  void purge(const std::string& queue) {
    declare(queue);
    amqp_queue_purge(state_, 1, amqp_cstring_bytes(queue.c_str()));
    expect(amqp_get_rpc_reply(state_), "queue.purge " + queue);
  }

  void remove(const std::string& queue) {
    amqp_queue_delete(state_, 1, amqp_cstring_bytes(queue.c_str()), 0, 0);
    expect(amqp_get_rpc_reply(state_), "queue.delete " + queue);
  }

  /// Whether `queue` exists: a passive declare on a channel of its own, since RabbitMQ answers
  /// a missing queue by closing the channel (404).
  bool exists(const std::string& queue) {
    amqp_channel_t ch = ++last_channel_;
    amqp_channel_open(state_, ch);
    expect(amqp_get_rpc_reply(state_), "channel.open");
    amqp_queue_declare(state_, ch, amqp_cstring_bytes(queue.c_str()), 1, 0, 0, 0,
                       amqp_empty_table);
    auto reply = amqp_get_rpc_reply(state_);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
      amqp_channel_close(state_, ch, AMQP_REPLY_SUCCESS);
      return true;
    }
    if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION
        && reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      auto* close = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
      amqp_channel_close_ok_t ok{};
      amqp_send_method(state_, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
      if (close->reply_code == 404)
        return false;
    }
    fail("passive queue.declare " + queue + " failed");
  }

  /// basic.publish on the default exchange, routing key = queue, delivery_mode 2, exactly as
  /// funboost's RABBITMQ_AMQPSTORM publisher does.
  void publish(const std::string& queue, const std::string& body) {
    declare(queue);
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = 2;
    amqp_bytes_t bytes{body.size(), const_cast<char*>(body.data())};
    if (amqp_basic_publish(state_, 1, amqp_empty_bytes, amqp_cstring_bytes(queue.c_str()), 0, 0,
                           &props, bytes)
        != AMQP_STATUS_OK)
      fail("basic.publish failed");
  }

  /// basic.get with auto-ack: takes one message off `queue`, if there is one.
  raw_message get(const std::string& queue) {
    raw_message out;
    auto reply = amqp_basic_get(state_, 1, amqp_cstring_bytes(queue.c_str()), 1);
    expect(reply, "basic.get " + queue);
    if (reply.reply.id != AMQP_BASIC_GET_OK_METHOD)
      return out;
    amqp_message_t message;
    expect(amqp_read_message(state_, 1, &message, 0), "reading a message");
    out.found = true;
    out.body.assign(static_cast<char*>(message.body.bytes), message.body.len);
    out.has_delivery_mode = message.properties._flags & AMQP_BASIC_DELIVERY_MODE_FLAG;
    out.delivery_mode = message.properties.delivery_mode;
    if (message.properties._flags & AMQP_BASIC_CONTENT_ENCODING_FLAG)
      out.content_encoding.assign(static_cast<char*>(message.properties.content_encoding.bytes),
                                  message.properties.content_encoding.len);
    amqp_destroy_message(&message);
    amqp_maybe_release_buffers(state_);
    return out;
  }

private:
  void expect(const amqp_rpc_reply_t& reply, const std::string& what) {
    if (reply.reply_type != AMQP_RESPONSE_NORMAL)
      fail(what + " failed (reply type " + std::to_string(reply.reply_type) + ", library error "
           + amqp_error_string2(reply.library_error) + ")");
  }
  [[noreturn]] static void fail(const std::string& what) {
    throw std::runtime_error("raw_amqp: " + what);
  }

  amqp_connection_state_t state_;
  amqp_channel_t last_channel_ = 1; // channel 1 is the main one; exists() opens the others
};

} // namespace rabbitmq_test
