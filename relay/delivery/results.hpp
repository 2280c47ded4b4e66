// relay/delivery/results.hpp — small helpers shared by the Deliverers for building and
// logging RecipientResults.
//
// Untrusted input: none (result text may hold remote text: it is logged, never parsed).
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "relay/delivery/deliverer.hpp"
#include "relay/log/log.hpp"

namespace signpost::delivery {

// One result per job recipient, all with the same outcome and our own text (code 0 unless
// given).
std::vector<RecipientResult> results_for_all(const Job& job, Outcome outcome, const std::string& enhanced,
                                             const std::string& text, int code = 0);

// "sent", "deferred", "bounced" (Postfix's words, for logs).
std::string_view log_status(Outcome outcome);

// One log line per recipient: "to=<a@b> relay=... tls=... status=sent (250 2.0.0 text)".
void log_results(const log::Logger& logger, const std::vector<RecipientResult>& results);

}  // namespace signpost::delivery
