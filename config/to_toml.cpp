// config/to_toml.cpp — to_toml: a Config back to TOML, every default written out.
//
// The output follows the schema order of config/internal.hpp (kSchema) and writes
// durations and sizes with format_duration / format_size, so load_string(to_toml(c))
// yields a Config equal to c. Keys whose "unset" state has no TOML spelling (an empty
// optional path, no smarthost, no metrics listener, the signer's default header list, no
// [[inbound]] fingerprint) are left out, with a comment where that helps a reader of
// `signpost check-config`.
//
// Pure: no I/O.
#include <sstream>

#include "config/config.hpp"
#include "config/internal.hpp"

namespace signpost::config {
namespace {

using detail::toml_quote;

class Writer {
public:
    void section(std::string_view name) { header("[", name, "]"); }
    void array_section(std::string_view name) { header("[[", name, "]]"); }
    void comment(std::string_view text) { out_ << "# " << text << "\n"; }
    void blank() {
        out_ << "\n";
        first_ = true;  // the next header needs no blank line of its own
    }

    void str(std::string_view key, std::string_view value) {
        out_ << key << " = " << toml_quote(value) << "\n";
    }
    void path(std::string_view key, const std::filesystem::path& p) { str(key, p.string()); }
    // Optional paths: empty means unset and is left out.
    void opt_path(std::string_view key, const std::filesystem::path& p) {
        if (p.empty()) comment(std::string(key) + " is not set");
        else path(key, p);
    }
    void num(std::string_view key, std::uint64_t v) { out_ << key << " = " << v << "\n"; }
    void boolean(std::string_view key, bool v) { out_ << key << " = " << (v ? "true" : "false") << "\n"; }
    void duration(std::string_view key, Duration d) { str(key, format_duration(d)); }
    void size(std::string_view key, std::uint64_t n) { str(key, format_size(n)); }
    template <class T>
    void strings(std::string_view key, const std::vector<T>& items, auto&& to_text) {
        out_ << key << " = [";
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i > 0) out_ << ", ";
            out_ << toml_quote(to_text(items[i]));
        }
        out_ << "]\n";
    }

    std::string text() const { return out_.str(); }

private:
    void header(std::string_view open, std::string_view name, std::string_view close) {
        if (!first_) out_ << "\n";
        first_ = false;
        out_ << open << name << close << "\n";
    }

    std::ostringstream out_;
    bool first_ = true;
};

}  // namespace

std::string to_toml(const Config& c) {
    Writer w;
    w.comment("Signpost effective configuration: every key, defaults filled in.");
    if (!c.source.empty()) w.comment("Loaded from " + c.source.string());
    w.blank();

    w.section("server");
    w.str("hostname", c.server.hostname);
    w.boolean("received_client", c.server.received_client);
    w.duration("shutdown_grace", c.server.shutdown_grace);

    for (const ListenerConfig& l : c.listeners) {
        w.array_section("listener");
        w.str("name", l.name);
        w.str("address", l.address.to_string());
        w.str("tls", to_string(l.tls));
        w.str("kind", to_string(l.kind));
        if (l.kind == ListenerKind::mx) {
            w.duration("greet_pause", l.greet_pause);
            w.strings("dnsbl", l.dnsbl, [](const std::string& z) { return std::string_view(z); });
            w.num("client_connections_per_hour", l.client_connections_per_hour);
            w.num("client_messages_per_hour", l.client_messages_per_hour);
        }
    }

    w.section("tls");
    w.path("cert", c.tls.cert);
    w.path("key", c.tls.key);
    w.str("min_version", to_string(c.tls.min_version));

    w.section("auth");
    w.path("users_file", c.auth.users_file);
    w.duration("cache_ttl", c.auth.cache_ttl);
    w.num("max_failures", c.auth.max_failures);
    w.duration("lockout", c.auth.lockout);

    w.section("limits");
    w.size("message_size", c.limits.message_size);
    w.num("max_recipients", c.limits.max_recipients);
    w.num("max_connections", c.limits.max_connections);
    w.num("max_connections_per_ip", c.limits.max_connections_per_ip);
    w.duration("command_timeout", c.limits.command_timeout);
    w.duration("data_timeout", c.limits.data_timeout);
    w.duration("connection_timeout", c.limits.connection_timeout);
    w.num("min_data_rate", c.limits.min_data_rate);
    w.str("bare_lf", to_string(c.limits.bare_lf));
    w.size("max_line_length", c.limits.max_line_length);

    for (const DomainConfig& d : c.domains) {
        w.array_section("domain");
        w.str("name", d.name);
        w.str("selector_prefix", d.selector_prefix);
        w.strings("algorithms", d.algorithms, [](DkimAlgorithm a) { return to_string(a); });
        w.duration("rotate_every", d.rotate_every);
        w.duration("publish_lead", d.publish_lead);
        w.duration("retire_after", d.retire_after);
        w.str("canonicalization",
              std::string(to_string(d.header_canon)) + "/" + std::string(to_string(d.body_canon)));
        if (d.headers.empty())
            w.comment("headers is not set: the signer's default header list");
        else
            w.strings("headers", d.headers, [](const std::string& h) { return std::string_view(h); });
        w.boolean("sign_subdomains", d.sign_subdomains);
    }

    w.section("keys");
    w.path("dir", c.keys.dir);
    w.duration("check_interval", c.keys.check_interval);

    w.section("queue");
    w.path("dir", c.queue.dir);
    w.duration("max_lifetime", c.queue.max_lifetime);
    w.strings("retry", c.queue.retry, [](Duration d) { return format_duration(d); });
    w.duration("warn_after", c.queue.warn_after);
    w.size("min_free_space", c.queue.min_free_space);
    w.duration("in_flow_delay", c.queue.in_flow_delay);

    w.section("delivery");
    w.str("mode", to_string(c.delivery.mode));
    if (c.delivery.smarthost) w.str("smarthost", c.delivery.smarthost->to_string());
    else w.comment("smarthost is not set");
    w.str("smarthost_tls", to_string(c.delivery.smarthost_tls));
    w.opt_path("smarthost_credentials_file", c.delivery.smarthost_credentials_file);
    w.num("mx_port", c.delivery.mx_port);
    w.opt_path("capture_dir", c.delivery.capture_dir);
    w.opt_path("extra_ca_file", c.delivery.extra_ca_file);
    w.boolean("honor_tls_required", c.delivery.honor_tls_required);
    w.boolean("smarthost_dane", c.delivery.smarthost_dane);

    for (const RouteConfig& r : c.routes) {
        w.array_section("route");
        w.str("domain", r.domain);
        if (r.host) w.str("host", r.host->to_string());
        if (r.tls) w.str("tls", to_string(*r.tls));
    }

    for (const InboundConfig& in : c.inbound) {
        w.array_section("inbound");
        w.str("domain", in.domain);
        w.strings("recipients", in.recipients, [](const std::string& r) { return std::string_view(r); });
        w.opt_path("recipients_file", in.recipients_file);
        w.boolean("any_recipient", in.any_recipient);
        w.str("deliver_to", in.deliver_to.to_string());
        w.str("deliver_tls", to_string(in.deliver_tls));
        w.opt_path("deliver_credentials_file", in.deliver_credentials_file);
        if (in.deliver_fingerprint.empty())
            w.comment("deliver_fingerprint is not set: a CA-signed certificate for the host is required");
        else
            w.str("deliver_fingerprint", in.deliver_fingerprint);
        w.duration("unreachable_alert", in.unreachable_alert);
        w.str("dmarc", to_string(in.dmarc));
        w.boolean("greylist", in.greylist);
        w.duration("greylist_delay", in.greylist_delay);
        w.duration("greylist_lifetime", in.greylist_lifetime);
    }

    w.section("mta_sts");
    w.boolean("enabled", c.mta_sts.enabled);
    w.path("cache_dir", c.mta_sts.cache_dir);
    w.num("https_port", c.mta_sts.https_port);
    if (const MtaStsServeConfig& m = c.mta_sts_serve; m.listen) {
        w.section("mta_sts_serve");
        w.str("listen", m.listen->to_string());
        w.path("cert", m.cert);
        w.path("key", m.key);
        w.str("mode", m.enforce ? "enforce" : "testing");
        w.duration("max_age", m.max_age);
        w.strings("mx", m.mx, [](const std::string& h) { return std::string_view(h); });
    }
    w.section("tls_rpt");
    w.boolean("enabled", c.tls_rpt.enabled);
    w.str("organization", c.tls_rpt.organization);
    w.str("contact", c.tls_rpt.contact);
    w.str("from", c.tls_rpt.from);
    w.num("send_hour", c.tls_rpt.send_hour);
    w.path("dir", c.tls_rpt.dir);

    w.section("doctor");
    w.duration("interval", c.doctor.interval);
    w.strings("addresses", c.doctor.addresses, [](const std::string& a) { return std::string_view(a); });
    w.str("port25_probe", c.doctor.port25_probe.to_string());

    w.section("dns");
    w.strings("forwarders", c.dns.forwarders, [](const Endpoint& e) { return detail::format_forwarder(e); });
    w.boolean("dnssec", c.dns.dnssec);
    w.opt_path("trust_anchor_file", c.dns.trust_anchor_file);
    w.duration("timeout", c.dns.timeout);

    w.section("metrics");
    if (c.metrics.listen) w.str("listen", c.metrics.listen->to_string());
    else w.comment("listen is not set: no metrics endpoint");

    w.section("log");
    w.str("level", to_string(c.log.level));
    w.str("format", to_string(c.log.format));
    return w.text();
}

}  // namespace signpost::config
