// The queue's record in funboost's HASH funboost_queue__consumer_parmas: a JSON object with every
// field of funboost's BoosterParams, in its order, with values that are true for a C++ booster.
// funboost's faas (gen_booster_for_faas builds a BoosterParams from it, which forbids unknown
// keys and needs e.g. consuming_function_kind) and web manager read it; so does our own
// publish-only booster (auto_generate_info.final_func_input_params_info, kwargs_check.hpp).
#pragma once

#include <string>

#include <funboost/options.hpp>

namespace funboost::brokers::redis {

/// Who writes the record: a consumer describes its function; a publish-only booster does not
/// know the signature, so its record says so (empty lists, no publish check).
enum class params_writer { consumer, publisher };

/// The record for `o`; `funboost_kind` is funboost's broker_kind ("REDIS_ACK_ABLE", ...).
std::string params_record(const booster_options& o, const std::string& funboost_kind,
                          params_writer writer);

} // namespace funboost::brokers::redis
