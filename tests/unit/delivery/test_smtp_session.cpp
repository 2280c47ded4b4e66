// tests/unit/delivery/test_smtp_session.cpp — relay/delivery/smtp_session against a
// scripted server on 127.0.0.1: pipelining, per-recipient outcomes, refusals at every step,
// dot-stuffing on the wire, never sending past `size`, SMTPUTF8 and SIZE, connection
// refused, timeouts, stop, STARTTLS (opportunistic and verified), implicit TLS and AUTH.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>

#include "fake_server.hpp"
#include "relay/delivery/smtp_session.hpp"
#include "relay/smtp/client.hpp"
#include "relay/smtp/sasl.hpp"

namespace {

namespace asio = boost::asio;
using namespace signpost::delivery;
using namespace signpost::delivery::test;
using namespace std::chrono_literals;

SessionOptions plain_options() {
    SessionOptions o;
    o.helo_name = "relay.example.net";
    o.tls = TlsPolicy::none_allowed_plaintext;
    o.timeouts = short_timeouts();
    return o;
}

struct Run {
    SessionResult result;
    std::vector<Record> records;
    std::chrono::milliseconds elapsed{};
};

// Runs one session against a fake server with `script`; everything on one thread, bounded
// by 20 s. `host` is the name the session verifies the certificate against.
Run run_session(Script script, Job job, SessionOptions options, std::string host = "fake.test",
                std::shared_ptr<StopSignal> stop = nullptr, std::chrono::milliseconds stop_after = 0ms) {
    asio::io_context io;
    FakeServer server(io, std::move(script));
    server.start();
    std::optional<SessionResult> result;
    const auto start = std::chrono::steady_clock::now();
    asio::co_spawn(io, run_smtp_session(std::move(job), SessionTarget{server.endpoint(), host}, std::move(options), stop),
                   [&](std::exception_ptr e, SessionResult r) {
                       if (e) std::rethrow_exception(e);
                       result = std::move(r);
                       server.close();
                   });
    asio::steady_timer stopper(io);
    if (stop) {
        stopper.expires_after(stop_after);
        stopper.async_wait([stop](boost::system::error_code ec) {
            if (!ec) stop->stop();
        });
    }
    io.run_for(20s);
    Run run;
    EXPECT_TRUE(result.has_value()) << "the session did not finish";
    if (result) run.result = std::move(*result);
    run.records = server.records;
    run.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    return run;
}

const RecipientResult& result_for(const SessionResult& r, const std::string& address) {
    for (const auto& x : r.recipients)
        if (x.address == address) return x;
    throw std::runtime_error("no result for " + address);
}

bool has_command(const Record& rec, const std::string& prefix) {
    for (const auto& c : rec.commands)
        if (c.rfind(prefix, 0) == 0) return true;
    return false;
}

std::string stuffed(const std::string& message) {
    signpost::smtp::DotStuffer s;
    std::string out;
    s.feed(message, out);
    s.finish(out);
    return out;
}

const std::string kMessage =
    "From: alice@example.test\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nHello.\r\n.leading dot\r\n..two\r\n";
const std::string kPrepend = "DKIM-Signature: v=1; a=ed25519-sha256; d=example.test; s=sp; b=xyz\r\n";

TEST(delivery_SmtpSession, HappyPathPipelinesMailAndRcpts) {
    TempDir dir;
    Script script;
    script.pipeline_lines = 3;  // MAIL + 2 RCPT must arrive before any reply
    auto run = run_session(script, make_job(dir.path(), kMessage, {"bob@example.org", "carol@example.org"}, kPrepend),
                           plain_options());
    ASSERT_EQ(run.result.recipients.size(), 2u);
    for (const auto& r : run.result.recipients) {
        EXPECT_EQ(r.outcome, Outcome::delivered) << r.address << ": " << r.text;
        EXPECT_EQ(r.code, 250);
        EXPECT_EQ(r.enhanced, "2.0.0");
        EXPECT_EQ(r.text, "Ok: queued as FAKE1");
        EXPECT_EQ(r.tls, "none");
        EXPECT_EQ(r.remote_host, run.result.remote_host);
    }
    EXPECT_EQ(run.result.recipients[0].address, "bob@example.org");
    EXPECT_EQ(run.result.tls, "none");
    EXPECT_FALSE(run.result.try_next);
    ASSERT_EQ(run.records.size(), 1u);
    const Record& rec = run.records[0];
    EXPECT_TRUE(rec.pipelined);
    const std::string size = std::to_string(kPrepend.size() + kMessage.size());
    EXPECT_EQ(rec.commands, (std::vector<std::string>{"EHLO relay.example.net",
                                                      "MAIL FROM:<alice@example.test> SIZE=" + size,
                                                      "RCPT TO:<bob@example.org>", "RCPT TO:<carol@example.org>",
                                                      "DATA", "QUIT"}));
    // Prepend + exactly `size` octets, stuffed: no garbage, and ".leading" went out as "..leading".
    EXPECT_EQ(rec.data, stuffed(kPrepend + kMessage));
    EXPECT_NE(rec.data.find("\r\n..leading dot\r\n...two\r\n.\r\n"), std::string::npos);
    EXPECT_EQ(rec.data.find("GARBAGE"), std::string::npos);
    EXPECT_EQ(run.result.remote_host.rfind("fake.test[127.0.0.1]:", 0), 0u) << run.result.remote_host;
}

TEST(delivery_SmtpSession, WithoutPipeliningOneCommandAtATime) {
    TempDir dir;
    Script script;
    script.ehlo = "250-fake.test\r\n250 8BITMIME\r\n";
    script.trickle = true;  // every reply arrives one octet at a time
    auto run = run_session(script, make_job(dir.path(), kMessage, {"bob@example.org", "carol@example.org"}),
                           plain_options());
    for (const auto& r : run.result.recipients) EXPECT_EQ(r.outcome, Outcome::delivered) << r.text;
    ASSERT_EQ(run.records.size(), 1u);
    EXPECT_FALSE(run.records[0].pipelined);
    EXPECT_EQ(run.records[0].commands[1], "MAIL FROM:<alice@example.test>");  // no SIZE offered, none sent
    EXPECT_EQ(run.records[0].data, stuffed(kMessage));
}

TEST(delivery_SmtpSession, RcptPartlyRefused) {
    TempDir dir;
    Script script;
    script.rcpt["nobody@example.org"] = "550 5.1.1 <nobody@example.org>: Recipient address rejected\r\n";
    script.rcpt["later@example.org"] = "451 4.7.1 Greylisted, try again\r\n";
    auto run = run_session(
        script, make_job(dir.path(), kMessage, {"bob@example.org", "nobody@example.org", "later@example.org"}),
        plain_options());
    ASSERT_EQ(run.result.recipients.size(), 3u);
    const auto& bob = result_for(run.result, "bob@example.org");
    EXPECT_EQ(bob.outcome, Outcome::delivered);
    EXPECT_EQ(bob.code, 250);
    const auto& nobody = result_for(run.result, "nobody@example.org");
    EXPECT_EQ(nobody.outcome, Outcome::permanent);
    EXPECT_EQ(nobody.code, 550);
    EXPECT_EQ(nobody.enhanced, "5.1.1");
    EXPECT_EQ(nobody.text, "<nobody@example.org>: Recipient address rejected");
    EXPECT_EQ(nobody.remote_host, run.result.remote_host);
    const auto& later = result_for(run.result, "later@example.org");
    EXPECT_EQ(later.outcome, Outcome::temporary);
    EXPECT_EQ(later.code, 451);
    EXPECT_EQ(later.enhanced, "4.7.1");
    EXPECT_TRUE(has_command(run.records.at(0), "DATA"));
}

TEST(delivery_SmtpSession, NoRecipientAcceptedSendsNoData) {
    TempDir dir;
    Script script;
    script.rcpt_default = "550 5.1.1 No such user\r\n";
    auto run = run_session(script, make_job(dir.path(), kMessage, {"a@example.org", "b@example.org"}), plain_options());
    for (const auto& r : run.result.recipients) {
        EXPECT_EQ(r.outcome, Outcome::permanent);
        EXPECT_EQ(r.code, 550);
    }
    EXPECT_FALSE(has_command(run.records.at(0), "DATA"));
    EXPECT_TRUE(has_command(run.records.at(0), "QUIT"));
}

TEST(delivery_SmtpSession, MailFromRefused) {
    for (bool pipelining : {true, false}) {
        TempDir dir;
        Script script;
        script.mail = "553 5.7.1 Sender address rejected\r\n";
        if (!pipelining) script.ehlo = "250-fake.test\r\n250 SIZE\r\n";
        auto run = run_session(script, make_job(dir.path(), kMessage, {"a@example.org", "b@example.org"}),
                               plain_options());
        for (const auto& r : run.result.recipients) {
            EXPECT_EQ(r.outcome, Outcome::permanent) << pipelining;
            EXPECT_EQ(r.code, 553);
            EXPECT_EQ(r.enhanced, "5.7.1");
        }
        EXPECT_FALSE(has_command(run.records.at(0), "DATA"));
        // Without pipelining, no RCPT follows a refused MAIL.
        EXPECT_EQ(has_command(run.records.at(0), "RCPT"), pipelining);
        EXPECT_TRUE(has_command(run.records.at(0), "QUIT"));
    }
}

TEST(delivery_SmtpSession, DataRepliesDecideTheAcceptedRecipients) {
    struct Row {
        std::string name;
        std::string data;      // reply to DATA
        std::string data_end;  // reply after the message
        Outcome outcome;
        int code;
        std::string enhanced;
        bool data_sent;
    };
    const std::vector<Row> rows = {
        {"DATA 452", "452 4.3.1 Insufficient system storage\r\n", "", Outcome::temporary, 452, "4.3.1", false},
        {"DATA 554", "554 5.5.1 No valid recipients\r\n", "", Outcome::permanent, 554, "5.5.1", false},
        {"end 451", "354 go\r\n", "451 4.3.0 Error: queue file write error\r\n", Outcome::temporary, 451, "4.3.0", true},
        {"end 554", "354 go\r\n", "554 5.7.1 Message rejected as spam\r\n", Outcome::permanent, 554, "5.7.1", true},
        {"end 552 multi-line", "354 go\r\n", "552-5.3.4 Message too big\r\n552 5.3.4 for this mailbox\r\n",
         Outcome::permanent, 552, "5.3.4", true},
        {"end 250", "354 go\r\n", "250 2.0.0 Ok\r\n", Outcome::delivered, 250, "2.0.0", true},
    };
    for (const auto& row : rows) {
        TempDir dir;
        Script script;
        script.data = row.data;
        script.data_end = row.data_end;
        script.rcpt["refused@example.org"] = "550 5.1.1 No such user\r\n";
        auto run = run_session(script,
                               make_job(dir.path(), kMessage, {"a@example.org", "refused@example.org", "b@example.org"}),
                               plain_options());
        for (const auto& address : {"a@example.org", "b@example.org"}) {
            const auto& r = result_for(run.result, address);
            EXPECT_EQ(r.outcome, row.outcome) << row.name << " " << address << ": " << r.text;
            EXPECT_EQ(r.code, row.code) << row.name;
            EXPECT_EQ(r.enhanced, row.enhanced) << row.name;
        }
        // The RCPT refusal stands whatever DATA brought.
        EXPECT_EQ(result_for(run.result, "refused@example.org").outcome, Outcome::permanent) << row.name;
        EXPECT_EQ(result_for(run.result, "refused@example.org").code, 550) << row.name;
        EXPECT_EQ(!run.records.at(0).data.empty(), row.data_sent) << row.name;
        EXPECT_TRUE(has_command(run.records.at(0), "QUIT")) << row.name;
    }
}

TEST(delivery_SmtpSession, DotStuffingOnTheWire) {
    struct Row {
        std::string name;
        std::string prepend;
        std::string message;
        std::string wire;  // what the server must read after 354
    };
    const std::string big_dots = [] {
        std::string s;
        for (int i = 0; i < 30000; ++i) s += ".line " + std::to_string(i) + "\r\n";  // crosses 64 KiB blocks
        return s;
    }();
    std::string big_wire;
    for (int i = 0; i < 30000; ++i) big_wire += "..line " + std::to_string(i) + "\r\n";
    big_wire += ".\r\n";
    const std::vector<Row> rows = {
        {"terminator inside", "", "Subject: x\r\n\r\na\r\n.\r\nb\r\n", "Subject: x\r\n\r\na\r\n..\r\nb\r\n.\r\n"},
        {"no final CRLF", "", "Subject: x\r\n\r\nlast line", "Subject: x\r\n\r\nlast line\r\n.\r\n"},
        {"dot first in the message", "", ".Subject: x\r\n\r\nb\r\n", "..Subject: x\r\n\r\nb\r\n.\r\n"},
        {"prepend then dot line", "X-A: 1\r\n", ".\r\n", "X-A: 1\r\n..\r\n.\r\n"},
        {"many dot lines over blocks", "", big_dots, big_wire},
    };
    for (const auto& row : rows) {
        TempDir dir;
        auto run = run_session(Script{}, make_job(dir.path(), row.message, {"b@example.org"}, row.prepend),
                               plain_options());
        EXPECT_EQ(run.result.recipients.at(0).outcome, Outcome::delivered) << row.name;
        EXPECT_TRUE(run.records.at(0).data == row.wire) << row.name;
    }
}

TEST(delivery_SmtpSession, NeverSendsPastSize) {
    TempDir dir;
    Job job = make_job(dir.path(), "Subject: s\r\n\r\nbody\r\n", {"b@example.org"});
    // The message file holds a trailer after `size` that even looks like the end of data.
    ASSERT_GT(std::filesystem::file_size(job.message_file), job.size);
    auto run = run_session(Script{}, job, plain_options());
    EXPECT_EQ(run.result.recipients.at(0).outcome, Outcome::delivered);
    EXPECT_EQ(run.records.at(0).data, "Subject: s\r\n\r\nbody\r\n.\r\n");
    EXPECT_EQ(run.records.at(0).commands.back(), "QUIT");
    EXPECT_EQ(run.records.at(0).commands.size(), 5u);  // EHLO MAIL RCPT DATA QUIT
}

TEST(delivery_SmtpSession, Smtputf8NeededButNotOfferedIsPermanentWithoutMail) {
    TempDir dir;
    Script script;
    script.ehlo = "250-fake.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
    Job job = make_job(dir.path(), kMessage, {"b@example.org", "c@example.org"});
    job.smtputf8 = true;
    auto run = run_session(script, job, plain_options());
    for (const auto& r : run.result.recipients) {
        EXPECT_EQ(r.outcome, Outcome::permanent);
        EXPECT_EQ(r.code, 0);
        EXPECT_EQ(r.enhanced, "5.6.7");
    }
    EXPECT_FALSE(has_command(run.records.at(0), "MAIL"));
    EXPECT_EQ(run.records.at(0).commands, (std::vector<std::string>{"EHLO relay.example.net", "QUIT"}));
}

TEST(delivery_SmtpSession, MailParametersFollowTheJobAndTheOffer) {
    struct Row {
        std::string name;
        std::string ehlo;
        bool smtputf8, body_8bit;
        std::string params;  // after "MAIL FROM:<...>"
    };
    const std::vector<Row> rows = {
        {"utf8 + 8bit offered", "250-x\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n", true, true, " BODY=8BITMIME SMTPUTF8"},
        // RFC 6152 would have us not send; practical relays do, without BODY=.
        {"8bit not offered", "250-x\r\n250 SMTPUTF8\r\n", false, true, ""},
        {"nothing needed", "250-x\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n", false, false, ""},
    };
    for (const auto& row : rows) {
        TempDir dir;
        Script script;
        script.ehlo = row.ehlo;
        Job job = make_job(dir.path(), kMessage, {"b@example.org"});
        job.smtputf8 = row.smtputf8;
        job.body_8bit = row.body_8bit;
        auto run = run_session(script, job, plain_options());
        EXPECT_EQ(run.result.recipients.at(0).outcome, Outcome::delivered) << row.name;
        EXPECT_EQ(run.records.at(0).commands.at(1), "MAIL FROM:<alice@example.test>" + row.params) << row.name;
    }
}

TEST(delivery_SmtpSession, SizeLimitTooSmallIsPermanent) {
    TempDir dir;
    Script script;
    script.ehlo = "250-fake.test\r\n250 SIZE 20\r\n";
    auto run = run_session(script, make_job(dir.path(), kMessage, {"b@example.org"}), plain_options());
    EXPECT_EQ(run.result.recipients.at(0).outcome, Outcome::permanent);
    EXPECT_EQ(run.result.recipients.at(0).enhanced, "5.3.4");
    EXPECT_FALSE(has_command(run.records.at(0), "MAIL"));
}

TEST(delivery_SmtpSession, Greeting421IsTemporary) {
    TempDir dir;
    Script script;
    script.greeting = "421 4.3.2 fake.test Service not available, closing\r\n";
    auto run = run_session(script, make_job(dir.path(), kMessage, {"b@example.org", "c@example.org"}), plain_options());
    for (const auto& r : run.result.recipients) {
        EXPECT_EQ(r.outcome, Outcome::temporary);
        EXPECT_EQ(r.code, 421);
        EXPECT_EQ(r.enhanced, "4.3.2");
    }
    EXPECT_TRUE(run.result.try_next);
    EXPECT_TRUE(run.records.at(0).commands.empty());
}

TEST(delivery_SmtpSession, Greeting554IsTemporaryToo) {
    TempDir dir;
    Script script;
    script.greeting = "554 5.7.1 no service for you\r\n";
    auto run = run_session(script, make_job(dir.path(), kMessage, {"b@example.org"}), plain_options());
    EXPECT_EQ(run.result.recipients.at(0).outcome, Outcome::temporary);
    EXPECT_EQ(run.result.recipients.at(0).code, 554);
    EXPECT_TRUE(run.result.try_next);
    EXPECT_FALSE(has_command(run.records.at(0), "EHLO"));
}

TEST(delivery_SmtpSession, EhloRefusedFallsBackToHelo) {
    TempDir dir;
    Script script;
    script.ehlo = "502 5.5.2 Error: command not recognized\r\n";
    Job job = make_job(dir.path(), kMessage, {"b@example.org"});
    job.body_8bit = true;
    auto run = run_session(script, job, plain_options());
    EXPECT_EQ(run.result.recipients.at(0).outcome, Outcome::delivered);
    const auto& cmds = run.records.at(0).commands;
    ASSERT_GE(cmds.size(), 3u);
    EXPECT_EQ(cmds[0], "EHLO relay.example.net");
    EXPECT_EQ(cmds[1], "HELO relay.example.net");
    EXPECT_EQ(cmds[2], "MAIL FROM:<alice@example.test>");  // no ESMTP parameters after HELO
}

TEST(delivery_SmtpSession, EhloAndHeloRefusedIsTemporary) {
    TempDir dir;
    Script script;
    script.ehlo = "550 5.7.1 go away\r\n";
    script.helo = "550 5.7.1 go away\r\n";
    auto run = run_session(script, make_job(dir.path(), kMessage, {"b@example.org"}), plain_options());
    EXPECT_EQ(run.result.recipients.at(0).outcome, Outcome::temporary);
    EXPECT_EQ(run.result.recipients.at(0).code, 550);
    EXPECT_FALSE(has_command(run.records.at(0), "MAIL"));
}

TEST(delivery_SmtpSession, MalformedReplyIsTemporary) {
    TempDir dir;
    Script script;
    script.ehlo = "250-fake.test\r\nhello there\r\n";
    auto run = run_session(script, make_job(dir.path(), kMessage, {"b@example.org"}), plain_options());
    const auto& r = run.result.recipients.at(0);
    EXPECT_EQ(r.outcome, Outcome::temporary);
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.text.find("malformed reply"), std::string::npos) << r.text;
    EXPECT_FALSE(has_command(run.records.at(0), "MAIL"));
}

TEST(delivery_SmtpSession, ConnectionRefusedIsTemporaryCodeZero) {
    TempDir dir;
    asio::io_context io;
    asio::ip::tcp::endpoint closed;
    {
        asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        closed = a.local_endpoint();
    }  // nobody listens there any more
    std::optional<SessionResult> result;
    asio::co_spawn(io, run_smtp_session(make_job(dir.path(), kMessage, {"b@example.org"}), {closed, "fake.test"},
                                        plain_options()),
                   [&](std::exception_ptr e, SessionResult r) {
                       if (e) std::rethrow_exception(e);
                       result = std::move(r);
                   });
    io.run_for(10s);
    ASSERT_TRUE(result.has_value());
    const auto& r = result->recipients.at(0);
    EXPECT_EQ(r.outcome, Outcome::temporary);
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.enhanced, "4.4.1");
    EXPECT_NE(r.text.find("while connecting"), std::string::npos) << r.text;
    EXPECT_EQ(r.remote_host, "");  // nothing was reached
    EXPECT_TRUE(result->try_next);
}

TEST(delivery_SmtpSession, SilentServerTimesOut) {
    TempDir dir;
    Script script;
    script.silent = true;
    SessionOptions options = plain_options();
    options.timeouts.greeting = 300ms;
    auto run = run_session(script, make_job(dir.path(), kMessage, {"b@example.org"}), options);
    const auto& r = run.result.recipients.at(0);
    EXPECT_EQ(r.outcome, Outcome::temporary);
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.text, "timeout waiting for the greeting");
    EXPECT_TRUE(run.result.try_next);
    EXPECT_LT(run.elapsed, 5s);
}

// Issue 15: a next hop that trickles its replies (one octet every 100 ms, so every read
// brings something) cannot stretch a step: each reply has one deadline, armed when the
// session starts waiting for it, not renewed by each octet.
TEST(delivery_SmtpSession, TricklingRepliesDoNotExtendTheDeadline) {
    TempDir dir;
    Script script;
    script.trickle = true;
    script.trickle_gap = 100ms;  // the 26-octet greeting takes 2.6 s
    SessionOptions options = plain_options();
    options.timeouts.greeting = 500ms;
    auto run = run_session(script, make_job(dir.path(), kMessage, {"b@example.org"}), options);
    const auto& r = run.result.recipients.at(0);
    EXPECT_EQ(r.outcome, Outcome::temporary);
    EXPECT_EQ(r.text, "timeout waiting for the greeting");
    EXPECT_LT(run.elapsed, 1500ms);
}

TEST(delivery_SmtpSession, TimeoutWaitingForTheEndOfData) {
    TempDir dir;
    Script script;
    script.data_end = "";  // never answers the end of data
    SessionOptions options = plain_options();
    options.timeouts.data_end = 300ms;
    auto run = run_session(script, make_job(dir.path(), kMessage, {"b@example.org"}), options);
    const auto& r = run.result.recipients.at(0);
    EXPECT_EQ(r.outcome, Outcome::temporary);
    EXPECT_EQ(r.text, "timeout waiting for the reply to the end of data");
    EXPECT_FALSE(run.result.try_next);  // the server may have the message
    EXPECT_FALSE(run.records.at(0).data.empty());
}

TEST(delivery_SmtpSession, StopEndsTheSessionWithTemporaryResults) {
    TempDir dir;
    Script script;
    script.silent = true;
    SessionOptions options = plain_options();
    options.timeouts = short_timeouts(15s);
    auto stop = std::make_shared<StopSignal>();
    auto run = run_session(script, make_job(dir.path(), kMessage, {"b@example.org"}), options, "fake.test", stop, 200ms);
    const auto& r = run.result.recipients.at(0);
    EXPECT_EQ(r.outcome, Outcome::temporary);
    EXPECT_NE(r.text.find("delivery stopped"), std::string::npos) << r.text;
    EXPECT_LT(run.elapsed, 5s);
}

TEST(delivery_SmtpSession, MissingMessageFileFailsWithoutConnecting) {
    TempDir dir;
    Job job = make_job(dir.path(), kMessage, {"b@example.org"});
    std::filesystem::remove(job.message_file);
    auto run = run_session(Script{}, job, plain_options());
    EXPECT_EQ(run.result.recipients.at(0).outcome, Outcome::temporary);
    EXPECT_EQ(run.result.recipients.at(0).enhanced, "4.3.0");
    EXPECT_TRUE(run.records.empty());
}

TEST(delivery_SmtpSession, MessageFileShorterThanSizeFailsWithoutConnecting) {
    TempDir dir;
    Job job = make_job(dir.path(), kMessage, {"b@example.org"});
    job.size = 1'000'000;
    auto run = run_session(Script{}, job, plain_options());
    EXPECT_EQ(run.result.recipients.at(0).outcome, Outcome::temporary);
    EXPECT_TRUE(run.records.empty());
}

// --- TLS ----------------------------------------------------------------------------------

struct TlsFixture {
    TempDir dir;
    TestCert cert = make_test_cert();
    std::filesystem::path ca_file;
    TlsFixture() {
        ca_file = dir.path() / "ca.pem";
        write_file(ca_file, cert.cert_pem);
    }
    Script script() const {
        Script s;
        s.tls = server_context(cert);
        s.ehlo = "250-fake.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n";
        s.ehlo_tls = "250-fake.test\r\n250-PIPELINING\r\n250 AUTH LOGIN PLAIN\r\n";
        return s;
    }
    SessionOptions options(TlsPolicy policy, bool trust) const {
        SessionOptions o = plain_options();
        o.tls = policy;
        std::string error;
        o.tls_context = make_client_tls_context(trust ? ca_file : std::filesystem::path(), error);
        EXPECT_TRUE(o.tls_context) << error;
        return o;
    }
};

TEST(delivery_SmtpSession, OpportunisticStarttlsWithAnyCertificate) {
    TlsFixture f;
    auto run = run_session(f.script(), make_job(f.dir.path(), kMessage, {"b@example.org"}),
                           f.options(TlsPolicy::opportunistic, false));
    const auto& r = run.result.recipients.at(0);
    EXPECT_EQ(r.outcome, Outcome::delivered) << r.text;
    EXPECT_EQ(r.tls.rfind("TLSv1.", 0), 0u) << r.tls;
    EXPECT_TRUE(run.records.at(0).tls);
    // EHLO again after STARTTLS; nothing else in plaintext.
    EXPECT_EQ(run.records.at(0).commands,
              (std::vector<std::string>{"EHLO relay.example.net", "STARTTLS", "EHLO relay.example.net",
                                        "MAIL FROM:<alice@example.test>", "RCPT TO:<b@example.org>", "DATA", "QUIT"}));
}

TEST(delivery_SmtpSession, OpportunisticWithoutStarttlsOfferGoesPlaintext) {
    TlsFixture f;
    Script s = f.script();
    s.ehlo = "250-fake.test\r\n250 PIPELINING\r\n";
    auto run = run_session(s, make_job(f.dir.path(), kMessage, {"b@example.org"}), f.options(TlsPolicy::opportunistic, false));
    EXPECT_EQ(run.result.recipients.at(0).outcome, Outcome::delivered);
    EXPECT_EQ(run.result.recipients.at(0).tls, "none");
}

TEST(delivery_SmtpSession, StarttlsOfferedThenRefusedNeverFallsBackToPlaintext) {
    TlsFixture f;
    Script s = f.script();
    s.starttls = "454 4.7.0 TLS not available due to local problem\r\n";
    auto run = run_session(s, make_job(f.dir.path(), kMessage, {"b@example.org"}), f.options(TlsPolicy::opportunistic, false));
    const auto& r = run.result.recipients.at(0);
    EXPECT_EQ(r.outcome, Outcome::temporary);
    EXPECT_EQ(r.code, 454);
    EXPECT_FALSE(has_command(run.records.at(0), "MAIL"));
}

TEST(delivery_SmtpSession, StarttlsHandshakeFailureIsTemporary) {
    TlsFixture f;
    Script s = f.script();
    s.close_instead_of_handshake = true;
    auto run = run_session(s, make_job(f.dir.path(), kMessage, {"b@example.org"}), f.options(TlsPolicy::opportunistic, false));
    const auto& r = run.result.recipients.at(0);
    EXPECT_EQ(r.outcome, Outcome::temporary);
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.enhanced, "4.7.5");
    EXPECT_FALSE(has_command(run.records.at(0), "MAIL"));
}

TEST(delivery_SmtpSession, RequiredTlsNotOfferedIsTemporary) {
    TlsFixture f;
    Script s = f.script();
    s.ehlo = "250-fake.test\r\n250 PIPELINING\r\n";
    auto run = run_session(s, make_job(f.dir.path(), kMessage, {"b@example.org"}), f.options(TlsPolicy::required_verified, true),
                           "localhost");
    const auto& r = run.result.recipients.at(0);
    EXPECT_EQ(r.outcome, Outcome::temporary);
    EXPECT_EQ(r.enhanced, "4.7.4");
    EXPECT_FALSE(has_command(run.records.at(0), "MAIL"));
}

TEST(delivery_SmtpSession, RequiredVerifiedTable) {
    struct Row {
        std::string name;
        bool trust;        // the client trusts the test certificate
        std::string host;  // the name verified
        bool delivered;
    };
    const std::vector<Row> rows = {
        {"trusted, name matches", true, "localhost", true},
        {"trusted, IP literal matches the IP SAN", true, "127.0.0.1", true},
        {"trusted, wrong name", true, "mail.example.org", false},
        {"untrusted", false, "localhost", false},
    };
    for (const auto& row : rows) {
        TlsFixture f;
        auto run = run_session(f.script(), make_job(f.dir.path(), kMessage, {"b@example.org"}),
                               f.options(TlsPolicy::required_verified, row.trust), row.host);
        const auto& r = run.result.recipients.at(0);
        if (row.delivered) {
            EXPECT_EQ(r.outcome, Outcome::delivered) << row.name << ": " << r.text;
        } else {
            EXPECT_EQ(r.outcome, Outcome::temporary) << row.name;
            EXPECT_EQ(r.enhanced, "4.7.5") << row.name;
            EXPECT_NE(r.text.find("not verified"), std::string::npos) << row.name << ": " << r.text;
            EXPECT_FALSE(has_command(run.records.at(0), "MAIL")) << row.name;
            EXPECT_TRUE(run.result.try_next) << row.name;
        }
    }
}

TEST(delivery_SmtpSession, ImplicitTls) {
    TlsFixture f;
    Script s = f.script();
    s.implicit_tls = true;
    s.ehlo = s.ehlo_tls;
    SessionOptions o = f.options(TlsPolicy::required_verified, true);
    o.implicit_tls = true;
    auto run = run_session(s, make_job(f.dir.path(), kMessage, {"b@example.org"}), o, "localhost");
    EXPECT_EQ(run.result.recipients.at(0).outcome, Outcome::delivered) << run.result.recipients.at(0).text;
    EXPECT_TRUE(run.records.at(0).tls);
    EXPECT_FALSE(has_command(run.records.at(0), "STARTTLS"));
}

TEST(delivery_SmtpSession, AuthTable) {
    struct Row {
        std::string name;
        std::string auth_line;  // the server's AUTH keyword line (after TLS)
        std::string password;   // the client's
        bool delivered;
        std::string first_auth_command;
    };
    const std::vector<Row> rows = {
        {"PLAIN ok", "250 AUTH LOGIN PLAIN", "s3cret:x", true,
         "AUTH PLAIN " + signpost::smtp::encode_base64(std::string("\0bob\0s3cret:x", 13))},
        {"LOGIN ok", "250 AUTH LOGIN", "s3cret:x", true, "AUTH LOGIN"},
        {"PLAIN 535", "250 AUTH PLAIN", "wrong", false, "AUTH PLAIN"},
        {"LOGIN 535", "250 AUTH LOGIN", "wrong", false, "AUTH LOGIN"},
    };
    for (const auto& row : rows) {
        TlsFixture f;
        Script s = f.script();
        s.ehlo_tls = "250-fake.test\r\n250-PIPELINING\r\n" + row.auth_line + "\r\n";
        s.user = "bob";
        s.password = "s3cret:x";
        SessionOptions o = f.options(TlsPolicy::required_verified, true);
        o.credentials = Credentials{"bob", row.password};
        auto run = run_session(s, make_job(f.dir.path(), kMessage, {"b@example.org", "c@example.org"}), o, "localhost");
        const auto& cmds = run.records.at(0).commands;
        ASSERT_GE(cmds.size(), 4u) << row.name;
        EXPECT_EQ(cmds[3].rfind(row.first_auth_command, 0), 0u) << row.name << ": " << cmds[3];
        for (const auto& r : run.result.recipients) {
            if (row.delivered) {
                EXPECT_EQ(r.outcome, Outcome::delivered) << row.name << ": " << r.text;
            } else {
                EXPECT_EQ(r.outcome, Outcome::temporary) << row.name;
                EXPECT_EQ(r.code, 535) << row.name;
                EXPECT_EQ(r.enhanced, "5.7.8") << row.name;
                EXPECT_EQ(r.text, "Authentication credentials invalid") << row.name;
            }
        }
        EXPECT_EQ(has_command(run.records.at(0), "MAIL"), row.delivered) << row.name;
        EXPECT_FALSE(run.result.try_next) << row.name;
    }
}

TEST(delivery_SmtpSession, CredentialsAreNeverSentInPlaintext) {
    TempDir dir;
    Script script;
    script.ehlo = "250-fake.test\r\n250 AUTH PLAIN LOGIN\r\n";
    SessionOptions o = plain_options();
    o.credentials = Credentials{"bob", "secret"};
    auto run = run_session(script, make_job(dir.path(), kMessage, {"b@example.org"}), o);
    EXPECT_EQ(run.result.recipients.at(0).outcome, Outcome::temporary);
    EXPECT_EQ(run.result.recipients.at(0).enhanced, "4.7.11");
    EXPECT_FALSE(has_command(run.records.at(0), "AUTH"));
    EXPECT_FALSE(has_command(run.records.at(0), "MAIL"));
}

TEST(delivery_SmtpSession, Rcpt421ClosesTheTransaction) {
    TempDir dir;
    Script script;
    script.ehlo = "250-fake.test\r\n250 8BITMIME\r\n";  // no pipelining: the 421 ends it at once
    script.rcpt["c@example.org"] = "421 4.4.2 fake.test shutting down\r\n";
    auto run = run_session(script, make_job(dir.path(), kMessage, {"b@example.org", "c@example.org", "d@example.org"}),
                           plain_options());
    for (const auto& r : run.result.recipients) {
        EXPECT_EQ(r.outcome, Outcome::temporary) << r.address;
        EXPECT_EQ(r.code, 421) << r.address;
    }
    EXPECT_FALSE(has_command(run.records.at(0), "DATA"));
    EXPECT_FALSE(has_command(run.records.at(0), "RCPT TO:<d@"));
}

}  // namespace
