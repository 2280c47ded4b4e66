// config/internal.hpp — helpers shared by the config module's .cpp files and its unit
// tests. Not part of the module's contract: nothing outside config/ and tests/unit/config/
// includes this file.
//
// Holds the schema (which keys each table accepts, one list used by the loader, the
// unknown-key suggestions and the tests that keep signpost.example.toml complete), the
// enum spellings (one list used by parsing, to_string and to_toml), and small pure
// helpers for names and addresses.
//
// Threading: everything here is constant data or a pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "config/config.hpp"

namespace signpost::config::detail {

// ---- schema --------------------------------------------------------------------------

inline constexpr std::string_view kRootKeys[] = {
    "server", "listener", "tls",      "auth",    "limits",  "domain", "keys", "queue",
    "delivery", "route",  "inbound",  "mta_sts", "mta_sts_serve", "tls_rpt", "doctor", "dns",  "metrics", "log"};
inline constexpr std::string_view kServerKeys[] = {"hostname", "received_client", "shutdown_grace"};
inline constexpr std::string_view kListenerKeys[] = {"name",  "address", "tls", "kind", "greet_pause", "dnsbl",
                                                     "client_connections_per_hour", "client_messages_per_hour"};
inline constexpr std::string_view kTlsKeys[] = {"cert", "key", "min_version"};
inline constexpr std::string_view kAuthKeys[] = {"users_file", "cache_ttl", "max_failures",
                                                 "lockout"};
// "alice" for a uid in the password database, else "uid 1234".
std::string owner_name(uid_t uid);

inline constexpr std::string_view kLimitsKeys[] = {
    "message_size",    "max_recipients", "max_connections",   "max_connections_per_ip",
    "command_timeout", "data_timeout",   "connection_timeout", "min_data_rate", "bare_lf",
    "max_line_length"};
inline constexpr std::string_view kDomainKeys[] = {
    "name",         "selector_prefix",  "algorithms", "rotate_every",   "publish_lead",
    "retire_after", "canonicalization", "headers",    "sign_subdomains"};
inline constexpr std::string_view kKeysKeys[] = {"dir", "check_interval"};
inline constexpr std::string_view kQueueKeys[] = {"dir", "max_lifetime", "retry", "warn_after",
                                                  "min_free_space", "in_flow_delay"};
inline constexpr std::string_view kDeliveryKeys[] = {
    "mode",    "smarthost",   "smarthost_tls", "smarthost_credentials_file",
    "mx_port", "capture_dir", "extra_ca_file", "honor_tls_required",
    "smarthost_dane"};
inline constexpr std::string_view kRouteKeys[] = {"domain", "host", "tls"};
inline constexpr std::string_view kInboundKeys[] = {
    "domain",      "recipients",  "recipients_file",          "any_recipient",
    "deliver_to",  "deliver_tls", "deliver_credentials_file", "deliver_fingerprint",
    "unreachable_alert", "dmarc", "greylist", "greylist_delay", "greylist_lifetime"};
inline constexpr std::string_view kMtaStsKeys[] = {"enabled", "cache_dir", "https_port"};
inline constexpr std::string_view kMtaStsServeKeys[] = {"listen", "cert", "key", "mode", "max_age", "mx"};
inline constexpr std::string_view kTlsRptKeys[] = {"enabled", "organization", "contact", "from", "send_hour", "dir"};
inline constexpr std::string_view kDoctorKeys[] = {"interval", "addresses", "port25_probe"};
inline constexpr std::string_view kDnsKeys[] = {"forwarders", "dnssec", "trust_anchor_file",
                                                "timeout"};
inline constexpr std::string_view kMetricsKeys[] = {"listen"};
inline constexpr std::string_view kLogKeys[] = {"level", "format"};

struct SectionSchema {
    std::string_view name;  // top-level key
    bool is_array;          // [[name]] rather than [name]
    std::span<const std::string_view> keys;
};

// In the order of the file format (and of to_toml's output).
inline constexpr SectionSchema kSchema[] = {
    {"server", false, kServerKeys},   {"listener", true, kListenerKeys},
    {"tls", false, kTlsKeys},         {"auth", false, kAuthKeys},
    {"limits", false, kLimitsKeys},   {"domain", true, kDomainKeys},
    {"keys", false, kKeysKeys},       {"queue", false, kQueueKeys},
    {"delivery", false, kDeliveryKeys}, {"route", true, kRouteKeys},
    {"inbound", true, kInboundKeys},  {"mta_sts", false, kMtaStsKeys},
    {"mta_sts_serve", false, kMtaStsServeKeys}, {"tls_rpt", false, kTlsRptKeys},
    {"doctor", false, kDoctorKeys},
    {"dns", false, kDnsKeys},         {"metrics", false, kMetricsKeys},
    {"log", false, kLogKeys},
};

// ---- enum spellings -------------------------------------------------------------------

template <class E>
struct Named {
    std::string_view name;
    E value;
};

inline constexpr Named<TlsMode> kTlsModes[] = {{"starttls", TlsMode::starttls},
                                               {"implicit", TlsMode::implicit}};
inline constexpr Named<ListenerKind> kListenerKinds[] = {{"submission", ListenerKind::submission},
                                                         {"mx", ListenerKind::mx}};
inline constexpr Named<InboundDmarc> kInboundDmarc[] = {{"record", InboundDmarc::record},
                                                     {"enforce", InboundDmarc::enforce}};
inline constexpr Named<BareLf> kBareLf[] = {{"normalize", BareLf::normalize}, {"refuse", BareLf::refuse}};
inline constexpr Named<TlsVersion> kTlsVersions[] = {{"1.2", TlsVersion::tls1_2},
                                                     {"1.3", TlsVersion::tls1_3}};
inline constexpr Named<DkimAlgorithm> kDkimAlgorithms[] = {
    {"ed25519", DkimAlgorithm::ed25519},
    {"rsa2048", DkimAlgorithm::rsa2048},
    {"rsa3072", DkimAlgorithm::rsa3072},
    {"rsa4096", DkimAlgorithm::rsa4096}};
inline constexpr Named<Canonicalization> kCanonicalizations[] = {
    {"simple", Canonicalization::simple}, {"relaxed", Canonicalization::relaxed}};
inline constexpr Named<DeliveryMode> kDeliveryModes[] = {{"mx", DeliveryMode::mx},
                                                         {"smarthost", DeliveryMode::smarthost},
                                                         {"capture", DeliveryMode::capture}};
inline constexpr Named<RouteTls> kRouteTls[] = {
    {"verify", RouteTls::verify}, {"may", RouteTls::may}, {"none", RouteTls::none}, {"dane", RouteTls::dane}};
inline constexpr Named<LogFormat> kLogFormats[] = {{"text", LogFormat::text},
                                                   {"json", LogFormat::json}};
inline constexpr Named<LogLevel> kLogLevels[] = {
    {"trace", LogLevel::trace}, {"debug", LogLevel::debug},       {"info", LogLevel::info},
    {"warn", LogLevel::warn},   {"error", LogLevel::error},       {"critical", LogLevel::critical},
    {"off", LogLevel::off}};

// `"a", "b" or "c"` for error messages.
template <class E, std::size_t N>
std::string quoted_names(const Named<E> (&names)[N]) {
    std::string out;
    for (std::size_t i = 0; i < N; ++i) {
        if (i > 0) out += (i + 1 == N) ? " or " : ", ";
        out += '"';
        out += names[i].name;
        out += '"';
    }
    return out;
}

template <class E, std::size_t N>
std::optional<E> lookup(const Named<E> (&names)[N], std::string_view text) {
    for (const auto& n : names)
        if (n.name == text) return n.value;
    return std::nullopt;
}

template <class E, std::size_t N>
std::string_view name_of(const Named<E> (&names)[N], E value) {
    for (const auto& n : names)
        if (n.value == value) return n.name;
    return "?";
}

// ---- names and addresses --------------------------------------------------------------

std::string to_lower(std::string_view text);

// A host or domain name in LDH form (RFC 1123 §2.1, RFC 5890 A-labels): 1..253 octets,
// labels of 1..63 letters/digits/hyphens that neither start nor end with a hyphen, and a
// last label that is not all digits (RFC 3696 §2). No trailing dot. Case-insensitive.
bool is_dns_name(std::string_view name);

// The canonical text of a literal IPv4 or IPv6 address (inet_ntop form, no brackets),
// or nullopt when `text` is not one.
std::optional<std::string> normalize_ip(std::string_view text);

// parse_endpoint with a reason: `why` says what is wrong when `endpoint` is empty.
// With `ip_only`, the host must be a literal address (for addresses we bind).
struct EndpointParse {
    std::optional<Endpoint> endpoint;
    std::string why;
};
EndpointParse parse_endpoint_verbose(std::string_view text, std::uint16_t default_port,
                                     bool ip_only);

// DNS forwarders are written the unbound way: "127.0.0.1", "127.0.0.1@5353", "::1@53".
EndpointParse parse_forwarder(std::string_view text);
std::string format_forwarder(const Endpoint& endpoint);

// Optimal-string-alignment (restricted Damerau-Levenshtein) distance.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The text after `unknown key "x"`: `; did you mean "y"?` when a known key is close
// enough, otherwise `; known keys: a, b, c`.
std::string suggest_key(std::string_view unknown, std::span<const std::string_view> known);

// A TOML basic string literal, with quotes and escapes.
std::string toml_quote(std::string_view text);

// ---- file checks ------------------------------------------------------------------------

struct Location {
    std::uint32_t line = 0;
    std::uint32_t column = 0;
};
using Locator = std::function<Location(const std::string& key)>;

// validate_files() with errors attributed to `file` at the position `where` gives a key.
std::vector<ConfigError> check_files(const Config& config, const std::string& file,
                                     const Locator& where);

}  // namespace signpost::config::detail
