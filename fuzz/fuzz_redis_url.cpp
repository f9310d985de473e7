// libFuzzer target: broker.url of a redis / redis_stream booster, as parse_redis_address
// reads it (src/brokers/redis/redis_url.cpp), and the texts made from it for logs and errors:
// redact_url, redis_address::display (the broker's address in log lines) and the error of a
// refused URL. A URL is refused with broker_error, never a crash; every text is one clean log
// line, and none shows the password (promises.hpp).
#include <cstdint>
#include <string>

#include <funboost/broker.hpp>

#include "brokers/redis/redis_url.hpp"
#include "core/log_text.hpp"
#include "promises.hpp"

namespace {

funboost::booster_options options_for(std::string url) {
  funboost::booster_options o;
  o.queue_name = "fuzz";
  o.broker_kind = funboost::broker_kind::redis;
  o.broker.url = std::move(url);
  return o;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace funboost;
  const std::string url(reinterpret_cast<const char*>(data), size);
  auto redacted = detail::redact_url(url);
  fuzz::require(fuzz::is_one_clean_line(redacted), "redact_url gives one clean line", redacted);
  brokers::redis::redis_address address;
  try {
    address = brokers::redis::parse_redis_address(options_for(url));
  } catch (const broker_error& e) {
    std::string_view text = e.what();
    fuzz::require(text.find("queue 'fuzz'") != std::string_view::npos,
                  "a refused URL names the queue", text);
    fuzz::require(text.find("Use redis://") != std::string_view::npos,
                  "a refused URL's error shows the forms to use (nothing cuts it short)", text);
    fuzz::require(fuzz::is_one_clean_line(text), "a refused URL's error is one clean line", text);
    return 0;
  }
  fuzz::require(!address.is_unix || !address.socket_path.empty(), "a unix URL has a path");
  fuzz::require(address.is_unix || (address.port >= 1 && address.port <= 65535),
                "the port is a port");
  fuzz::require(address.db >= 0, "the db is not negative");
  auto shown = address.display();
  fuzz::require(fuzz::is_one_clean_line(shown), "the address is one clean line", shown);

  auto other_url = fuzz::with_other_password(url, address.password);
  if (other_url.empty())
    return 0;
  try {
    auto other = brokers::redis::parse_redis_address(options_for(other_url));
    if (other.password != fuzz::other_password(address.password))
      return 0; // what was replaced was not (only) the password
    fuzz::require(other.display() == shown, "the address does not show the password", shown);
    fuzz::require(detail::redact_url(other_url) == redacted, "redact_url hides the password",
                  redacted);
  } catch (const broker_error&) {
  }
  return 0;
}
