// relay/doctor/host_checks.cpp — the relay-host checks of `signpost doctor` that need no
// connection (see host_checks.hpp): FCrDNS and the certificate file; and the text helpers
// of host_detail.hpp. The probes that connect out are in host_probes.cpp.
#include "relay/doctor/host_checks.hpp"

#if defined(__GNUC__) && !defined(__clang__)
// A false positive of GCC 12 on awaitable frames (see relay/delivery/mx.cpp).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>

#include <boost/system/error_code.hpp>

#include "relay/doctor/host_detail.hpp"

namespace signpost::doctor {

namespace detail {

namespace asio = boost::asio;
using boost::system::error_code;
using Ms = std::chrono::milliseconds;

std::string lower_name(std::string_view s) {
    std::string out(s);
    while (!out.empty() && out.back() == '.') out.pop_back();
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// An IPv4-mapped IPv6 address is the IPv4 address it carries.
asio::ip::address normalized(const asio::ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    return a;
}

// "A" or "AAAA": which of the two answers `answer` is.
std::string record_type(const dns::AddressAnswer& answer, const dns::AddressAnswer& a) {
    if (&answer == &a) return "A";
    return "AAAA";
}

bool temporary(dns::Status s) { return s == dns::Status::servfail || s == dns::Status::timeout; }

std::string dns_reason(const dns::Answer& a) {
    if (!a.why.empty()) return a.why;
    switch (a.status) {
    case dns::Status::ok: return "no records";
    case dns::Status::nxdomain: return "NXDOMAIN";
    case dns::Status::servfail: return "SERVFAIL";
    case dns::Status::timeout: return "timeout";
    }
    return "?";
}

std::string duration_text(Ms d) {
    if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
    return std::to_string(d.count()) + "ms";
}

// Text from a peer or a certificate, for one line of evidence: control characters as
// spaces, bounded.
std::string printable(std::string_view in) {
    std::string out(in.substr(0, kMaxPeerText));
    for (char& ch : out) {
        const auto u = static_cast<unsigned char>(ch);
        if (u < 0x20 || u == 0x7f) ch = ' ';
    }
    if (in.size() > kMaxPeerText) out += "...";
    return out;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
    std::string out;
    for (const auto& i : items) {
        if (!out.empty()) out += sep;
        out += i;
    }
    return out;
}

// "a; b": adds `item` to a list in text.
void append_item(std::string& list, const std::string& item) {
    if (!list.empty()) list += "; ";
    list += item;
}

std::string address_list(const std::vector<asio::ip::address>& list) {
    std::vector<std::string> text;
    for (const auto& a : list) text.push_back(a.to_string());
    return join(text, ", ");
}

bool is_ip_literal(const std::string& host) {
    error_code ec;
    (void)asio::ip::make_address(host, ec);
    return !ec;
}

// The CN of a name, else the whole name ("/O=.../OU=...").
std::string name_text(X509_NAME* name) {
    const int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (i >= 0) {
        const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
        return printable(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                          static_cast<std::size_t>(ASN1_STRING_length(s))));
    }
    std::array<char, 256> line{};
    X509_NAME_oneline(name, line.data(), static_cast<int>(line.size()));
    return printable(line.data());
}

std::string common_name(X509* cert) { return name_text(X509_get_subject_name(cert)); }

// The names a certificate is valid for: its DNS and IP subjectAltNames, or its CN when it
// has no DNS name (the fallback OpenSSL's host check also makes).
std::vector<std::string> certificate_names(X509* cert) {
    std::vector<std::string> out;
    bool dns = false;
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
        if (g->type == GEN_DNS) {
            dns = true;
            out.push_back(printable(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)),
                                                     static_cast<std::size_t>(ASN1_STRING_length(g->d.dNSName)))));
        } else if (g->type == GEN_IPADD) {
            const unsigned char* p = ASN1_STRING_get0_data(g->d.iPAddress);
            const int n = ASN1_STRING_length(g->d.iPAddress);
            if (n == 4) {
                asio::ip::address_v4::bytes_type b;
                std::copy(p, p + 4, b.begin());
                out.push_back(asio::ip::address_v4(b).to_string());
            } else if (n == 16) {
                asio::ip::address_v6::bytes_type b;
                std::copy(p, p + 16, b.begin());
                out.push_back(asio::ip::address_v6(b).to_string());
            }
        }
    }
    GENERAL_NAMES_free(sans);
    if (!dns) out.insert(out.begin(), common_name(cert));
    return out;
}

}  // namespace detail

namespace {

namespace asio = boost::asio;
using namespace detail;
using asio::awaitable;
using boost::system::error_code;


// --- certificates ----------------------------------------------------------------------------

struct X509Free {
    void operator()(X509* x) const noexcept { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
struct StackFree {  // the stack only: its certificates are owned elsewhere
    void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }
};

std::time_t to_time(const ASN1_TIME* t) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
    return ::timegm(&tm);
}

std::string date_text(std::time_t t) {
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    std::array<char, 32> buf{};
    std::strftime(buf.data(), buf.size(), "%Y-%m-%d", &tm);
    return buf.data();
}

// The leaf's own validity is the expiry check's business; in the chain check a leaf
// outside its dates still verifies (an expired intermediate does not).
int ignore_leaf_dates(int ok, X509_STORE_CTX* ctx) {
    if (ok) return ok;
    const int err = X509_STORE_CTX_get_error(ctx);
    if (X509_STORE_CTX_get_error_depth(ctx) == 0 &&
        (err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID))
        return 1;
    return ok;
}

Check cert_check(const std::string& file, Status status, std::string evidence, std::string fix = {}) {
    return make_check("certificate", "", file, status, std::move(evidence), std::move(fix));
}

Check name_check(X509* leaf, const std::string& file, const std::string& hostname) {
    const std::vector<std::string> names = certificate_names(leaf);
    const std::string listed = join(names, ", ");
    if (hostname.empty())
        return cert_check(file, Status::skipped, "no [server] hostname to match (the certificate names " + listed + ")");
    if (X509_check_host(leaf, hostname.data(), hostname.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1)
        return cert_check(file, Status::ok, "valid for " + hostname + " (names: " + listed + ")");
    return cert_check(file, Status::fail, "the certificate names " + listed + ", not " + hostname,
                      "get a certificate for " + hostname + ": from your ACME client (e.g. certbot certonly -d " +
                          hostname + ") or your CA, written to " + file +
                          " with its intermediates; or, for clients set to trust it, signpost init --self-signed "
                          "--hostname " + hostname + " --cert " + file + " --key <key file>; then reload signpost (SIGHUP)");
}

Check chain_check(X509* leaf, const std::vector<X509Ptr>& others, const std::string& file, std::time_t now) {
    std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), &X509_STORE_free);
    std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), &X509_STORE_CTX_free);
    std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
    if (!store || !ctx || !untrusted) return cert_check(file, Status::fail, "out of memory verifying the chain");
    // The system's trusted CAs; OpenSSL reads SSL_CERT_FILE and SSL_CERT_DIR here.
    X509_STORE_set_default_paths(store.get());
    for (const auto& c : others) sk_X509_push(untrusted.get(), c.get());  // no ownership taken
    if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1)
        return cert_check(file, Status::fail, "cannot set up the chain verification");
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()), now);
    X509_STORE_CTX_set_verify_cb(ctx.get(), ignore_leaf_dates);
    const bool verified = X509_verify_cert(ctx.get()) == 1;
    std::vector<std::string> path;  // the chain as built, leaf first
    STACK_OF(X509)* built = X509_STORE_CTX_get0_chain(ctx.get());
    for (int i = 0; built && i < sk_X509_num(built); ++i) path.push_back(common_name(sk_X509_value(built, i)));
    if (verified) return cert_check(file, Status::ok, "chain verified: " + join(path, " <- ") + " (trusted)");

    const int err = X509_STORE_CTX_get_error(ctx.get());
    const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
    const std::string subject = at ? common_name(at) : std::string("?");
    const std::string reason = X509_verify_cert_error_string(err);
    switch (err) {
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        return cert_check(file, Status::warn,
                          "self-signed: mail clients that verify certificates refuse it; fine for clients set to trust "
                          "this certificate",
                          "for clients that verify certificates, get one from a CA (e.g. an ACME client such as "
                          "certbot) and write it with its intermediates to " + file +
                              "; otherwise set each client to trust this certificate");
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT: {
        std::string issuer = "?";
        if (at) issuer = name_text(X509_get_issuer_name(at));
        return cert_check(file, Status::fail,
                          "the issuer of " + subject + ", " + issuer + ", is neither in " + file + " nor a trusted CA (" +
                              reason + ")",
                          "append the intermediate certificate(s) to " + file +
                              " (the full chain, e.g. fullchain.pem), then reload signpost (SIGHUP)");
    }
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return cert_check(file, Status::fail,
                          "the chain " + join(path, " <- ") + " ends at a root CA that is not trusted",
                          "use a certificate from a CA that mail clients trust; if " + subject +
                              " is your own CA, every client must be set to trust it");
    case X509_V_ERR_INVALID_PURPOSE:
        return cert_check(file, Status::fail, subject + " is not for TLS servers (" + reason + ")",
                          "get a certificate whose extended key usage includes serverAuth (TLS Web Server "
                          "Authentication)");
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return cert_check(file, Status::fail, "the CA certificate " + subject + " in the chain: " + reason,
                          "replace the intermediate certificate(s) in " + file +
                              " with the current ones from your CA (the full chain, e.g. fullchain.pem)");
    default:
        return cert_check(file, Status::fail,
                          "chain not verified at depth " + std::to_string(depth) + " (" + subject + "): " + reason,
                          "write to " + file + " the full chain your CA issued: the certificate, then its intermediates");
    }
}

Check expiry_check(X509* leaf, const std::string& file, const std::string& hostname, std::time_t now) {
    const std::time_t not_before = to_time(X509_get0_notBefore(leaf));
    const std::time_t not_after = to_time(X509_get0_notAfter(leaf));
    const std::string name = hostname.empty() ? std::string("<hostname>") : hostname;
    std::string renew;
    if (X509_self_signed(leaf, 0) == 1)
        renew = "renew the certificate: signpost init --self-signed --hostname " + name + " --cert " + file +
                " --key <key file> (it makes a new one when fewer than 30 days are left), then reload signpost (SIGHUP)";
    else
        renew = "renew the certificate with your ACME client (e.g. certbot renew) or your CA, write the full chain to " +
                file + ", then reload signpost (SIGHUP)";
    constexpr std::time_t day = 86400;
    if (now < not_before) {
        const std::time_t days = (not_before - now + day - 1) / day;
        return cert_check(file, Status::fail,
                          "not valid before " + date_text(not_before) + " (in " + std::to_string(days) + " days)",
                          "check this machine's clock; else use a certificate that is valid now");
    }
    if (now >= not_after) {
        const std::time_t days = (now - not_after) / day;
        return cert_check(file, Status::fail,
                          "expired " + date_text(not_after) + " (" + std::to_string(days) + " days ago)", renew);
    }
    const std::time_t days = (not_after - now) / day;
    const std::string evidence = "expires " + date_text(not_after) + " (" + std::to_string(days) + " days)";
    if (days < 3) return cert_check(file, Status::fail, evidence, renew);
    if (days < 14) return cert_check(file, Status::warn, evidence, renew);
    return cert_check(file, Status::ok, evidence);
}

// --- FCrDNS ----------------------------------------------------------------------------------

Check fcrdns_check(const std::string& subject, Status status, std::string evidence, std::string fix = {}) {
    return make_check("fcrdns", "", subject, status, std::move(evidence), std::move(fix));
}

// One address of `hostname` (`forward`: all of them): its PTR names, followed forward.
awaitable<Check> fcrdns_address(dns::Resolver& resolver, std::string hostname, asio::ip::address address,
                                std::vector<asio::ip::address> forward) {
    const std::string addr = address.to_string();
    const std::string ask = "ask the owner of " + addr + " (your hosting provider or ISP) to set its PTR record to " + hostname;
    dns::NameAnswer ptr = co_await resolver.ptr(address);
    if (temporary(ptr.status)) {
        Check c = fcrdns_check(addr, Status::warn, "the PTR lookup of " + addr + " failed: " + dns_reason(ptr),
                               "run signpost doctor again later; if it keeps failing, " + ask +
                                   " and to repair the reverse zone");
        co_return c;
    }
    if (ptr.status == dns::Status::nxdomain || ptr.names.empty()) {
        Check c = fcrdns_check(addr, Status::fail, addr + " has no PTR record (" + dns::reverse_name(address) + ")", ask);
        co_return c;
    }
    for (const auto& name : ptr.names) {
        if (lower_name(name) != hostname) continue;
        // `forward` is the name's own A/AAAA answer, so the address is confirmed.
        if (std::find(forward.begin(), forward.end(), address) != forward.end()) {
            Check c = fcrdns_check(addr, Status::ok, addr + " -> PTR " + hostname + " -> " + addr);
            co_return c;
        }
    }
    // Not the host name: is it at least a forward-confirmed name (another host's)?
    std::vector<std::string> names;
    for (const auto& n : ptr.names)
        if (names.size() < kMaxPtrNames) names.push_back(printable(lower_name(n)));
    std::string confirmed, trouble, seen;
    for (const auto& name : names) {
        dns::AddressAnswer back;
        if (address.is_v4()) {
            back = co_await resolver.a(name);
        } else {
            back = co_await resolver.aaaa(name);
        }
        bool match = false;
        for (const auto& a : back.addresses)
            if (normalized(a) == address) match = true;
        if (back.status == dns::Status::ok && match) {
            confirmed = name;
            break;
        }
        if (temporary(back.status)) append_item(trouble, name + ": " + dns_reason(back));
        else if (back.status == dns::Status::ok && !back.addresses.empty())
            append_item(seen, name + " -> " + address_list(back.addresses));
        else append_item(seen, name + ": " + dns_reason(back));
    }
    const std::string listed = join(names, ", ");
    if (!confirmed.empty()) {
        Check c = fcrdns_check(addr, Status::fail,
                               addr + " -> PTR " + confirmed + " -> " + addr + ": forward-confirmed, but for " + confirmed +
                                   ", not " + hostname,
                               ask + "\nor, if " + confirmed + " is the name this relay should use, set [server] hostname = \"" +
                                   confirmed + "\"");
        co_return c;
    }
    if (!trouble.empty()) {
        Check c = fcrdns_check(addr, Status::warn, addr + " -> PTR " + listed + ", whose forward lookup failed: " + trouble,
                               "run signpost doctor again later; if it keeps failing, " + ask);
        co_return c;
    }
    std::string record = "A";
    if (address.is_v6()) record = "AAAA";
    Check c = fcrdns_check(addr, Status::fail,
                           addr + " -> PTR " + listed + ", which does not resolve back to " + addr + " (" + seen + ")",
                           ask + "\nor, if " + names.front() + " is yours, publish `" + names.front() + ". IN " + record +
                               " " + addr + "`");
    co_return c;
}

}  // namespace

// =============================================================================================

awaitable<std::vector<Check>> check_fcrdns(dns::Resolver& resolver, std::string hostname) {
    std::vector<Check> out;
    const std::string name = lower_name(hostname);
    if (name.empty()) {
        out.push_back(fcrdns_check("", Status::skipped, "no [server] hostname set"));
        co_return out;
    }
    dns::AddressAnswer a = co_await resolver.a(name);
    dns::AddressAnswer aaaa = co_await resolver.aaaa(name);
    std::vector<asio::ip::address> addresses;
    std::string trouble;  // temporary failures
    for (const dns::AddressAnswer* answer : {&a, &aaaa}) {
        if (temporary(answer->status)) append_item(trouble, record_type(*answer, a) + " " + name + ": " + dns_reason(*answer));
        if (answer->status != dns::Status::ok) continue;
        for (const auto& raw : answer->addresses) {
            const asio::ip::address addr = normalized(raw);
            if (addresses.size() < kMaxAddresses && std::find(addresses.begin(), addresses.end(), addr) == addresses.end())
                addresses.push_back(addr);
        }
    }
    if (addresses.empty()) {
        if (!trouble.empty()) {
            out.push_back(fcrdns_check(name, Status::warn, "cannot look up the addresses of " + name + ": " + trouble,
                                       "run signpost doctor again later; if it keeps failing, check the DNS of " + name +
                                           " and the resolver ([dns] forwarders)"));
        } else {
            std::string evidence = name + " has no A or AAAA record";
            if (a.status == dns::Status::nxdomain) evidence += " (the name does not exist)";
            out.push_back(fcrdns_check(name, Status::fail, evidence,
                                       "publish `" + name + ". IN A <your public address>` (and `" + name +
                                           ". IN AAAA <address>` if the relay sends over IPv6)"));
        }
        co_return out;
    }
    if (!trouble.empty())
        out.push_back(fcrdns_check(name, Status::warn, trouble + " (only the other addresses were checked)",
                                   "run signpost doctor again later; if it keeps failing, check the DNS of " + name));
    for (const auto& address : addresses) {
        Check c = co_await fcrdns_address(resolver, name, address, addresses);
        out.push_back(std::move(c));
    }
    co_return out;
}

std::vector<Check> check_certificate(const std::filesystem::path& cert_file, const std::string& hostname,
                                     std::chrono::system_clock::time_point now) {
    const std::string file = cert_file.string();
    const std::string name = lower_name(hostname);
    std::vector<Check> out;
    const std::string point = "[tls] cert: name the PEM file with the certificate chain for " + name +
                              " (or make a self-signed one: signpost init --self-signed --hostname " + name +
                              " --cert " + file + " --key <key file>)";
    std::ifstream in(cert_file, std::ios::binary);
    if (!in) {
        out.push_back(cert_check(file, Status::fail, "cannot read " + file + ": " + std::strerror(errno), point));
        return out;
    }
    std::string pem(kMaxCertFile + 1, '\0');
    in.read(pem.data(), static_cast<std::streamsize>(pem.size()));
    pem.resize(static_cast<std::size_t>(in.gcount()));
    if (pem.size() > kMaxCertFile) {
        out.push_back(cert_check(file, Status::fail, file + " is larger than 1 MiB: not a certificate chain", point));
        return out;
    }
    std::vector<X509Ptr> certs;
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    while (bio) {
        X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (!cert) break;
        certs.push_back(std::move(cert));
    }
    ERR_clear_error();  // the end of the file reads as an error
    if (certs.empty()) {
        out.push_back(cert_check(file, Status::fail, file + " holds no PEM certificate", point));
        return out;
    }
    X509* leaf = certs.front().get();
    const std::vector<X509Ptr> others(std::make_move_iterator(certs.begin() + 1), std::make_move_iterator(certs.end()));
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    out.push_back(name_check(leaf, file, name));
    out.push_back(chain_check(leaf, others, file, t));
    out.push_back(expiry_check(leaf, file, name, t));
    return out;
}

}  // namespace signpost::doctor
