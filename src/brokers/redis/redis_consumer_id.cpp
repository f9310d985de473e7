#include "brokers/redis/redis_consumer_id.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <ctime>

namespace funboost::brokers::redis {

namespace {

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0)
    return "localhost";
  return buf;
}

/// The first non-loopback IPv4 address, as funboost reports the machine's IP.
std::string host_ip() {
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

} // namespace

std::string new_consumer_id() {
  static const std::string host = host_name();
  static const std::string ip = host_ip();
  static std::atomic<unsigned> counter{0};
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%d %H-%M-%S", &local);
  return host + "_" + ip + "_" + when + "_" + std::to_string(getpid()) + "_"
         + std::to_string(++counter);
}

} // namespace funboost::brokers::redis
