// tests/unit/doctor/test_host_checks.cpp — the relay-host checks of `signpost doctor`
// (relay/doctor/host_checks.hpp).
//
//   doctor_HostCertificate  the committed chains of tests/data/doctor (made by
//                           make-certs.sh) against root.pem as the only trusted CA
//                           (SSL_CERT_FILE), at moved `now` values
//   doctor_HostFcrdns       FCrDNS against a scripted resolver
//   doctor_HostPort25       an in-process listener on 127.0.0.1: a greeting, a refusal, a
//                           silent peer, a closed port
//   doctor_HostSmarthost    an in-process SMTP server: no STARTTLS, STARTTLS with a
//                           certificate made in memory, AUTH accepted and refused, implicit TLS
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <chrono>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "tests/unit/doctor/run.hpp"
#include "relay/doctor/host_checks.hpp"
#include "relay/smtp/sasl.hpp"

namespace signpost::doctor {
namespace {

namespace asio = boost::asio;
using signpost::doctor::test::run;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;

// --- helpers -----------------------------------------------------------------------------

// Answers from maps; a name (or address) not in a map is NXDOMAIN.
class ScriptedResolver final : public dns::Resolver {
public:
    std::map<std::string, dns::AddressAnswer> a_answers, aaaa_answers;
    std::map<std::string, dns::NameAnswer> ptr_answers;  // by address text
    std::vector<std::string> queries;                    // "A name", "PTR address", ...

    void set_a(const std::string& name, std::vector<std::string> addresses) { set(a_answers, name, addresses); }
    void set_aaaa(const std::string& name, std::vector<std::string> addresses) { set(aaaa_answers, name, addresses); }
    void set_ptr(const std::string& address, std::vector<std::string> names) {
        dns::NameAnswer r;
        r.status = dns::Status::ok;
        r.names = std::move(names);
        ptr_answers[address] = std::move(r);
    }
    template <class T>
    static void fail(std::map<std::string, T>& m, const std::string& key, dns::Status status, std::string why = {}) {
        T r;
        r.status = status;
        r.why = std::move(why);
        m[key] = std::move(r);
    }

    awaitable<dns::MxAnswer> mx(std::string) override { co_return dns::MxAnswer{}; }
    awaitable<dns::AddressAnswer> a(std::string name) override {
        queries.push_back("A " + name);
        co_return find(a_answers, name);
    }
    awaitable<dns::AddressAnswer> aaaa(std::string name) override {
        queries.push_back("AAAA " + name);
        co_return find(aaaa_answers, name);
    }
    awaitable<dns::TxtRecords> txt(std::string) override { co_return dns::TxtRecords{}; }
    awaitable<dns::TlsaAnswer> tlsa(std::string) override { co_return dns::TlsaAnswer{}; }
    awaitable<dns::NameAnswer> ptr(asio::ip::address address) override {
        queries.push_back("PTR " + address.to_string());
        co_return find(ptr_answers, address.to_string());
    }

private:
    static void set(std::map<std::string, dns::AddressAnswer>& m, const std::string& name,
                    const std::vector<std::string>& addresses) {
        dns::AddressAnswer r;
        r.status = dns::Status::ok;
        for (const auto& a : addresses) r.addresses.push_back(asio::ip::make_address(a));
        m[name] = std::move(r);
    }
    template <class T>
    static T find(const std::map<std::string, T>& m, const std::string& key) {
        auto it = m.find(key);
        if (it != m.end()) return it->second;
        T r;
        r.status = dns::Status::nxdomain;
        return r;
    }
};


std::chrono::system_clock::time_point utc(int year, int month, int day, int hour = 0) {
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

std::string data_file(const char* name) { return std::string(SIGNPOST_TEST_DATA_DIR) + "/doctor/" + name; }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string upper(std::string s) {
    for (char& c : s)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return s;
}

// A self-signed certificate (EC P-256, CA:TRUE so that it can be its own trust anchor)
// for `san`, valid from an hour ago for a day; PEM certificate and key.
std::pair<std::string, std::string> make_cert(const std::string& san) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("doctor test"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair{NID_subject_alt_name, san.c_str()}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_sign(x, key, EVP_sha256());
    auto pem = [](auto write) {
        BIO* b = BIO_new(BIO_s_mem());
        write(b);
        char* data = nullptr;
        const long n = BIO_get_mem_data(b, &data);
        std::string out(data, static_cast<std::size_t>(n));
        BIO_free(b);
        return out;
    };
    std::string cert = pem([&](BIO* b) { PEM_write_bio_X509(b, x); });
    std::string k = pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
    X509_free(x);
    EVP_PKEY_free(key);
    return {cert, k};
}

// One SMTP connection on 127.0.0.1: the greeting, then a reply per command; STARTTLS and
// AUTH PLAIN/LOGIN are played for real. Records the command lines it read.
struct FakeSmtp {
    explicit FakeSmtp(asio::io_context& io) : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}

    tcp::acceptor acceptor;
    std::string greeting = "220 fake.test ESMTP\r\n";
    std::string ehlo = "250-fake.test\r\n250 PIPELINING\r\n";
    std::string ehlo_tls;  // the EHLO reply inside TLS; "" = `ehlo`
    std::shared_ptr<ssl::context> tls;
    bool implicit_tls = false;
    std::string user, password;  // AUTH succeeds with these
    std::vector<std::string> received;
    bool tls_done = false;

    std::uint16_t port() const { return acceptor.local_endpoint().port(); }
    void start() { asio::co_spawn(acceptor.get_executor(), serve(), asio::detached); }

private:
    tcp::socket* socket_ = nullptr;
    std::unique_ptr<ssl::stream<tcp::socket&>> stream_;
    std::string in_;

    awaitable<bool> write(std::string data) {
        error_code ec;
        if (stream_) co_await asio::async_write(*stream_, asio::buffer(data), asio::redirect_error(asio::use_awaitable, ec));
        else co_await asio::async_write(*socket_, asio::buffer(data), asio::redirect_error(asio::use_awaitable, ec));
        co_return !ec;
    }
    awaitable<std::optional<std::string>> read_line() {
        error_code ec;
        std::size_t n = 0;
        if (stream_)
            n = co_await asio::async_read_until(*stream_, asio::dynamic_buffer(in_), "\r\n",
                                                asio::redirect_error(asio::use_awaitable, ec));
        else
            n = co_await asio::async_read_until(*socket_, asio::dynamic_buffer(in_), "\r\n",
                                                asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return std::nullopt;
        std::string line = in_.substr(0, n - 2);
        in_.erase(0, n);
        co_return line;
    }
    awaitable<bool> handshake(tcp::socket& socket) {
        stream_ = std::make_unique<ssl::stream<tcp::socket&>>(socket, *tls);
        error_code ec;
        co_await stream_->async_handshake(ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
        tls_done = !ec;
        co_return !ec;
    }
    std::string auth_reply(const std::string& u, const std::string& p) const {
        if (u == user && p == password) return "235 2.7.0 Authentication successful\r\n";
        return "535 5.7.8 Authentication credentials invalid\r\n";
    }

    awaitable<void> serve() {
        error_code ec;
        tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        socket_ = &socket;
        if (implicit_tls) {
            bool ok = co_await handshake(socket);
            if (!ok) co_return;
        }
        bool ok = co_await write(greeting);
        std::string login_user;
        int login_step = 0;
        while (ok) {
            auto line = co_await read_line();
            if (!line) break;
            received.push_back(*line);
            const std::string u = upper(*line);
            std::string reply;
            if (login_step == 1) {
                login_user = smtp::decode_base64(*line).value();
                login_step = 2;
                reply = "334 UGFzc3dvcmQ6\r\n";
            } else if (login_step == 2) {
                login_step = 0;
                reply = auth_reply(login_user, smtp::decode_base64(*line).value());
            } else if (u.rfind("EHLO ", 0) == 0) {
                reply = ehlo;
                if (stream_ && !ehlo_tls.empty()) reply = ehlo_tls;
            } else if (u == "STARTTLS") {
                ok = co_await write("220 2.0.0 go ahead\r\n");
                if (ok) ok = co_await handshake(socket);
                continue;
            } else if (u.rfind("AUTH PLAIN ", 0) == 0) {
                auto creds = smtp::parse_plain(smtp::decode_base64(line->substr(11)).value()).value();
                reply = auth_reply(creds.user, creds.password);
            } else if (u == "AUTH LOGIN") {
                login_step = 1;
                reply = "334 VXNlcm5hbWU6\r\n";
            } else if (u == "QUIT") {
                co_await write("221 2.0.0 bye\r\n");
                break;
            } else {
                reply = "502 5.5.2 not here\r\n";
            }
            ok = co_await write(reply);
        }
        if (stream_) stream_.reset();
        socket.close(ec);
    }
};

// A port on 127.0.0.1 where nothing listens.
std::uint16_t closed_port(asio::io_context& io) {
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const std::uint16_t port = a.local_endpoint().port();
    a.close();
    return port;
}

// --- the certificate -------------------------------------------------------------------------

class doctor_HostCertificate : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        // The test root is the only trusted CA: no system CA can make a chain verify.
        ::setenv("SSL_CERT_FILE", data_file("root.pem").c_str(), 1);
        ::setenv("SSL_CERT_DIR", data_file("no-such-dir").c_str(), 1);
    }
    static std::vector<Check> check(const char* file, std::chrono::system_clock::time_point now,
                                    const std::string& hostname = "mail.example.test") {
        return check_certificate(data_file(file), hostname, now);
    }
};

TEST_F(doctor_HostCertificate, FullChainValidForTheHostName) {
    auto checks = check("leaf.pem", utc(2026, 6, 1));
    ASSERT_EQ(checks.size(), 3u);
    for (const auto& c : checks) {
        EXPECT_EQ(c.id, "certificate");
        EXPECT_EQ(c.domain, "");
        EXPECT_EQ(c.subject, data_file("leaf.pem"));
        EXPECT_EQ(c.status, Status::ok) << c.evidence;
        EXPECT_EQ(c.fix, "");
    }
    EXPECT_TRUE(contains(checks[0].evidence, "valid for mail.example.test")) << checks[0].evidence;
    EXPECT_EQ(checks[1].evidence, "chain verified: mail.example.test <- Signpost doctor test intermediate <- "
                                  "Signpost doctor test root (trusted)");
    EXPECT_EQ(checks[2].evidence, "expires 2027-01-05 (218 days)");
}

TEST_F(doctor_HostCertificate, HostNameMatchesWhateverItsCaseAndTrailingDot) {
    auto checks = check("leaf.pem", utc(2026, 6, 1), "MAIL.Example.TEST.");
    ASSERT_EQ(checks.size(), 3u);
    EXPECT_EQ(checks[0].status, Status::ok) << checks[0].evidence;
}

TEST_F(doctor_HostCertificate, ExpiryWarnsUnderFourteenDaysAndFailsUnderThree) {
    struct Case {
        std::chrono::system_clock::time_point now;
        Status status;
        std::string evidence;
    };
    const std::vector<Case> cases = {
        {utc(2026, 12, 22), Status::ok, "expires 2027-01-05 (14 days)"},
        {utc(2026, 12, 27), Status::warn, "expires 2027-01-05 (9 days)"},
        {utc(2027, 1, 2), Status::warn, "expires 2027-01-05 (3 days)"},
        {utc(2027, 1, 3), Status::fail, "expires 2027-01-05 (2 days)"},
        {utc(2027, 1, 10), Status::fail, "expired 2027-01-05 (4 days ago)"},
        {utc(2025, 12, 1), Status::fail, "not valid before 2026-01-01 (in 31 days)"},
    };
    for (const auto& k : cases) {
        auto checks = check("leaf.pem", k.now);
        ASSERT_EQ(checks.size(), 3u);
        EXPECT_EQ(checks[2].status, k.status) << k.evidence;
        EXPECT_EQ(checks[2].evidence, k.evidence);
        EXPECT_EQ(checks[2].fix.empty(), k.status == Status::ok);
        // The chain check leaves the leaf's dates to the expiry check.
        EXPECT_EQ(checks[1].status, Status::ok) << checks[1].evidence;
    }
    auto late = check("leaf.pem", utc(2027, 1, 10));
    EXPECT_TRUE(contains(late[2].fix, "renew the certificate")) << late[2].fix;
    EXPECT_TRUE(contains(late[2].fix, "ACME")) << late[2].fix;
}

TEST_F(doctor_HostCertificate, MissingIntermediateFailsWithTheFileToAppendTo) {
    auto checks = check("leaf-no-intermediate.pem", utc(2026, 6, 1));
    ASSERT_EQ(checks.size(), 3u);
    EXPECT_EQ(checks[0].status, Status::ok);
    EXPECT_EQ(checks[1].status, Status::fail);
    EXPECT_TRUE(contains(checks[1].evidence, "Signpost doctor test intermediate")) << checks[1].evidence;
    EXPECT_EQ(checks[1].fix, "append the intermediate certificate(s) to " + data_file("leaf-no-intermediate.pem") +
                                 " (the full chain, e.g. fullchain.pem), then reload signpost (SIGHUP)");
    EXPECT_EQ(checks[2].status, Status::ok);
}

TEST_F(doctor_HostCertificate, SelfSignedWarns) {
    auto checks = check("self-signed.pem", utc(2026, 6, 1));
    ASSERT_EQ(checks.size(), 3u);
    EXPECT_EQ(checks[0].status, Status::ok);
    EXPECT_EQ(checks[1].status, Status::warn);
    EXPECT_TRUE(contains(checks[1].evidence, "self-signed: mail clients that verify certificates refuse it"));
    EXPECT_FALSE(checks[1].fix.empty());
    // Renewing a self-signed certificate is `signpost init --self-signed`.
    auto late = check("self-signed.pem", utc(2027, 1, 4));
    EXPECT_EQ(late[2].status, Status::fail);
    EXPECT_TRUE(contains(late[2].fix, "signpost init --self-signed --hostname mail.example.test --cert " +
                                          data_file("self-signed.pem")))
        << late[2].fix;
}

TEST_F(doctor_HostCertificate, UntrustedRootInTheFileFails) {
    auto checks = check("untrusted-root.pem", utc(2026, 6, 1));
    ASSERT_EQ(checks.size(), 3u);
    EXPECT_EQ(checks[1].status, Status::fail);
    EXPECT_TRUE(contains(checks[1].evidence, "Signpost doctor untrusted root")) << checks[1].evidence;
    EXPECT_TRUE(contains(checks[1].evidence, "not trusted")) << checks[1].evidence;
}

TEST_F(doctor_HostCertificate, WrongNameFailsNamingWhatTheCertificateHas) {
    auto checks = check("wrong-name.pem", utc(2026, 6, 1));
    ASSERT_EQ(checks.size(), 3u);
    EXPECT_EQ(checks[0].status, Status::fail);
    EXPECT_EQ(checks[0].evidence, "the certificate names other.example.test, not mail.example.test");
    EXPECT_TRUE(contains(checks[0].fix, "get a certificate for mail.example.test")) << checks[0].fix;
    EXPECT_EQ(checks[1].status, Status::ok) << checks[1].evidence;
}

TEST_F(doctor_HostCertificate, UnreadableFileIsOneFailureNamingIt) {
    auto missing = check("no-such-file.pem", utc(2026, 6, 1));
    ASSERT_EQ(missing.size(), 1u);
    EXPECT_EQ(missing[0].status, Status::fail);
    EXPECT_TRUE(contains(missing[0].evidence, data_file("no-such-file.pem"))) << missing[0].evidence;
    EXPECT_TRUE(contains(missing[0].fix, "[tls] cert")) << missing[0].fix;
    auto garbage = check("make-certs.sh", utc(2026, 6, 1));  // a file, but no PEM certificate in it
    ASSERT_EQ(garbage.size(), 1u);
    EXPECT_EQ(garbage[0].status, Status::fail);
    EXPECT_EQ(garbage[0].evidence, data_file("make-certs.sh") + " holds no PEM certificate");
}

// --- FCrDNS ----------------------------------------------------------------------------------

class doctor_HostFcrdns : public ::testing::Test {
protected:
    std::vector<Check> check(const std::string& hostname = "mail.example.test") {
        return run(io, check_fcrdns(dns, hostname));
    }
    asio::io_context io;
    ScriptedResolver dns;
};

TEST_F(doctor_HostFcrdns, EveryAddressNamesTheHostBack) {
    dns.set_a("mail.example.test", {"192.0.2.45"});
    dns.set_aaaa("mail.example.test", {"2001:db8::10"});
    dns.set_ptr("192.0.2.45", {"mail.example.test"});
    dns.set_ptr("2001:db8::10", {"other.example.test", "MAIL.Example.Test"});
    auto checks = check("Mail.Example.Test.");
    ASSERT_EQ(checks.size(), 2u);
    EXPECT_EQ(checks[0].id, "fcrdns");
    EXPECT_EQ(checks[0].subject, "192.0.2.45");
    EXPECT_EQ(checks[0].status, Status::ok);
    EXPECT_EQ(checks[0].evidence, "192.0.2.45 -> PTR mail.example.test -> 192.0.2.45");
    EXPECT_EQ(checks[1].subject, "2001:db8::10");
    EXPECT_EQ(checks[1].status, Status::ok) << checks[1].evidence;
}

TEST_F(doctor_HostFcrdns, PtrNamingAnotherHostFails) {
    dns.set_a("mail.example.test", {"192.0.2.45"});
    dns.set_ptr("192.0.2.45", {"vps-10.provider.test"});
    dns.set_a("vps-10.provider.test", {"192.0.2.45"});
    auto checks = check();
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_EQ(checks[0].status, Status::fail);
    EXPECT_TRUE(contains(checks[0].evidence, "vps-10.provider.test")) << checks[0].evidence;
    EXPECT_TRUE(contains(checks[0].fix, "ask the owner of 192.0.2.45 (your hosting provider or ISP) to set its PTR "
                                        "record to mail.example.test"))
        << checks[0].fix;
}

TEST_F(doctor_HostFcrdns, NoPtrFails) {
    dns.set_a("mail.example.test", {"192.0.2.45"});
    auto checks = check();
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_EQ(checks[0].status, Status::fail);
    EXPECT_EQ(checks[0].evidence, "192.0.2.45 has no PTR record (45.2.0.192.in-addr.arpa)");
    EXPECT_EQ(checks[0].fix, "ask the owner of 192.0.2.45 (your hosting provider or ISP) to set its PTR record to "
                             "mail.example.test");
}

TEST_F(doctor_HostFcrdns, PtrNameNotResolvingBackFails) {
    dns.set_a("mail.example.test", {"192.0.2.45"});
    dns.set_ptr("192.0.2.45", {"other.provider.test"});
    dns.set_a("other.provider.test", {"198.51.100.7"});
    auto checks = check();
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_EQ(checks[0].status, Status::fail);
    EXPECT_TRUE(contains(checks[0].evidence, "does not resolve back to 192.0.2.45")) << checks[0].evidence;
    EXPECT_TRUE(contains(checks[0].evidence, "198.51.100.7")) << checks[0].evidence;
    EXPECT_TRUE(contains(checks[0].fix, "other.provider.test. IN A 192.0.2.45")) << checks[0].fix;
}

TEST_F(doctor_HostFcrdns, NoAddressFailsWithTheRecordToPublish) {
    auto checks = check();
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_EQ(checks[0].subject, "mail.example.test");
    EXPECT_EQ(checks[0].status, Status::fail);
    EXPECT_TRUE(contains(checks[0].fix, "publish `mail.example.test. IN A <your public address>`")) << checks[0].fix;
}

TEST_F(doctor_HostFcrdns, TemporaryFailuresWarnWithTheReason) {
    ScriptedResolver::fail(dns.a_answers, "mail.example.test", dns::Status::servfail, "SERVFAIL from 127.0.0.53");
    ScriptedResolver::fail(dns.aaaa_answers, "mail.example.test", dns::Status::timeout);
    auto checks = check();
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_EQ(checks[0].status, Status::warn);
    EXPECT_TRUE(contains(checks[0].evidence, "SERVFAIL from 127.0.0.53")) << checks[0].evidence;

    // The names resolve, the reverse zone does not answer.
    dns.set_a("mail.example.test", {"192.0.2.45"});
    dns.set_aaaa("mail.example.test", {});
    ScriptedResolver::fail(dns.ptr_answers, "192.0.2.45", dns::Status::servfail, "SERVFAIL");
    checks = check();
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_EQ(checks[0].subject, "192.0.2.45");
    EXPECT_EQ(checks[0].status, Status::warn);
    EXPECT_TRUE(contains(checks[0].evidence, "PTR lookup of 192.0.2.45 failed: SERVFAIL")) << checks[0].evidence;
}

TEST_F(doctor_HostFcrdns, Ipv4MappedAddressIsTheIpv4Address) {
    dns.set_a("mail.example.test", {"192.0.2.45"});
    dns.set_aaaa("mail.example.test", {"::ffff:192.0.2.45"});
    dns.set_ptr("192.0.2.45", {"mail.example.test"});
    auto checks = check();
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_EQ(checks[0].subject, "192.0.2.45");
    EXPECT_EQ(checks[0].status, Status::ok);
}

// --- outbound port 25 ------------------------------------------------------------------------

TEST(doctor_HostPort25, GreetingIsOk) {
    asio::io_context io;
    ScriptedResolver dns;
    FakeSmtp server(io);
    server.greeting = "220 mx.example.test ESMTP ready\r\n";
    server.start();
    dns.set_a("mx.example.test", {"127.0.0.1"});
    const auto port = server.port();
    Check c = run(io, check_port25(dns, "mx.example.test", port, 5s));
    EXPECT_EQ(c.id, "port25");
    EXPECT_EQ(c.subject, "mx.example.test:" + std::to_string(port));
    EXPECT_EQ(c.status, Status::ok) << c.evidence;
    EXPECT_EQ(c.evidence, "connected to mx.example.test[127.0.0.1]:" + std::to_string(port) +
                              ", greeting 220 mx.example.test ESMTP ready");
    EXPECT_EQ(server.received, std::vector<std::string>{"QUIT"});
}

TEST(doctor_HostPort25, RefusedConnectionFails) {
    asio::io_context io;
    ScriptedResolver dns;
    const auto port = closed_port(io);
    Check c = run(io, check_port25(dns, "127.0.0.1", port, 5s));
    EXPECT_EQ(c.status, Status::fail);
    EXPECT_TRUE(contains(c.evidence, "appears blocked")) << c.evidence;
    EXPECT_TRUE(contains(c.evidence, "refused")) << c.evidence;
    EXPECT_TRUE(contains(c.fix, "ask your provider to open outbound port 25, or use mode = \"smarthost\"")) << c.fix;
    EXPECT_TRUE(dns.queries.empty());  // an IP literal is not looked up
}

TEST(doctor_HostPort25, SilentPeerTimesOut) {
    asio::io_context io;
    ScriptedResolver dns;
    // Listening, never accepting: the kernel completes the connection, nobody greets.
    tcp::acceptor silent(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto start = std::chrono::steady_clock::now();
    Check c = run(io, check_port25(dns, "127.0.0.1", silent.local_endpoint().port(), 300ms));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    EXPECT_EQ(c.status, Status::fail);
    EXPECT_TRUE(contains(c.evidence, "no greeting (timeout after 300ms)")) << c.evidence;
    EXPECT_TRUE(contains(c.fix, "smarthost")) << c.fix;
}

TEST(doctor_HostPort25, RefusingGreetingWarns) {
    asio::io_context io;
    ScriptedResolver dns;
    FakeSmtp server(io);
    server.greeting = "554 5.7.1 your address is listed\r\n";
    server.start();
    Check c = run(io, check_port25(dns, "127.0.0.1", server.port(), 5s));
    EXPECT_EQ(c.status, Status::warn);
    EXPECT_TRUE(contains(c.evidence, "greeting 554 5.7.1 your address is listed")) << c.evidence;
}

TEST(doctor_HostPort25, UnresolvableHostWarns) {
    asio::io_context io;
    ScriptedResolver dns;
    Check c = run(io, check_port25(dns, "mx.example.test", 25, 5s));
    EXPECT_EQ(c.status, Status::warn);
    EXPECT_TRUE(contains(c.evidence, "cannot resolve mx.example.test")) << c.evidence;
}

// --- the smarthost ---------------------------------------------------------------------------

class doctor_HostSmarthost : public ::testing::Test {
protected:
    void SetUp() override {
        dns.set_a("smarthost.test", {"127.0.0.1"});
        auto [cert, key] = make_cert("DNS:smarthost.test");
        ca_file = std::filesystem::path(::testing::TempDir()) / ("doctor-smarthost-ca-" + std::to_string(::getpid()) + ".pem");
        std::ofstream(ca_file) << cert;
        server_tls = std::make_shared<ssl::context>(ssl::context::tls_server);
        server_tls->use_certificate_chain(asio::buffer(cert));
        server_tls->use_private_key(asio::buffer(key), ssl::context::pem);
    }
    void TearDown() override { std::filesystem::remove(ca_file); }

    SmarthostProbe probe(std::uint16_t port) {
        SmarthostProbe p;
        p.endpoint = config::Endpoint{"smarthost.test", port};
        p.extra_ca_file = ca_file;
        p.helo = "relay.example.test";
        p.timeout = 5s;
        return p;
    }
    // A server offering STARTTLS, then AUTH inside TLS.
    void tls_server(FakeSmtp& s) {
        s.tls = server_tls;
        s.ehlo = "250-fake.test\r\n250-STARTTLS\r\n250 PIPELINING\r\n";
        s.ehlo_tls = "250-fake.test\r\n250-AUTH PLAIN LOGIN\r\n250 PIPELINING\r\n";
        s.user = "bob";
        s.password = "secret";
    }

    asio::io_context io;
    ScriptedResolver dns;
    std::filesystem::path ca_file;
    std::shared_ptr<ssl::context> server_tls;
};

TEST_F(doctor_HostSmarthost, RefusedConnectionFails) {
    const auto port = closed_port(io);
    Check c = run(io, check_smarthost(dns, probe(port)));
    EXPECT_EQ(c.id, "smarthost");
    EXPECT_EQ(c.subject, "smarthost.test:" + std::to_string(port));
    EXPECT_EQ(c.status, Status::fail);
    EXPECT_TRUE(contains(c.evidence, "cannot connect")) << c.evidence;
    EXPECT_TRUE(contains(c.fix, "[delivery] smarthost")) << c.fix;
}

TEST_F(doctor_HostSmarthost, NoStarttlsFailsAndNothingIsSent) {
    FakeSmtp server(io);
    server.ehlo = "250-fake.test\r\n250-AUTH PLAIN\r\n250 PIPELINING\r\n";
    server.start();
    auto p = probe(server.port());
    p.credentials = std::pair<std::string, std::string>{"bob", "secret"};
    Check c = run(io, check_smarthost(dns, p));
    EXPECT_EQ(c.status, Status::fail);
    EXPECT_TRUE(contains(c.evidence, "does not offer STARTTLS")) << c.evidence;
    EXPECT_TRUE(contains(c.fix, "smarthost_tls")) << c.fix;
    // No AUTH in plaintext: EHLO, then QUIT.
    EXPECT_EQ(server.received, (std::vector<std::string>{"EHLO relay.example.test", "QUIT"}));
}

TEST_F(doctor_HostSmarthost, RefusingGreetingFails) {
    FakeSmtp server(io);
    server.greeting = "554 5.7.1 not from you\r\n";
    server.start();
    Check c = run(io, check_smarthost(dns, probe(server.port())));
    EXPECT_EQ(c.status, Status::fail);
    EXPECT_TRUE(contains(c.evidence, "554 5.7.1 not from you")) << c.evidence;
}

TEST_F(doctor_HostSmarthost, StarttlsVerifiedAndAuthPlainAccepted) {
    FakeSmtp server(io);
    tls_server(server);
    server.start();
    auto p = probe(server.port());
    p.credentials = std::pair<std::string, std::string>{"bob", "secret"};
    Check c = run(io, check_smarthost(dns, p));
    EXPECT_EQ(c.status, Status::ok) << c.evidence << " / " << c.fix;
    EXPECT_TRUE(c.evidence.rfind("smarthost.test[127.0.0.1]:" + std::to_string(server.port()) + " STARTTLS TLSv1.", 0) == 0)
        << c.evidence;
    EXPECT_TRUE(contains(c.evidence, "certificate verified, AUTH PLAIN accepted for user bob")) << c.evidence;
    EXPECT_TRUE(server.tls_done);
    ASSERT_EQ(server.received.size(), 5u);
    EXPECT_EQ(server.received[1], "STARTTLS");
    EXPECT_EQ(server.received[2], "EHLO relay.example.test");
    EXPECT_EQ(server.received[3].rfind("AUTH PLAIN ", 0), 0u);
    EXPECT_EQ(server.received[4], "QUIT");
}

TEST_F(doctor_HostSmarthost, AuthRefusedFailsWithTheServersReply) {
    FakeSmtp server(io);
    tls_server(server);
    server.start();
    auto p = probe(server.port());
    p.credentials = std::pair<std::string, std::string>{"bob", "wrong"};
    Check c = run(io, check_smarthost(dns, p));
    EXPECT_EQ(c.status, Status::fail);
    EXPECT_TRUE(contains(c.evidence, "AUTH PLAIN refused for user bob: 535 5.7.8")) << c.evidence;
    EXPECT_TRUE(contains(c.fix, "[delivery] smarthost_credentials_file: the smarthost refused user bob (535 5.7.8"))
        << c.fix;
}

TEST_F(doctor_HostSmarthost, AuthLoginWhenPlainIsNotOffered) {
    FakeSmtp server(io);
    tls_server(server);
    server.ehlo_tls = "250-fake.test\r\n250 AUTH LOGIN\r\n";
    server.start();
    auto p = probe(server.port());
    p.credentials = std::pair<std::string, std::string>{"bob", "secret"};
    Check c = run(io, check_smarthost(dns, p));
    EXPECT_EQ(c.status, Status::ok) << c.evidence;
    EXPECT_TRUE(contains(c.evidence, "AUTH LOGIN accepted for user bob")) << c.evidence;
}

TEST_F(doctor_HostSmarthost, WithoutCredentialsNoAuthIsTried) {
    FakeSmtp server(io);
    tls_server(server);
    server.start();
    Check c = run(io, check_smarthost(dns, probe(server.port())));
    EXPECT_EQ(c.status, Status::ok) << c.evidence;
    EXPECT_TRUE(contains(c.evidence, "no AUTH tried (no credentials configured; offered: PLAIN LOGIN)")) << c.evidence;
    EXPECT_EQ(server.received.back(), "QUIT");
}

TEST_F(doctor_HostSmarthost, CredentialsButNoAuthOfferedWarns) {
    FakeSmtp server(io);
    tls_server(server);
    server.ehlo_tls = "250-fake.test\r\n250 PIPELINING\r\n";
    server.start();
    auto p = probe(server.port());
    p.credentials = std::pair<std::string, std::string>{"bob", "secret"};
    Check c = run(io, check_smarthost(dns, p));
    EXPECT_EQ(c.status, Status::warn) << c.evidence;
    EXPECT_TRUE(contains(c.evidence, "AUTH is not offered")) << c.evidence;
}

TEST_F(doctor_HostSmarthost, UntrustedCertificateFails) {
    FakeSmtp server(io);
    tls_server(server);
    server.start();
    auto p = probe(server.port());
    p.extra_ca_file.clear();
    Check c = run(io, check_smarthost(dns, p));
    EXPECT_EQ(c.status, Status::fail);
    EXPECT_TRUE(contains(c.evidence, "is not verified")) << c.evidence;
    EXPECT_TRUE(contains(c.fix, "extra_ca_file")) << c.fix;
}

TEST_F(doctor_HostSmarthost, CertificateForAnotherNameFails) {
    FakeSmtp server(io);
    tls_server(server);
    server.start();
    dns.set_a("relay.other.test", {"127.0.0.1"});
    auto p = probe(server.port());
    p.endpoint.host = "relay.other.test";
    Check c = run(io, check_smarthost(dns, p));
    EXPECT_EQ(c.status, Status::fail);
    EXPECT_TRUE(contains(c.evidence, "not valid for relay.other.test (it names smarthost.test)")) << c.evidence;
}

TEST_F(doctor_HostSmarthost, ImplicitTls) {
    FakeSmtp server(io);
    tls_server(server);
    server.implicit_tls = true;
    server.ehlo = server.ehlo_tls;
    server.start();
    auto p = probe(server.port());
    p.tls = config::TlsMode::implicit;
    p.credentials = std::pair<std::string, std::string>{"bob", "secret"};
    Check c = run(io, check_smarthost(dns, p));
    EXPECT_EQ(c.status, Status::ok) << c.evidence;
    EXPECT_TRUE(contains(c.evidence, " implicit TLS TLSv1.")) << c.evidence;
    EXPECT_TRUE(contains(c.evidence, "AUTH PLAIN accepted for user bob")) << c.evidence;
}

}  // namespace
}  // namespace signpost::doctor
