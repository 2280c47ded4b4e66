// tests/unit/delivery/test_cert_pin.cpp — certificate pinning (cert_pin.hpp,
// SessionOptions::pinned_sha256) against the scripted server on 127.0.0.1 with a
// self-signed certificate whose name matches nothing we connect to: a matching pin
// delivers (STARTTLS and implicit TLS, the session, the smarthost deliverer and an
// [[inbound]] entry's home-server deliverer), a wrong pin is a temporary 4.7.5 naming
// both fingerprints with nothing sent after STARTTLS, a malformed pin fails closed, and
// the connection pool never mixes pinned and unpinned connections.

// GCC 12 at -O1 (scripts/test.sh's optimization of test sources) reports an awaitable
// frame's own operator delete as "mismatched" with its operator new: the false positive
// of -Wmismatched-new-delete on coroutine frames, as in relay/submission/server.cpp.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <gtest/gtest.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <optional>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include "fake_server.hpp"
#include "relay/delivery/cert_pin.hpp"
#include "relay/delivery/connection_pool.hpp"
#include "relay/delivery/inbound.hpp"
#include "relay/delivery/smarthost.hpp"
#include "relay/delivery/smtp_session.hpp"

namespace {

namespace asio = boost::asio;
using namespace signpost;
using namespace signpost::delivery;
using namespace signpost::delivery::test;
using namespace std::chrono_literals;

const std::string kMessage = "From: alice@example.test\r\nSubject: s\r\n\r\nbody\r\n";

// The certificate's SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` computes it
// (X509_digest: an oracle independent of cert_pin.cpp), lower-case hex.
std::string fingerprint(const TestCert& cert) {
    BIO* bio = BIO_new_mem_buf(cert.cert_pem.data(), static_cast<int>(cert.cert_pem.size()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EXPECT_EQ(X509_digest(x, EVP_sha256(), md, &n), 1);
    X509_free(x);
    std::string out;
    char buf[3];
    for (unsigned int i = 0; i < n; ++i) {
        std::snprintf(buf, sizeof buf, "%02x", md[i]);
        out += buf;
    }
    return out;
}

// "AB:CD:..." as openssl prints it.
std::string openssl_style(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        if (!out.empty()) out += ':';
        out += static_cast<char>(std::toupper(static_cast<unsigned char>(hex[i])));
        out += static_cast<char>(std::toupper(static_cast<unsigned char>(hex[i + 1])));
    }
    return out;
}

struct Fixture {
    TempDir dir;
    // Self-signed, and named after nothing the tests connect to.
    TestCert cert = make_test_cert("DNS:home.invalid");
    std::string pin = fingerprint(cert);
    const std::string wrong = std::string(64, 'a');

    Script script(bool implicit = false) const {
        Script s;
        s.tls = server_context(cert);
        s.implicit_tls = implicit;
        s.ehlo = "250-fake.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n";
        s.ehlo_tls = "250-fake.test\r\n250 PIPELINING\r\n";
        if (implicit) s.ehlo = s.ehlo_tls;
        return s;
    }
    // required_verified with only the system CAs: without the pin nothing would pass.
    SessionOptions options(std::string pinned) const {
        SessionOptions o;
        o.helo_name = "relay.example.net";
        o.tls = TlsPolicy::required_verified;
        o.timeouts = short_timeouts();
        std::string error;
        o.tls_context = make_client_tls_context({}, error);
        EXPECT_TRUE(o.tls_context) << error;
        o.pinned_sha256 = std::move(pinned);
        return o;
    }
};

struct Run {
    SessionResult result;
    std::vector<Record> records;
};

Run run_session(Script script, Job job, SessionOptions options, std::string host = "nas.example") {
    asio::io_context io;
    FakeServer server(io, std::move(script));
    server.start();
    std::optional<SessionResult> result;
    asio::co_spawn(io, run_smtp_session(std::move(job), SessionTarget{server.endpoint(), host}, std::move(options)),
                   [&](std::exception_ptr e, SessionResult r) {
                       if (e) std::rethrow_exception(e);
                       result = std::move(r);
                       server.close();
                   });
    io.run_for(20s);
    Run run;
    EXPECT_TRUE(result.has_value()) << "the session did not finish";
    if (result) run.result = std::move(*result);
    run.records = server.records;
    return run;
}

TEST(delivery_CertPin, NormalizeTable) {
    const std::string hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    struct Row {
        std::string name;
        std::string text;
        std::optional<std::string> want;
    };
    std::string raw;
    for (std::size_t i = 0; i < hex.size(); i += 2) raw += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    std::string upper = hex;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const std::vector<Row> rows = {
        {"lower-case hex", hex, hex},
        {"upper-case hex", upper, hex},
        {"openssl colons", openssl_style(hex), hex},
        {"lower-case colons",
         "ba:78:16:bf:8f:01:cf:ea:41:41:40:de:5d:ae:22:23:b0:03:61:a3:96:17:7a:9c:b4:10:ff:61:f2:00:15:ad", hex},
        {"32 raw octets", raw, hex},
        {"empty", "", std::nullopt},
        {"63 digits", hex.substr(1), std::nullopt},
        {"65 digits", hex + "0", std::nullopt},
        {"not hex", std::string(63, 'a') + "g", std::nullopt},
        {"a colon out of place", "b:a78" + openssl_style(hex).substr(5), std::nullopt},
        {"SHA-1 length", std::string(40, 'a'), std::nullopt},
        {"spaces", std::string(64, ' '), std::nullopt},
    };
    for (const auto& row : rows) EXPECT_EQ(normalize_sha256_pin(row.text), row.want) << row.name;
    EXPECT_EQ(sha256_hex("abc"), hex);  // FIPS 180-2's example
}

TEST(delivery_CertPin, MatchingPinDeliversToASelfSignedCertificateNamedOtherwise) {
    Fixture f;
    // The pin as openssl prints it: the session normalizes it.
    auto run = run_session(f.script(), make_job(f.dir.path(), kMessage, {"b@home.example"}),
                           f.options(openssl_style(f.pin)));
    const auto& r = run.result.recipients.at(0);
    EXPECT_EQ(r.outcome, Outcome::delivered) << r.text;
    EXPECT_EQ(r.tls.rfind("TLSv1.", 0), 0u) << r.tls;
    EXPECT_EQ(run.result.verification, "pinned (sha256 " + f.pin + ")");
    ASSERT_EQ(run.records.size(), 1u);
    EXPECT_TRUE(run.records[0].tls);
    EXPECT_EQ(run.records[0].data, kMessage + ".\r\n");
}

TEST(delivery_CertPin, WithoutThePinTheSameServerIsRefused) {
    Fixture f;  // unchanged behaviour: no CA vouches for it, and the name does not match
    auto run = run_session(f.script(), make_job(f.dir.path(), kMessage, {"b@home.example"}), f.options(""));
    const auto& r = run.result.recipients.at(0);
    EXPECT_EQ(r.outcome, Outcome::temporary);
    EXPECT_EQ(r.enhanced, "4.7.5");
    EXPECT_NE(r.text.find("not verified"), std::string::npos) << r.text;
}

TEST(delivery_CertPin, WrongPinIsTemporaryNamesBothFingerprintsAndSendsNothing) {
    Fixture f;
    std::ostringstream log_text;
    SessionOptions o = f.options(f.wrong);
    o.logger = log::make_root(std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text), config::LogFormat::text,
                              config::LogLevel::info);
    auto run = run_session(f.script(), make_job(f.dir.path(), kMessage, {"b@home.example", "c@home.example"}), o);
    for (const auto& r : run.result.recipients) {
        EXPECT_EQ(r.outcome, Outcome::temporary);
        EXPECT_EQ(r.code, 0);
        EXPECT_EQ(r.enhanced, "4.7.5");
        EXPECT_NE(r.text.find("expected sha256 " + f.wrong), std::string::npos) << r.text;
        EXPECT_NE(r.text.find("presented sha256 " + f.pin), std::string::npos) << r.text;
        EXPECT_FALSE(r.remote_host.empty());  // connected: the TLS check refused it
    }
    EXPECT_TRUE(run.result.try_next);
    ASSERT_EQ(run.records.size(), 1u);
    EXPECT_EQ(run.records[0].commands, (std::vector<std::string>{"EHLO relay.example.net", "STARTTLS"}));
    EXPECT_TRUE(run.records[0].data.empty());
    const std::string log = log_text.str();
    EXPECT_NE(log.find("warn"), std::string::npos) << log;
    EXPECT_NE(log.find("does not match the pinned fingerprint"), std::string::npos) << log;
}

TEST(delivery_CertPin, ImplicitTlsWithPin) {
    Fixture f;
    SessionOptions ok = f.options(f.pin);
    ok.implicit_tls = true;
    auto run = run_session(f.script(true), make_job(f.dir.path(), kMessage, {"b@home.example"}), ok);
    EXPECT_EQ(run.result.recipients.at(0).outcome, Outcome::delivered) << run.result.recipients.at(0).text;

    SessionOptions bad = f.options(f.wrong);
    bad.implicit_tls = true;
    run = run_session(f.script(true), make_job(f.dir.path(), kMessage, {"b@home.example"}), bad);
    EXPECT_EQ(run.result.recipients.at(0).enhanced, "4.7.5");
    EXPECT_TRUE(run.records.at(0).commands.empty());  // not even EHLO
}

TEST(delivery_CertPin, MalformedPinFailsClosedWithoutConnecting) {
    Fixture f;
    auto run = run_session(f.script(), make_job(f.dir.path(), kMessage, {"b@home.example"}), f.options("not-a-pin"));
    const auto& r = run.result.recipients.at(0);
    EXPECT_EQ(r.outcome, Outcome::temporary);
    EXPECT_EQ(r.enhanced, "4.3.5");
    EXPECT_TRUE(run.records.empty());
}

TEST(delivery_CertPin, PoolKeysDifferByPin) {
    PoolKey a;
    PoolKey b;
    b.pin = std::string(64, 'a');
    EXPECT_FALSE(a == b);
    EXPECT_TRUE(a < b || b < a);
}

// Two sessions over one pool, one after the other: how many connections did the server see?
std::size_t connections_for(const Fixture& f, SessionOptions first, SessionOptions second, const std::string& host) {
    asio::io_context io;
    auto pool = ConnectionPool::make(asio::make_strand(io));
    first.pool = pool;
    second.pool = pool;
    FakeServer server(io, f.script());
    server.start();
    std::vector<Outcome> outcomes;
    auto sequence = [&]() -> asio::awaitable<void> {
        const std::array<SessionOptions*, 2> steps{&first, &second};
        for (SessionOptions* o : steps) {
            Job job = make_job(f.dir.path(), kMessage, {"b@home.example"});
            SessionTarget target{server.endpoint(), host};
            SessionOptions options = *o;
            SessionResult r = co_await run_smtp_session(std::move(job), std::move(target), std::move(options));
            outcomes.push_back(r.recipients.at(0).outcome);
        }
        pool->shutdown();
        server.close();
    };
    asio::co_spawn(asio::make_strand(io), sequence(), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
    io.run_for(20s);
    EXPECT_EQ(outcomes, (std::vector<Outcome>{Outcome::delivered, Outcome::delivered}));
    // The parameters outlive `io` (the caller destroys them): their hold on the pool, whose
    // timer belongs to `io`, must end here.
    first.pool.reset();
    second.pool.reset();
    return server.records.size();
}

TEST(delivery_CertPin, PoolNeverMixesPinnedAndUnpinnedConnections) {
    Fixture f;
    // Same pin (once as colons) and the same TLS context: the connection is reused.
    SessionOptions a = f.options(f.pin);
    SessionOptions b = f.options(openssl_style(f.pin));
    b.tls_context = a.tls_context;
    EXPECT_EQ(connections_for(f, a, b, "nas.example"), 1u);
    // A pinned connection is not offered to an unpinned session, even one that would
    // accept this certificate (here: trusting it as a CA and checking the name it has).
    SessionOptions unpinned = f.options("");
    std::string error;
    const auto ca = f.dir.path() / "ca.pem";
    write_file(ca, f.cert.cert_pem);
    unpinned.tls_context = make_client_tls_context(ca, error);
    SessionOptions pinned = f.options(f.pin);
    pinned.tls_context = unpinned.tls_context;  // the same context: only the pin differs
    EXPECT_EQ(connections_for(f, pinned, unpinned, "home.invalid"), 2u);
    EXPECT_EQ(connections_for(f, unpinned, pinned, "home.invalid"), 2u);
}

TEST(delivery_CertPin, SmarthostDelivererWithAPin) {
    Fixture f;
    asio::io_context io;
    FakeServer server(io, f.script());
    server.start();
    config::DeliveryConfig delivery;
    delivery.mode = config::DeliveryMode::smarthost;
    delivery.smarthost = config::Endpoint{"127.0.0.1", server.endpoint().port()};
    SmarthostDeliverer d(delivery, "relay.example.net", io.get_executor(), nullptr, 20, short_timeouts());
    EXPECT_THROW(d.pin_certificate("0123"), std::runtime_error);
    d.pin_certificate(openssl_style(f.pin));
    std::optional<std::vector<RecipientResult>> results;
    d.deliver(make_job(f.dir.path(), kMessage, {"b@home.example"}), [&](std::vector<RecipientResult> r) {
        results = std::move(r);
        d.stop();
        server.close();
    });
    io.run_for(20s);
    ASSERT_TRUE(results.has_value());
    EXPECT_EQ(results->at(0).outcome, Outcome::delivered) << results->at(0).text;
}

// The whole [[inbound]] path: the entry's deliver_fingerprint reaches the session.
std::vector<RecipientResult> deliver_via_inbound_entry(const Fixture& f, const std::string& pin) {
    asio::io_context io;
    FakeServer server(io, f.script());
    server.start();
    config::Config config;
    config.server.hostname = "relay.example.net";
    config::InboundConfig e;
    e.domain = "home.example";
    e.any_recipient = true;
    e.deliver_to = config::Endpoint{"127.0.0.1", server.endpoint().port()};
    e.deliver_fingerprint = pin;
    config.inbound.push_back(e);
    auto d = make_home_server_deliverer(config, 0, io.get_executor());
    std::vector<RecipientResult> results;
    d->deliver(make_job(f.dir.path(), kMessage, {"b@home.example"}), [&](std::vector<RecipientResult> r) {
        results = std::move(r);
        d->stop();
        server.close();
    });
    io.run_for(20s);
    return results;
}

TEST(delivery_CertPin, InboundEntryFingerprintIsPinned) {
    Fixture f;
    auto ok = deliver_via_inbound_entry(f, f.pin);
    ASSERT_EQ(ok.size(), 1u);
    EXPECT_EQ(ok[0].outcome, Outcome::delivered) << ok[0].text;

    auto bad = deliver_via_inbound_entry(f, f.wrong);
    ASSERT_EQ(bad.size(), 1u);
    EXPECT_EQ(bad[0].outcome, Outcome::temporary);
    EXPECT_EQ(bad[0].enhanced, "4.7.5");
    EXPECT_NE(bad[0].text.find(f.wrong), std::string::npos) << bad[0].text;
    EXPECT_NE(bad[0].text.find(f.pin), std::string::npos) << bad[0].text;

    // Without a fingerprint the home server's certificate must chain to a CA: it does not.
    auto unpinned = deliver_via_inbound_entry(f, "");
    ASSERT_EQ(unpinned.size(), 1u);
    EXPECT_EQ(unpinned[0].outcome, Outcome::temporary);
    EXPECT_NE(unpinned[0].text.find("not verified"), std::string::npos) << unpinned[0].text;
}

}  // namespace
