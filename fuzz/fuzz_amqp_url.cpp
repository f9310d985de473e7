// libFuzzer target: broker.url of a rabbitmq booster, as parse_amqp_url reads it
// (src/brokers/rabbitmq/amqp_url.cpp), and the texts made from it for logs and errors:
// redact_url, amqp_url::display (the broker's address in log lines) and the error of a
// refused URL. A URL is refused with std::invalid_argument, never a crash; every text is one
// clean log line, and none shows the password (promises.hpp).
#include <cstdint>
#include <stdexcept>
#include <string>

#include "brokers/rabbitmq/amqp_url.hpp"
#include "core/log_text.hpp"
#include "promises.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace funboost;
  using brokers::rabbitmq::parse_amqp_url;
  const std::string url(reinterpret_cast<const char*>(data), size);
  auto redacted = detail::redact_url(url);
  fuzz::require(fuzz::is_one_clean_line(redacted), "redact_url gives one clean line", redacted);
  brokers::rabbitmq::amqp_url parsed;
  try {
    parsed = parse_amqp_url(url);
  } catch (const std::invalid_argument& e) {
    std::string_view text = e.what();
    fuzz::require(text.find("amqp://user:password@host:port/vhost") != std::string_view::npos,
                  "a refused URL's error shows the form to use (nothing cuts it short)", text);
    fuzz::require(fuzz::is_one_clean_line(text), "a refused URL's error is one clean line", text);
    return 0;
  }
  fuzz::require(parsed.port >= 1 && parsed.port <= 65535, "the port is a port");
  fuzz::require(!parsed.vhost.empty(), "there is a vhost");
  auto shown = parsed.display();
  fuzz::require(fuzz::is_one_clean_line(shown), "the address is one clean line", shown);

  auto other_url = fuzz::with_other_password(url, parsed.password);
  if (other_url.empty())
    return 0;
  try {
    auto other = parse_amqp_url(other_url);
    if (other.password != fuzz::other_password(parsed.password))
      return 0; // what was replaced was not (only) the password
    fuzz::require(other.display() == shown, "the address does not show the password", shown);
    fuzz::require(detail::redact_url(other_url) == redacted, "redact_url hides the password",
                  redacted);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
