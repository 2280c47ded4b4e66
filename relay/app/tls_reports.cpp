// relay/app/tls_reports.cpp — wiring of the TLS report sender (see tls_reports.hpp).
#include "relay/app/tls_reports.hpp"

#include <stdexcept>

#include "relay/delivery/smtp_session.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/submission/ingest.hpp"

namespace signpost::app {

std::shared_ptr<tlsrpt::Sender> start_tls_report_sender(boost::asio::any_io_executor io,
                                                         std::shared_ptr<const config::Config> cfg,
                                                         std::shared_ptr<tlsrpt::Store> store,
                                                         std::shared_ptr<keys::KeyStore> keys,
                                                         std::shared_ptr<queue::Spool> spool,
                                                         std::shared_ptr<queue::Manager> manager, log::Logger logger) {
    tlsrpt::SenderOptions o;
    o.organization = cfg->tls_rpt.organization;
    o.contact = cfg->tls_rpt.contact;
    o.from = cfg->tls_rpt.from;
    o.hostname = cfg->server.hostname;
    o.send_hour = cfg->tls_rpt.send_hour;
    std::string error;
    o.tls = delivery::make_client_tls_context(cfg->delivery.extra_ca_file, error);
    if (!o.tls) throw std::runtime_error("tls_rpt: delivery.extra_ca_file: " + error);
    o.queue_mail = [cfg, keys, spool, manager](const std::string& from, const std::string& rcpt,
                                               const std::string& message, std::string& why) -> std::string {
        const auto now = std::chrono::system_clock::now();
        queue::Envelope env;
        env.mail_from = from;
        env.set_recipients({rcpt});
        env.client = "local";
        env.arrival = now;
        const std::string from_domain = from.substr(from.rfind('@') + 1);
        env.prepend = submission::sign_own_message(*cfg, *keys, message, from_domain, now);
        if (env.prepend.empty()) {
            why = "no active DKIM key for " + from_domain + " (RFC 8460 §3: reports must be signed)";
            return {};
        }
        if (auto ec = spool->commit_message(env, message)) {
            why = "spool: " + ec.message();
            return {};
        }
        manager->enqueue(env);
        return env.id;
    };
    auto resolver = dns::make_unbound_resolver(io, cfg->dns);
    auto sender = std::make_shared<tlsrpt::Sender>(io, std::move(store), std::move(resolver), std::move(o), std::move(logger));
    sender->start();
    return sender;
}

}  // namespace signpost::app
