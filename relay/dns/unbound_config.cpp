// relay/dns/unbound_config.cpp — the project's libunbound settings (see unbound_config.hpp).
#include "relay/dns/unbound_config.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <unbound.h>

namespace signpost::dns {

void UbCtxDelete::operator()(ub_ctx* ctx) const noexcept { ub_ctx_delete(ctx); }

void check_unbound(int rc, const std::string& what) {
    if (rc != 0) throw std::runtime_error(what + ": " + ub_strerror(rc));
}

UbCtxPtr make_unbound_context(const UnboundSettings& settings) {
    UbCtxPtr ctx(ub_ctx_create());
    if (!ctx) throw std::runtime_error("cannot create a libunbound context");
    ub_ctx* c = ctx.get();
    if (settings.forwarders.empty()) {
        check_unbound(ub_ctx_resolvconf(c, nullptr), "reading /etc/resolv.conf");
    } else {
        // Tests forward to 127.0.0.1; unbound refuses loopback servers by default.
        check_unbound(ub_ctx_set_option(c, "do-not-query-localhost:", "no"), "do-not-query-localhost");
        // unbound answers the RFC 6761 name "test." itself (NXDOMAIN) by default; with
        // explicit forwarders, the forwarder decides, so test zones can be served.
        check_unbound(ub_ctx_set_option(c, "local-zone:", "test. transparent"), "local-zone test.");
        // Likewise the reverse zone of 127.0.0.0/8, which unbound answers itself ("localhost"
        // for 127.0.0.1 only): test hosts live on loopback addresses and have PTR records.
        check_unbound(ub_ctx_set_option(c, "local-zone:", "127.in-addr.arpa. transparent"),
                      "local-zone 127.in-addr.arpa.");
        for (const auto& f : settings.forwarders) check_unbound(ub_ctx_set_fwd(c, f.c_str()), "forwarder " + f);
    }
    if (settings.fresh) {
        check_unbound(ub_ctx_set_option(c, "cache-max-ttl:", "0"), "cache-max-ttl");
        check_unbound(ub_ctx_set_option(c, "cache-max-negative-ttl:", "0"), "cache-max-negative-ttl");
    }
    if (!settings.trust_anchor_file.empty()) {
        // libunbound reads the file only when the first query finalizes the context; read
        // it once here so that a wrong path fails at start-up, naming the file.
        if (!std::ifstream(settings.trust_anchor_file))
            throw std::runtime_error("trust anchor " + settings.trust_anchor_file + ": " + std::strerror(errno));
        check_unbound(ub_ctx_add_ta_file(c, settings.trust_anchor_file.c_str()),
                      "trust anchor " + settings.trust_anchor_file);
    }
    return ctx;
}

}  // namespace signpost::dns
