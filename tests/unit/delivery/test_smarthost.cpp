// tests/unit/delivery/test_smarthost.cpp — SmarthostDeliverer against the scripted server
// on loopback: verified STARTTLS with AUTH, an untrusted certificate, implicit TLS, the
// next address after a refused one, the FIFO behind the session limit, stop(); and the
// credentials file reader.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <optional>

#include <boost/asio/steady_timer.hpp>

#include "fake_server.hpp"
#include "relay/delivery/smarthost.hpp"

namespace {

namespace asio = boost::asio;
using namespace signpost;
using namespace signpost::delivery;
using namespace signpost::delivery::test;
using namespace std::chrono_literals;

struct Fixture {
    TempDir dir;
    TestCert cert = make_test_cert();
    std::filesystem::path ca_file = dir.path() / "ca.pem";
    std::filesystem::path credentials_file = dir.path() / "smarthost-credentials";
    asio::io_context io;

    Fixture() {
        write_file(ca_file, cert.cert_pem);
        write_file(credentials_file, "bob:s3cret:with:colons\n");
        ::chmod(credentials_file.c_str(), 0600);
    }
    Script script() const {
        Script s;
        s.tls = server_context(cert);
        s.ehlo = "250-fake.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 STARTTLS\r\n";
        s.ehlo_tls = "250-fake.test\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n";
        s.user = "bob";
        s.password = "s3cret:with:colons";
        return s;
    }
    config::DeliveryConfig delivery(std::uint16_t port, std::string host = "localhost") const {
        config::DeliveryConfig d;
        d.mode = config::DeliveryMode::smarthost;
        d.smarthost = config::Endpoint{std::move(host), port};
        d.smarthost_credentials_file = credentials_file;
        d.extra_ca_file = ca_file;
        return d;
    }
};

const std::string kMessage = "From: alice@example.test\r\nSubject: s\r\n\r\nbody\r\n";

TEST(delivery_Smarthost, VerifiedStarttlsAndAuthPlain) {
    Fixture f;
    FakeServer server(f.io, f.script());
    server.start();
    // "localhost" may resolve to ::1 first, where nobody listens: the next address is tried.
    SmarthostDeliverer d(f.delivery(server.endpoint().port()), "relay.example.net", f.io.get_executor(), nullptr, 20,
                         short_timeouts());
    std::optional<std::vector<RecipientResult>> results;
    d.deliver(make_job(f.dir.path(), kMessage, {"b@example.org", "c@example.org"}, "X-Prepended: yes\r\n"),
              [&](std::vector<RecipientResult> r) {
                  results = std::move(r);
                  d.stop();  // QUITs the pooled connection: nothing left to wait for
                  server.close();
              });
    f.io.run_for(20s);
    ASSERT_TRUE(results.has_value());
    ASSERT_EQ(results->size(), 2u);
    for (const auto& r : *results) {
        EXPECT_EQ(r.outcome, Outcome::delivered) << r.address << ": " << r.text;
        EXPECT_EQ(r.tls.rfind("TLSv1.", 0), 0u);
        EXPECT_NE(r.remote_host.find("[127.0.0.1]:"), std::string::npos) << r.remote_host;
        EXPECT_EQ(r.remote_host.rfind("localhost[", 0), 0u) << r.remote_host;
    }
    ASSERT_EQ(server.records.size(), 1u);
    const Record& rec = server.records[0];
    EXPECT_TRUE(rec.tls);
    ASSERT_GE(rec.commands.size(), 4u);
    EXPECT_EQ(rec.commands[1], "STARTTLS");
    EXPECT_EQ(rec.commands[3].rfind("AUTH PLAIN ", 0), 0u);
    EXPECT_EQ(rec.data, "X-Prepended: yes\r\n" + kMessage + ".\r\n");
    EXPECT_EQ(d.active(), 0u);
}

TEST(delivery_Smarthost, UntrustedCertificateIsTemporaryAndSendsNothing) {
    Fixture f;
    FakeServer server(f.io, f.script());
    server.start();
    config::DeliveryConfig delivery = f.delivery(server.endpoint().port(), "127.0.0.1");
    delivery.extra_ca_file.clear();  // the test certificate is trusted by nobody now
    SmarthostDeliverer d(delivery, "relay.example.net", f.io.get_executor(), nullptr, 20, short_timeouts());
    std::optional<std::vector<RecipientResult>> results;
    d.deliver(make_job(f.dir.path(), kMessage, {"b@example.org"}), [&](std::vector<RecipientResult> r) {
        results = std::move(r);
        d.stop();  // QUITs the pooled connection, if any
        server.close();
    });
    f.io.run_for(20s);
    ASSERT_TRUE(results.has_value());
    const auto& r = results->at(0);
    EXPECT_EQ(r.outcome, Outcome::temporary);
    EXPECT_EQ(r.enhanced, "4.7.5");
    EXPECT_NE(r.text.find("not verified"), std::string::npos) << r.text;
    ASSERT_EQ(server.records.size(), 1u);
    EXPECT_FALSE(server.records[0].tls);
    EXPECT_EQ(server.records[0].commands, (std::vector<std::string>{"EHLO relay.example.net", "STARTTLS"}));
    EXPECT_TRUE(server.records[0].data.empty());
}

TEST(delivery_Smarthost, ImplicitTls) {
    Fixture f;
    Script s = f.script();
    s.implicit_tls = true;
    s.ehlo = s.ehlo_tls;
    FakeServer server(f.io, s);
    server.start();
    config::DeliveryConfig delivery = f.delivery(server.endpoint().port(), "127.0.0.1");
    delivery.smarthost_tls = config::TlsMode::implicit;
    SmarthostDeliverer d(delivery, "relay.example.net", f.io.get_executor(), nullptr, 20, short_timeouts());
    std::optional<std::vector<RecipientResult>> results;
    d.deliver(make_job(f.dir.path(), kMessage, {"b@example.org"}), [&](std::vector<RecipientResult> r) {
        results = std::move(r);
        d.stop();  // QUITs the pooled connection, if any
        server.close();
    });
    f.io.run_for(20s);
    ASSERT_TRUE(results.has_value());
    EXPECT_EQ(results->at(0).outcome, Outcome::delivered) << results->at(0).text;
    EXPECT_TRUE(server.records.at(0).tls);
    EXPECT_FALSE(server.records.at(0).commands.empty());
    EXPECT_EQ(server.records.at(0).commands[1].rfind("AUTH PLAIN ", 0), 0u);
}

TEST(delivery_Smarthost, SessionLimitQueuesJobsInOrder) {
    Fixture f;
    FakeServer server(f.io, f.script());
    server.start();
    SmarthostDeliverer d(f.delivery(server.endpoint().port(), "127.0.0.1"), "relay.example.net", f.io.get_executor(),
                         nullptr, 1, short_timeouts());
    std::vector<std::string> done_order;
    std::size_t max_active = 0;
    for (int i = 0; i < 3; ++i) {
        std::string rcpt = "r" + std::to_string(i) + "@example.org";
        d.deliver(make_job(f.dir.path(), kMessage, {rcpt}, "", "Q" + std::to_string(i)),
                  [&, rcpt](std::vector<RecipientResult> r) {
                      EXPECT_EQ(r.at(0).outcome, Outcome::delivered) << r.at(0).text;
                      done_order.push_back(rcpt);
                      max_active = std::max(max_active, d.active());
                      if (done_order.size() == 3) {
                          d.stop();
                          server.close();
                      }
                  });
    }
    EXPECT_EQ(d.active(), 1u);
    EXPECT_EQ(d.waiting(), 2u);
    f.io.run_for(30s);
    EXPECT_EQ(done_order, (std::vector<std::string>{"r0@example.org", "r1@example.org", "r2@example.org"}));
    EXPECT_LE(max_active, 1u);
    // One after the other over one reused connection (connection_pool.hpp), in FIFO order.
    ASSERT_EQ(server.records.size(), 1u);
    std::vector<std::string> rcpts;
    for (const auto& c : server.records[0].commands)
        if (c.rfind("RCPT TO:", 0) == 0) rcpts.push_back(c);
    EXPECT_EQ(rcpts, (std::vector<std::string>{"RCPT TO:<r0@example.org>", "RCPT TO:<r1@example.org>",
                                               "RCPT TO:<r2@example.org>"}));
    EXPECT_EQ(d.active(), 0u);
    EXPECT_EQ(d.waiting(), 0u);
}

TEST(delivery_Smarthost, StopAnswersRunningWaitingAndLaterJobs) {
    Fixture f;
    Script s = f.script();
    s.silent = true;
    FakeServer server(f.io, s);
    server.start();
    SessionTimeouts long_timeouts;  // the RFC's minutes: only stop() can end this quickly
    SmarthostDeliverer d(f.delivery(server.endpoint().port(), "127.0.0.1"), "relay.example.net", f.io.get_executor(),
                         nullptr, 1, long_timeouts);
    std::vector<std::vector<RecipientResult>> results;
    for (int i = 0; i < 2; ++i)
        d.deliver(make_job(f.dir.path(), kMessage, {"b@example.org"}, "", "Q" + std::to_string(i)),
                  [&](std::vector<RecipientResult> r) { results.push_back(std::move(r)); });
    asio::steady_timer t(f.io, 300ms);
    t.async_wait([&](boost::system::error_code) {
        d.stop();
        server.close();
    });
    const auto start = std::chrono::steady_clock::now();
    f.io.run_for(20s);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    ASSERT_EQ(results.size(), 2u);
    for (const auto& r : results) {
        EXPECT_EQ(r.at(0).outcome, Outcome::temporary);
        EXPECT_NE(r.at(0).text.find("delivery stopped"), std::string::npos) << r.at(0).text;
    }
    // After stop(), a new job is answered at once.
    std::optional<std::vector<RecipientResult>> late;
    d.deliver(make_job(f.dir.path(), kMessage, {"b@example.org"}, "", "Q9"),
              [&](std::vector<RecipientResult> r) { late = std::move(r); });
    ASSERT_TRUE(late.has_value());
    EXPECT_EQ(late->at(0).outcome, Outcome::temporary);
}

TEST(delivery_Smarthost, ConstructionErrorsNameTheKey) {
    Fixture f;
    config::DeliveryConfig no_host = f.delivery(25);
    no_host.smarthost.reset();
    EXPECT_THROW(SmarthostDeliverer(no_host, "relay.example.net", f.io.get_executor()), std::runtime_error);

    config::DeliveryConfig bad_creds = f.delivery(25);
    write_file(bad_creds.smarthost_credentials_file, "no colon here\n");
    try {
        SmarthostDeliverer d(bad_creds, "relay.example.net", f.io.get_executor());
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("smarthost_credentials_file"), std::string::npos) << e.what();
    }

    config::DeliveryConfig bad_ca = f.delivery(25);
    bad_ca.extra_ca_file = f.dir.path() / "missing-ca.pem";
    try {
        SmarthostDeliverer d(bad_ca, "relay.example.net", f.io.get_executor());
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("extra_ca_file"), std::string::npos) << e.what();
    }
}

TEST(delivery_Smarthost, CredentialsFileTable) {
    struct Row {
        std::string name;
        std::string content;
        bool ok;
        std::string user, password;
    };
    const std::vector<Row> rows = {
        {"plain", "bob:secret\n", true, "bob", "secret"},
        {"no final newline", "bob:secret", true, "bob", "secret"},
        {"CRLF", "bob:secret\r\n", true, "bob", "secret"},
        {"colons in the password", "bob@example.org:a:b:c\n", true, "bob@example.org", "a:b:c"},
        {"spaces kept", "bob: two words \n", true, "bob", " two words "},
        {"no colon", "bobsecret\n", false, "", ""},
        {"empty user", ":secret\n", false, "", ""},
        {"empty password", "bob:\n", false, "", ""},
        {"two lines", "bob:secret\nalice:x\n", false, "", ""},
        {"trailing blank line", "bob:secret\n\n", false, "", ""},
        {"empty file", "", false, "", ""},
        {"too long", "bob:" + std::string(5000, 'x'), false, "", ""},
    };
    TempDir dir;
    for (const auto& row : rows) {
        const auto path = dir.path() / "creds";
        write_file(path, row.content);
        std::string error;
        auto c = read_credentials_file(path, error);
        EXPECT_EQ(c.has_value(), row.ok) << row.name << ": " << error;
        if (c) {
            EXPECT_EQ(c->user, row.user) << row.name;
            EXPECT_EQ(c->password, row.password) << row.name;
        } else {
            EXPECT_NE(error.find(path.string()), std::string::npos) << row.name << ": " << error;
            EXPECT_EQ(error.find("secret"), std::string::npos) << row.name << ": the error shows the password";
        }
    }
    std::string error;
    EXPECT_FALSE(read_credentials_file(dir.path() / "missing", error).has_value());
}

}  // namespace
