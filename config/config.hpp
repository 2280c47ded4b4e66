// config/config.hpp — Signpost's configuration as plain, immutable, validated values.
//
// What it does: reads one TOML file (toml++) and turns it into a `Config` value with every
// default filled in, or into a list of located errors. toml++ types never leave this module.
// Running code holds a `std::shared_ptr<const Config>`; a reload builds a new one.
//
// Errors: every error carries file, line, column, the dotted key path and what was expected.
// Several errors are collected in one pass (a file with three mistakes gives three errors).
// Unknown keys are errors that suggest the nearest known key.
//
// Untrusted input: the file text (operator-written, but may be malformed in any way).
// Also reads the file modes of the secrets it names (TLS private key, users file, smarthost
// and [[inbound]] delivery credentials) and refuses group/world-readable ones; see
// validate_files() and LoadOptions::check_files.
//
// Threading: all functions are reentrant; Config is immutable after load.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace signpost::config {

using Duration = std::chrono::seconds;

// One problem found in a config file. `line`/`column` are 1-based; 0 when unknown (for
// example a missing file). `key` is the dotted path, with array indexes: "domain[1].name".
struct ConfigError {
    std::string file;
    std::uint32_t line = 0;
    std::uint32_t column = 0;
    std::string key;
    std::string message;

    // "file:line:col: key: message" (parts that are unknown are left out).
    std::string to_string() const;

    bool operator==(const ConfigError&) const = default;
};

enum class TlsMode { starttls, implicit };
// What a listener serves: mail submission (AUTH required before MAIL; port 587/465), or
// the domain's MX (port 25: no AUTH, RCPT only for [[inbound]] recipients, never signed).
enum class ListenerKind { submission, mx };
// A DMARC failure with p=reject on an MX listener: recorded in Authentication-Results for the
// home server to act on, or refused at the end of DATA (550 5.7.1).
enum class InboundDmarc { record, enforce };
// A bare LF in message content: a line end written as CRLF (Postfix 3.9's
// smtpd_forbid_bare_newline = normalize), or the message refused (550 5.5.2).
enum class BareLf { normalize, refuse };
enum class TlsVersion { tls1_2, tls1_3 };
enum class DkimAlgorithm { ed25519, rsa2048, rsa3072, rsa4096 };
enum class Canonicalization { simple, relaxed };
enum class DeliveryMode { mx, smarthost, capture };
enum class RouteTls { verify, may, none, dane };
enum class LogFormat { text, json };
enum class LogLevel { trace, debug, info, warn, error, critical, off };

// A listening or connecting endpoint. `host` is a literal IPv4/IPv6 address (listeners)
// or a host name (smarthost); IPv6 is written "[::1]:587" in the file.
struct Endpoint {
    std::string host;
    std::uint16_t port = 0;
    std::string to_string() const;  // "127.0.0.1:2587", "[::1]:587"

    bool operator==(const Endpoint&) const = default;
};

struct ServerConfig {
    std::string hostname;  // default: the machine's host name
    bool received_client = true;  // name the client (EHLO name, address) in Received:
    Duration shutdown_grace{25};  // SIGTERM: how long sessions may take to finish a message
    bool operator==(const ServerConfig&) const = default;
};

struct ListenerConfig {
    std::string name;  // default: "<tls>-<port>" ("mx-<port>" for kind = mx), used in logs and metric labels
    Endpoint address;
    TlsMode tls = TlsMode::starttls;  // kind = mx: starttls only (STARTTLS offered, not required)
    ListenerKind kind = ListenerKind::submission;
    // kind = "mx" only. How long the greeting waits: a client that talks before it
    // (pregreet, what bulk senders do) is refused 554 5.5.1. Default "1s" for mx.
    Duration greet_pause{0};
    // kind = "mx" only. DNS blocklists (DNSBL, RFC 5782) asked about each client address;
    // a listed client is refused 554 5.7.1 before the greeting. A lookup that fails lets
    // the client in. Default: none.
    std::vector<std::string> dnsbl;
    // kind = "mx" only. Per client address (IPv6: its /64), connections opened and messages
    // started (MAIL FROM) an hour; a client may use the whole hour's figure at once, then
    // continues at the average rate. Over it: a connection gets 421 4.7.0 before the
    // greeting, a message 451 4.7.1 at MAIL FROM. 0 = no limit. Concurrent connections
    // are [limits] max_connections_per_ip.
    std::uint32_t client_connections_per_hour = 0;  // default 600 for mx
    std::uint32_t client_messages_per_hour = 0;     // default 300 for mx
    bool operator==(const ListenerConfig&) const = default;
};

struct TlsConfig {
    std::filesystem::path cert;  // PEM chain
    std::filesystem::path key;   // PEM private key; must not be group/world-readable
    TlsVersion min_version = TlsVersion::tls1_2;
    bool operator==(const TlsConfig&) const = default;
};

struct AuthConfig {
    std::filesystem::path users_file;  // must not be group/world-readable
    Duration cache_ttl{300};           // remember a verified password this long (0 = never)
    std::uint32_t max_failures = 5;    // failed AUTH attempts before disconnect
    Duration lockout{900};             // how long an IP stays locked out after max_failures
    bool operator==(const AuthConfig&) const = default;
};

// Limits for the submission service (STYLE.md habit 7: every input has a bound).
struct LimitsConfig {
    std::uint64_t message_size = 25ull * 1000 * 1000;  // SIZE; "25MB"
    std::uint32_t max_recipients = 100;
    std::uint32_t max_connections = 1000;
    std::uint32_t max_connections_per_ip = 20;
    Duration command_timeout{300};  // RFC 5321 §4.5.3.2: 5 minutes
    Duration data_timeout{600};     // RFC 5321 §4.5.3.2: 10 minutes for the DATA block
    Duration connection_timeout{3600};
    // A DATA or BDAT transfer must average this many octets a second after a grace of
    // data_timeout: it ends by start + data_timeout + received / min_data_rate
    // (slowloris). 0 = only data_timeout between reads and connection_timeout.
    std::uint64_t min_data_rate = 500;
    BareLf bare_lf = BareLf::normalize;
    // Lines up to this many octets are folded at 998 before signing; longer ones refuse
    // the message. 998 = refuse every line over RFC 5322's limit.
    std::uint64_t max_line_length = 1000 * 1000;
    bool operator==(const LimitsConfig&) const = default;
};

struct DomainConfig {
    std::string name;                      // lower-case, no trailing dot
    std::string selector_prefix = "sp";    // selectors are "<prefix><yyyy>-<mm><letter>"
    std::vector<DkimAlgorithm> algorithms{DkimAlgorithm::ed25519, DkimAlgorithm::rsa2048};
    Duration rotate_every{90 * 86400};     // 0 = manual rotation only
    Duration publish_lead{7 * 86400};      // generate the next key this long before rotation
    Duration retire_after{12 * 86400};     // >= queue.max_lifetime + 7d (checked)
    Canonicalization header_canon = Canonicalization::relaxed;
    Canonicalization body_canon = Canonicalization::relaxed;
    std::vector<std::string> headers;      // empty = the signer's default set
    bool sign_subdomains = false;          // this domain's keys also sign for sub.name
    bool operator==(const DomainConfig&) const = default;
};

struct KeysConfig {
    std::filesystem::path dir = "/var/lib/signpost/keys";
    Duration check_interval{60};  // how often rotation runs and pending records are checked
    bool operator==(const KeysConfig&) const = default;
};

struct QueueConfig {
    std::filesystem::path dir = "/var/spool/signpost";
    Duration max_lifetime{5 * 86400};
    std::vector<Duration> retry{Duration{300}, Duration{600}, Duration{1200}, Duration{2400},
                                Duration{3600}};  // the last step repeats
    Duration warn_after{4 * 3600};                // 0 = no delay warnings
    std::uint64_t min_free_space = 100ull * 1000 * 1000;
    // While more committed messages wait for delivery than it can take on at once, a
    // finished submission waits up to this long before it is committed, so that delivery
    // keeps pace with acceptance (0 = never wait).
    Duration in_flow_delay{1};
    bool operator==(const QueueConfig&) const = default;
};

struct DeliveryConfig {
    DeliveryMode mode = DeliveryMode::mx;
    std::optional<Endpoint> smarthost;              // required when mode = smarthost
    TlsMode smarthost_tls = TlsMode::starttls;
    std::filesystem::path smarthost_credentials_file;  // "user:password", optional
    std::uint16_t mx_port = 25;                     // tests point this at a loopback port
    std::filesystem::path capture_dir;              // required when mode = capture
    std::filesystem::path extra_ca_file;            // trusted besides the system CAs
    // "TLS-Required: No" in a message (RFC 8689 §5) lets MTA-STS and DANE failures yield to
    // opportunistic TLS for it, as the RFC says; false ignores the field.
    bool honor_tls_required = true;
    // The smarthost must be DANE-authenticated (RFC 7672): its certificate matches its
    // DNSSEC-signed TLSA records instead of being checked against CAs; needs [dns] dnssec.
    bool smarthost_dane = false;
    bool operator==(const DeliveryConfig&) const = default;
};

// A per-destination override ([[route]]) for mode = "mx": another next hop and/or a TLS
// requirement for one recipient domain (exact match). Its tls outranks MTA-STS.
struct RouteConfig {
    std::string domain;              // lower case, no trailing dot
    std::optional<Endpoint> host;    // next hop instead of the MX lookup; port default 25
    std::optional<RouteTls> tls;     // verify: STARTTLS + certificate valid for the host;
                                     // may: opportunistic; none: plaintext allowed;
                                     // dane: STARTTLS + usable DNSSEC-signed TLSA records
                                     // matched (RFC 7672), else deferred
    bool operator==(const RouteConfig&) const = default;
};

// [[inbound]]: a domain this relay is the MX for. Mail to its accepted recipients (from
// any sender, on a kind = "mx" listener) is stored unsigned and forwarded to deliver_to,
// the home server; every other recipient is refused at RCPT (550 5.1.1), never bounced.
struct InboundConfig {
    std::string domain;                    // lower case, no trailing dot
    // Accepted recipients: local parts ("alice") or whole addresses ("alice@example.org"),
    // lower-cased; and/or a file of them (one per line, '#' comments), read at start and
    // on reload; or every address at the domain. At least one of the three is required.
    std::vector<std::string> recipients;
    std::filesystem::path recipients_file;
    bool any_recipient = false;
    Endpoint deliver_to;                   // the home server; port default 25 (required)
    TlsMode deliver_tls = TlsMode::starttls;  // STARTTLS (25/587) or implicit TLS (465)
    std::filesystem::path deliver_credentials_file;  // "user:password": AUTH to deliver_to
    // SHA-256 of the home server's certificate (DER), 64 lower-case hex digits (colons
    // and upper case are accepted in the file). Set: the certificate must be exactly this
    // one (self-signed is fine) instead of chaining to a CA and matching the host name.
    std::string deliver_fingerprint;
    // After this long without reaching deliver_to: a warning in the log and the
    // signpost_inbound_unreachable gauge set to 1 for the domain.
    Duration unreachable_alert{3600};
    // What a DMARC failure of a sender whose domain publishes p=reject does to mail for this
    // domain: "record" (the default) only writes dmarc=fail in Authentication-Results;
    // "enforce" refuses the message (550 5.7.1) when the policy applies (pct= sampled).
    InboundDmarc dmarc = InboundDmarc::record;
    // Greylisting (RFC 6647) of new (client /24 or /64, sender, recipient) triplets at RCPT:
    // 451 4.7.1 until a retry after greylist_delay; a triplet that passed passes at once for
    // greylist_lifetime after its last use. The list is kept in memory.
    bool greylist = true;
    Duration greylist_delay{300};
    Duration greylist_lifetime{35 * 86400};
    bool operator==(const InboundConfig&) const = default;
};

struct MtaStsConfig {
    bool enabled = true;
    std::filesystem::path cache_dir;  // default: <queue.dir>/mta-sts
    std::uint16_t https_port = 443;   // port of https://mta-sts.<domain>/; tests change it
    bool operator==(const MtaStsConfig&) const = default;
};

// [mta_sts_serve]: this relay serves the MTA-STS policy (RFC 8461 §3.2) of each [[inbound]]
// domain itself, at https://mta-sts.<domain>/.well-known/mta-sts.txt, so that publishing
// MTA-STS needs no separate web server. Absent = not served.
struct MtaStsServeConfig {
    std::optional<Endpoint> listen;  // required in the section, such as "0.0.0.0:443"
    // A certificate valid for mta-sts.<domain> of every [[inbound]] domain (one certificate
    // with each name in its subjectAltName), and its key. Senders verify it against the
    // public CAs: a self-signed certificate makes them ignore the policy.
    std::filesystem::path cert;
    std::filesystem::path key;  // must not be group/world-readable
    bool enforce = false;       // mode = "testing" (default) or "enforce"
    Duration max_age{604800};   // 1s .. 31557600s (RFC 8461 §3.2); default one week
    // The policy's mx lines: the names senders find in the domains' MX records. Default:
    // [server] hostname.
    std::vector<std::string> mx;
    bool operator==(const MtaStsServeConfig&) const = default;
};

// [tls_rpt]: daily SMTP TLS reports (RFC 8460) to the recipient domains that ask for them.
struct TlsRptConfig {
    bool enabled = false;
    std::string organization;   // "organization-name" in the reports (required when enabled)
    std::string contact;        // "contact-info"; default: `from`
    std::string from;           // the reports' From; its domain must be a [[domain]] (signed)
    int send_hour = 1;          // UTC hour after which the previous day's reports go out
    std::filesystem::path dir;  // the day's counts; default: <queue.dir>/tls-rpt
    bool operator==(const TlsRptConfig&) const = default;
};

// [doctor]: `signpost doctor` and the daemon's daily run of its DNS checks.
struct DoctorConfig {
    Duration interval{86400};  // how often the daemon re-checks DNS; 0 = never
    // The relay's public outbound addresses, for SPF. Empty: the A/AAAA records of
    // [server] hostname.
    std::vector<std::string> addresses;
    // A well-known MX that `signpost doctor` connects to (port 25, no mail sent) to tell
    // whether the network lets outbound SMTP through.
    Endpoint port25_probe{"gmail-smtp-in.l.google.com", 25};
    bool operator==(const DoctorConfig&) const = default;
};

struct DnsConfig {
    std::vector<Endpoint> forwarders;  // "127.0.0.1@5353" or "127.0.0.1"; empty = system
    bool dnssec = false;
    std::filesystem::path trust_anchor_file;  // required when dnssec = true
    Duration timeout{10};
    bool operator==(const DnsConfig&) const = default;
};

struct MetricsConfig {
    std::optional<Endpoint> listen;  // absent = no metrics endpoint
    bool operator==(const MetricsConfig&) const = default;
};

struct LogConfig {
    LogLevel level = LogLevel::info;
    LogFormat format = LogFormat::text;
    bool operator==(const LogConfig&) const = default;
};

struct Config {
    std::filesystem::path source;  // the file it was loaded from
    ServerConfig server;
    std::vector<ListenerConfig> listeners;
    TlsConfig tls;
    AuthConfig auth;
    LimitsConfig limits;
    std::vector<DomainConfig> domains;
    KeysConfig keys;
    QueueConfig queue;
    DeliveryConfig delivery;
    std::vector<RouteConfig> routes;
    std::vector<InboundConfig> inbound;
    MtaStsConfig mta_sts;
    MtaStsServeConfig mta_sts_serve;
    TlsRptConfig tls_rpt;
    DoctorConfig doctor;
    DnsConfig dns;
    MetricsConfig metrics;
    LogConfig log;

    // The domain entry that signs for `domain` (exact match, or a parent with
    // sign_subdomains), or nullptr.
    const DomainConfig* find_domain(std::string_view domain) const;
    // The [[route]] for a recipient domain (exact, case-insensitive), or nullptr.
    const RouteConfig* find_route(std::string_view domain) const;
    // The [[inbound]] entry for a recipient domain (exact, case-insensitive), or nullptr.
    const InboundConfig* find_inbound(std::string_view domain) const;

    // Field-by-field equality (to_toml round trips compare with this).
    bool operator==(const Config&) const = default;
};

struct LoadResult {
    std::shared_ptr<const Config> config;  // set only when errors is empty
    std::vector<ConfigError> errors;
    bool ok() const { return errors.empty() && config != nullptr; }
};

struct LoadOptions {
    // Check the files the config names (see validate_files()). Tests that load configs
    // naming files that do not exist turn this off; the daemon never does.
    bool check_files = true;
};

// Reads and validates a file. Relative paths inside the file are resolved against the
// file's directory. Never throws. Errors are sorted by line.
LoadResult load_file(const std::filesystem::path& path, const LoadOptions& options = {});

// Same, from text already in memory; `source_name` is used in errors and relative paths
// resolve against `base_dir` (kept relative when base_dir is empty). Does not look at the
// file system except for the checks of validate_files() (when options.check_files).
LoadResult load_string(std::string_view text, const std::string& source_name,
                       const std::filesystem::path& base_dir = {},
                       const LoadOptions& options = {});

// The file checks load_file runs after parsing: tls.cert, tls.key, auth.users_file,
// delivery.smarthost_credentials_file, delivery.extra_ca_file, dns.trust_anchor_file and
// each [[inbound]]'s recipients_file and deliver_credentials_file (when set) must exist, be
// regular files and be readable by us; the secrets among them (tls.key, auth.users_file,
// delivery.smarthost_credentials_file, inbound[N].deliver_credentials_file) must have no
// group/other permission bits (mode & 077 == 0). Called on a Config alone the errors carry the key but
// no line (the loader adds the line of each key).
std::vector<ConfigError> validate_files(const Config& config);

// The effective configuration with every default filled in, as TOML that load_string
// accepts and that yields an equal Config. Unset optional keys (no smarthost, no metrics
// listener, empty optional paths, the signer's default header list) appear as comments.
std::string to_toml(const Config& config);

// Parsers shared with the CLI. Durations: "0", "30s", "5m", "36h", "90d", "2w"
// (one unit, non-negative integer, at most 100 years). Sizes: "512", "64KB", "25MB", "1GB"
// (decimal units; KiB/MiB/GiB binary; units are case-insensitive, "B" optional).
// Return nullopt on malformed input.
std::optional<Duration> parse_duration(std::string_view text);
std::optional<std::uint64_t> parse_size(std::string_view text);
std::string format_duration(Duration d);   // largest exact unit: "90d", "5m", "0"
std::string format_size(std::uint64_t n);  // largest exact unit: "25MB"
// "host:port", "1.2.3.4:port", "[v6]:port"; the port may be left out when default_port is
// not 0. Host names are lower-cased, IP literals put in canonical form ("[0::1]" -> "::1").
std::optional<Endpoint> parse_endpoint(std::string_view text, std::uint16_t default_port = 0);

std::string_view to_string(TlsMode);
std::string_view to_string(ListenerKind);
std::string_view to_string(InboundDmarc);
std::string_view to_string(BareLf);
std::string_view to_string(TlsVersion);
std::string_view to_string(DkimAlgorithm);
std::string_view to_string(Canonicalization);
std::string_view to_string(DeliveryMode);
std::string_view to_string(RouteTls);
std::string_view to_string(LogFormat);
std::string_view to_string(LogLevel);

}  // namespace signpost::config
