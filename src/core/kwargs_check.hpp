// Checks keyword arguments against a queue's registered signature before anything is
// published, as funboost's publisher does (FuncParamsError): a missing required argument or an
// unknown one is the producer's mistake, and it is cheaper to say so now than to dead-letter
// the task later.
#pragma once

#include <string>
#include <string_view>

#include <funboost/protocol.hpp>

namespace funboost::detail {

/// "" when `kwargs_json` fits `queue`'s arg_names / optional_arg_names (or the signature is not
/// known: no arg names), else the error text naming the queue, the argument and the fix.
/// Text that is not a JSON object passes: the message builder reports that itself.
std::string check_kwargs(const queue_info& queue, std::string_view kwargs_json);

/// Reads the signature from funboost's params record (funboost_queue__consumer_parmas:
/// auto_generate_info.final_func_input_params_info = {func_name, must_arg_name_list,
/// optional_arg_name_list}) into `queue`'s function_name, arg_names (must, then optional) and
/// optional_arg_names. false when the record has no signature.
bool read_signature(std::string_view params_json, queue_info& queue);

} // namespace funboost::detail
