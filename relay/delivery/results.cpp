// relay/delivery/results.cpp — shared result helpers (see results.hpp).
#include "relay/delivery/results.hpp"

namespace signpost::delivery {

std::vector<RecipientResult> results_for_all(const Job& job, Outcome outcome, const std::string& enhanced,
                                             const std::string& text, int code) {
    std::vector<RecipientResult> out;
    out.reserve(job.recipients.size());
    for (const auto& address : job.recipients) {
        RecipientResult r;
        r.address = address;
        r.outcome = outcome;
        r.code = code;
        r.enhanced = enhanced;
        r.text = text;
        out.push_back(std::move(r));
    }
    return out;
}

std::string_view log_status(Outcome outcome) {
    switch (outcome) {
    case Outcome::delivered: return "sent";
    case Outcome::temporary: return "deferred";
    case Outcome::permanent: return "bounced";
    }
    return "unknown";
}

void log_results(const log::Logger& logger, const std::vector<RecipientResult>& results) {
    if (!logger) return;
    for (const auto& r : results) {
        const auto level = r.outcome == Outcome::delivered ? spdlog::level::info : spdlog::level::warn;
        logger->log(level, "to=<{}> relay={} tls={} status={} ({}{}{}{}{})", r.address,
                    r.remote_host.empty() ? "none" : r.remote_host, r.tls.empty() ? "none" : r.tls,
                    log_status(r.outcome), r.code == 0 ? std::string() : std::to_string(r.code),
                    r.code == 0 || r.enhanced.empty() ? "" : " ", r.enhanced, r.code == 0 && r.enhanced.empty() ? "" : " ",
                    r.text);
    }
}

}  // namespace signpost::delivery
