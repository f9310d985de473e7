#include "brokers/redis/redis_consumer_id.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdint>
#include <ctime>
#include <random>

namespace funboost::brokers::redis {

namespace {

/// nb_log's way (what funboost prints): the local address of a UDP socket "connected" to a
/// public address. Nothing is sent; the kernel only picks the route.
std::string routed_ip() {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0)
    return {};
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(80);
  inet_pton(AF_INET, "8.8.8.8", &to.sin_addr);
  std::string ip;
  sockaddr_in local{};
  socklen_t len = sizeof(local);
  char text[INET_ADDRSTRLEN] = {};
  if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0
      && getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0
      && inet_ntop(AF_INET, &local.sin_addr, text, sizeof(text)))
    ip = text;
  close(fd);
  return ip;
}

/// The first non-loopback IPv4 address, for a machine with no route out.
std::string first_interface_ip() {
  ifaddrs* list = nullptr;
  std::string ip = "127.0.0.1";
  if (getifaddrs(&list) != 0)
    return ip;
  for (auto* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK))
      continue;
    char text[INET_ADDRSTRLEN] = {};
    auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    if (inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text))) {
      ip = text;
      break;
    }
  }
  freeifaddrs(list);
  return ip;
}

/// CPython's id(self) is the object's address, e.g. 140234567890128: a 15-digit multiple of
/// 16. Ours has that shape and is unique in the process (a random base plus a counter), so
/// two connections never share an unack key.
uint64_t next_object_id() {
  static const uint64_t base = [] {
    std::random_device rd;
    return 0x7f0000000000ULL + (uint64_t{rd()} << 4 & 0xffffffff0ULL);
  }();
  static std::atomic<uint64_t> counter{0};
  return base + 16 * ++counter;
}

} // namespace

const std::string& host_name() {
  static const std::string name = [] {
    char buf[256] = {};
    return gethostname(buf, sizeof(buf) - 1) == 0 ? std::string{buf} : std::string{"localhost"};
  }();
  return name;
}

const std::string& host_ip() {
  static const std::string ip = [] {
    auto routed = routed_ip();
    return routed.empty() ? first_interface_ip() : routed;
  }();
  return ip;
}

const std::string& process_client_name() {
  static const std::string name = [] {
    std::random_device rd;
    char tag[16];
    std::snprintf(tag, sizeof(tag), "%08x", rd());
    return "funboost-cpp:" + host_name() + ":" + std::to_string(getpid()) + ":" + tag;
  }();
  return name;
}

std::string new_consumer_id(int utc_offset_minutes) {
  std::time_t shifted = std::time(nullptr) + static_cast<std::time_t>(utc_offset_minutes) * 60;
  std::tm when_tm{};
  gmtime_r(&shifted, &when_tm);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%d %H-%M-%S", &when_tm);
  return host_name() + "_" + host_ip() + "_" + when + "_" + std::to_string(getpid()) + "_"
         + std::to_string(next_object_id());
}

} // namespace funboost::brokers::redis
