// relay/dns/txt_lookup.cpp — blocking TXT lookups through libunbound (see txt_lookup.hpp).
#include "relay/dns/txt_lookup.hpp"

#include <unbound.h>

#include "relay/dns/unbound_config.hpp"

namespace signpost::dns {
namespace {

constexpr int kTypeTxt = 16;
constexpr int kClassIn = 1;
constexpr int kRcodeNxdomain = 3;

}  // namespace

bool join_txt_rdata(std::string_view rdata, std::string& out) {
    while (!rdata.empty()) {
        auto len = static_cast<unsigned char>(rdata.front());
        if (rdata.size() < 1u + len) return false;
        out.append(rdata.substr(1, len));
        rdata.remove_prefix(1u + len);
    }
    return true;
}

TxtResolver::TxtResolver(const std::vector<std::string>& forwarders,
                         const std::string& trust_anchor_file, bool fresh)
    : ctx_(make_unbound_context({forwarders, trust_anchor_file, fresh}).release()) {}

TxtResolver::~TxtResolver() { ub_ctx_delete(ctx_); }

TxtAnswer TxtResolver::lookup(std::string_view name) {
    TxtAnswer answer;
    ub_result* result = nullptr;
    std::string qname(name);
    int rc = ub_resolve(ctx_, qname.c_str(), kTypeTxt, kClassIn, &result);
    if (rc != 0) {
        answer.error = ub_strerror(rc);
        return answer;
    }
    if (result->bogus) {
        answer.error = "DNSSEC validation failed";
    } else if (result->nxdomain || result->rcode == kRcodeNxdomain) {
        answer.status = TxtAnswer::Status::not_found;
    } else if (result->rcode != 0) {
        answer.error = "DNS rcode " + std::to_string(result->rcode);
    } else if (!result->havedata) {
        answer.status = TxtAnswer::Status::not_found;  // NODATA: the name has no TXT record
    } else {
        answer.status = TxtAnswer::Status::found;
        answer.secure = result->secure != 0;
        for (int i = 0; result->data[i] != nullptr; ++i) {
            std::string joined;
            if (!join_txt_rdata({result->data[i], static_cast<std::size_t>(result->len[i])}, joined)) {
                answer.status = TxtAnswer::Status::temp_error;
                answer.error = "malformed TXT rdata";
                answer.records.clear();
                break;
            }
            answer.records.push_back(std::move(joined));
        }
    }
    ub_resolve_free(result);
    return answer;
}

}  // namespace signpost::dns
