// A loopback port where TCP connects go unanswered: a listener with a full accept queue drops
// every further SYN, as a host behind a firewall that drops packets does. For connect
// timeouts; the listener is never accepted from.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace test_support {

class silent_listener {
public:
  silent_listener() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
        || ::listen(listener_, 0) != 0
        || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("silent_listener: cannot listen on loopback");
    port_ = ntohs(addr.sin_port);
    // Fill the accept queue (backlog 0 holds one connection); later SYNs are dropped. Wait
    // (bounded) until the filler's handshake is complete, so the queue really is full.
    filler_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(filler_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    pollfd p{filler_, POLLOUT, 0};
    if (::poll(&p, 1, 10'000) != 1)
      throw std::runtime_error("silent_listener: the filler connection did not complete");
  }
  ~silent_listener() {
    ::close(filler_);
    ::close(listener_);
  }
  silent_listener(const silent_listener&) = delete;
  silent_listener& operator=(const silent_listener&) = delete;

  int port() const { return port_; }

private:
  int listener_ = -1;
  int port_ = 0;
  int filler_ = -1;
};

} // namespace test_support
