// tests/unit/smtp/test_server.cpp — the SMTP submission server protocol
// (relay/smtp/server.hpp) driven with scripted lines, as the session coroutine would:
// every reply code, the EHLO keyword lists before and after TLS, a full transaction,
// PIPELINING flush flags, AUTH PLAIN/LOGIN, the limits (bad commands, AUTH failures,
// recipients, line length, SIZE, BDAT totals), BDAT sequences, STARTTLS reset, timeouts,
// and the call-order contract.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "relay/smtp/data_reader.hpp"
#include "relay/smtp/sasl.hpp"
#include "relay/smtp/server.hpp"

namespace {

using namespace signpost::smtp;
using namespace std::string_literals;

const std::string kHost = "mx.example.test";

// Refuses senders and recipients whose local part is "denied" (550 5.7.1), and records
// every call.
class TestPolicy : public Policy {
public:
    std::optional<Reply> check_sender(const std::string& user, const std::string& address) override {
        senders.push_back(user + "|" + address);
        if (address.rfind("denied@", 0) == 0) return make_reply(550, "5.7.1", "Sender address not allowed");
        if (address.rfind("shutdown@", 0) == 0) return make_reply(421, "4.3.2", "Shutting down");
        if (address.rfind("buggy@", 0) == 0) return make_reply(250, "2.0.0", "Oops");
        return std::nullopt;
    }
    std::optional<Reply> check_recipient(const std::string& user, const std::string& address) override {
        recipients.push_back(user + "|" + address);
        if (address.rfind("denied@", 0) == 0) return make_reply(550, "5.7.1", "Recipient refused");
        return std::nullopt;
    }
    std::vector<std::string> senders, recipients;
};

std::string wire(const Step& s) {
    std::string out;
    for (const Reply& r : s.replies) out += r.wire();
    return out;
}

ServerOptions options(bool tls) {
    ServerOptions o;
    o.hostname = kHost;
    o.tls_active = tls;
    return o;
}

std::string plain(const std::string& authzid, const std::string& user, const std::string& password) {
    return encode_base64(authzid + "\0"s + user + "\0"s + password);
}

struct Session {
    TestPolicy policy;
    ServerProtocol p;
    explicit Session(ServerOptions o = options(false)) : p(std::move(o), policy) {}
    Step line(const std::string& l) { return p.on_line(l); }
    std::string say(const std::string& l) { return wire(p.on_line(l)); }
    void ehlo() { ASSERT_EQ(say("EHLO client.example").substr(0, 4), "250-"); }
    void authenticate(const std::string& user = "alice") {
        const Step s = line("AUTH PLAIN " + plain("", user, "secret"));
        ASSERT_EQ(s.next, Next::verify_password);
        ASSERT_EQ(wire(p.on_auth_result(true)), "235 2.7.0 Authentication successful\r\n");
    }
};

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// --- replies ------------------------------------------------------------------------------

TEST(Reply, WireFormat) {
    EXPECT_EQ(make_reply(250, "2.0.0", "Ok").wire(), "250 2.0.0 Ok\r\n");
    EXPECT_EQ(make_reply(220, "", "host ESMTP").wire(), "220 host ESMTP\r\n");
    EXPECT_EQ(make_reply(334, "", "").wire(), "334 \r\n");
    Reply multi;
    multi.code = 250;
    multi.enhanced = "2.0.0";
    multi.lines = {"first", "last"};
    EXPECT_EQ(multi.wire(), "250-2.0.0 first\r\n250 2.0.0 last\r\n");  // RFC 2034 §4: every line
    multi.enhanced.clear();
    EXPECT_EQ(multi.wire(), "250-first\r\n250 last\r\n");
    // CR, LF and NUL inside a line can never break the reply framing.
    EXPECT_EQ(make_reply(550, "5.7.1", "a\r\n250 ok\0x"s).wire(), "550 5.7.1 a  250 ok x\r\n");
    EXPECT_TRUE(make_reply(354, "", "go").positive());
    EXPECT_FALSE(make_reply(452, "4.5.3", "no").positive());
}

TEST(Server, Greeting) {
    Session s;
    const Step g = s.p.greeting();
    EXPECT_EQ(wire(g), "220 mx.example.test ESMTP Signpost\r\n");
    EXPECT_EQ(g.next, Next::read_line);
    EXPECT_TRUE(g.flush);
}

TEST(Server, EhloKeywordsBeforeAndAfterTls) {
    const std::string common =
        "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 25000000\r\n250-8BITMIME\r\n"
        "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n";
    {
        Session s;  // port 587 before STARTTLS: STARTTLS offered, AUTH never
        EXPECT_EQ(s.say("EHLO client.example"), common + "250-CHUNKING\r\n250 STARTTLS\r\n");
        EXPECT_TRUE(s.p.esmtp());
        EXPECT_EQ(s.p.client_name(), "client.example");
    }
    {
        Session s;  // after STARTTLS: AUTH, no STARTTLS
        s.ehlo();
        EXPECT_EQ(s.line("STARTTLS").next, Next::start_tls);
        s.p.on_tls_started();
        EXPECT_EQ(s.say("EHLO client.example"), common + "250-CHUNKING\r\n250-AUTH PLAIN LOGIN\r\n250 REQUIRETLS\r\n");
    }
    {
        ServerOptions o = options(true);  // implicit TLS listener (465)
        o.starttls_offered = false;
        Session s(o);
        EXPECT_EQ(s.say("EHLO client.example"), common + "250-CHUNKING\r\n250-AUTH PLAIN LOGIN\r\n250 REQUIRETLS\r\n");
    }
    {
        ServerOptions o = options(false);  // plain listener without TLS: neither
        o.starttls_offered = false;
        o.max_message_size = 1234;
        Session s(o);
        const std::string w = s.say("EHLO client.example");
        EXPECT_NE(w.find("250-SIZE 1234\r\n"), std::string::npos);
        EXPECT_TRUE(w.ends_with("250 CHUNKING\r\n")) << w;
        EXPECT_EQ(w.find("AUTH"), std::string::npos);
    }
}

TEST(Server, HeloHasNoExtensions) {
    Session s;
    EXPECT_EQ(s.say("HELO client.example"), "250 mx.example.test\r\n");
    EXPECT_FALSE(s.p.esmtp());
    EXPECT_EQ(s.p.client_name(), "client.example");
}

// --- every reply code, one command from a given state -----------------------------------

enum class Start { fresh, ehlo, tls_fresh, tls_ehlo, authed, helo_authed, mail, rcpt, utf8_mail };

void bring(Session& s, Start setup) {
    if (setup == Start::fresh || setup == Start::tls_fresh) return;
    s.ehlo();
    if (setup == Start::ehlo || setup == Start::tls_ehlo) return;
    s.authenticate();
    if (setup == Start::authed) return;
    if (setup == Start::helo_authed) {
        ASSERT_EQ(s.say("HELO client.example"), "250 mx.example.test\r\n");
        return;
    }
    if (setup == Start::utf8_mail) {
        ASSERT_EQ(s.say("MAIL FROM:<alice@example.org> SMTPUTF8"), "250 2.1.0 Sender ok\r\n");
        return;
    }
    ASSERT_EQ(s.say("MAIL FROM:<alice@example.org>"), "250 2.1.0 Sender ok\r\n");
    if (setup == Start::mail) return;
    ASSERT_EQ(s.say("RCPT TO:<bob@example.net>"), "250 2.1.5 Recipient ok\r\n");
}

struct CodeRow {
    Start setup;
    std::string line;
    std::string expect;  // prefix of the wire text of the whole Step
    Next next = Next::read_line;
};

TEST(Server, ReplyCodes) {
    using S = Start;
    const std::string alice = plain("", "alice", "secret");
    const std::vector<CodeRow> rows = {
        {S::fresh, "NOOP", "250 2.0.0 Ok\r\n"},
        {S::fresh, "noop with text", "250 2.0.0 Ok\r\n"},
        {S::fresh, "RSET", "250 2.0.0 Ok\r\n"},
        {S::fresh, "RSET now", "501 5.5.4 "},
        {S::fresh, "QUIT", "221 2.0.0 Bye\r\n", Next::close},
        {S::fresh, "QUIT now", "501 5.5.4 "},
        {S::fresh, "HELP", "214 2.0.0 "},
        {S::fresh, "VRFY bob", "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"},
        {S::fresh, "VRFY", "501 5.5.4 "},
        {S::fresh, "EXPN staff", "502 5.5.1 Command not implemented\r\n"},
        {S::fresh, "TURN", "502 5.5.1 Command not implemented\r\n"},
        {S::fresh, "ETRN example.org", "502 5.5.1 Command not implemented\r\n"},
        {S::fresh, "XYZZY", "500 5.5.2 Syntax error, command unrecognized\r\n"},
        {S::fresh, "", "500 5.5.2 Syntax error, command unrecognized\r\n"},
        {S::fresh, "EHLO", "501 5.5.4 "},
        {S::fresh, "HELO", "501 5.5.4 "},
        {S::fresh, "EHLO bad\x01name", "501 5.5.4 "},
        {S::fresh, "EHLO [192.0.2.1]", "250-mx.example.test\r\n"},
        {S::fresh, "HELO client.example", "250 mx.example.test\r\n"},
        {S::fresh, "MAIL FROM:<alice@example.org>", "503 5.5.1 Send EHLO first\r\n"},
        {S::fresh, "RCPT TO:<bob@example.net>", "503 5.5.1 "},
        {S::fresh, "DATA", "503 5.5.1 "},
        {S::fresh, "STARTTLS", "220 2.0.0 Ready to start TLS\r\n", Next::start_tls},
        {S::ehlo, "MAIL FROM:<alice@example.org>", "530 5.7.0 Authentication required\r\n"},
        {S::ehlo, "RCPT TO:<bob@example.net>", "530 5.7.0 Authentication required\r\n"},
        {S::ehlo, "DATA", "530 5.7.0 Authentication required\r\n"},
        {S::ehlo, "AUTH PLAIN " + alice, "538 5.7.11 Encryption required for requested authentication mechanism\r\n"},
        {S::ehlo, "AUTH LOGIN", "538 5.7.11 "},
        {S::fresh, "AUTH PLAIN", "538 5.7.11 "},
        {S::ehlo, "STARTTLS", "220 2.0.0 Ready to start TLS\r\n", Next::start_tls},
        {S::ehlo, "STARTTLS now", "501 5.5.4 "},
        {S::tls_ehlo, "STARTTLS", "454 4.7.0 TLS not available\r\n"},
        {S::tls_fresh, "AUTH PLAIN " + alice, "503 5.5.1 Send EHLO first\r\n"},
        {S::tls_ehlo, "AUTH CRAM-MD5", "504 5.5.4 Unrecognized authentication type\r\n"},
        {S::tls_ehlo, "AUTH", "501 5.5.4 "},
        {S::tls_ehlo, "AUTH PLAIN a b", "501 5.5.4 "},
        {S::tls_ehlo, "AUTH PLAIN", "334 \r\n"},
        {S::tls_ehlo, "auth plain", "334 \r\n"},
        {S::tls_ehlo, "AUTH LOGIN", "334 VXNlcm5hbWU6\r\n"},
        {S::tls_ehlo, "AUTH LOGIN " + encode_base64("alice"), "334 UGFzc3dvcmQ6\r\n"},
        {S::tls_ehlo, "AUTH PLAIN !!!!", "501 5.5.2 Cannot decode response\r\n"},
        {S::tls_ehlo, "AUTH PLAIN *", "501 5.0.0 Authentication cancelled\r\n"},
        {S::tls_ehlo, "AUTH PLAIN =", "535 5.7.8 Authentication credentials invalid\r\n"},
        {S::tls_ehlo, "AUTH PLAIN " + plain("bob", "alice", "secret"), "535 5.7.8 Authentication credentials invalid\r\n"},
        {S::tls_ehlo, "AUTH PLAIN " + alice, "", Next::verify_password},
        {S::tls_ehlo, "MAIL FROM:<alice@example.org>", "530 5.7.0 "},
        {S::authed, "AUTH PLAIN " + alice, "503 5.5.1 Already authenticated\r\n"},
        {S::authed, "MAIL FROM:<alice@example.org>", "250 2.1.0 Sender ok\r\n"},
        {S::authed, "mail from:<alice@example.org>", "250 2.1.0 Sender ok\r\n"},
        {S::authed, "MAIL FROM: <alice@example.org>", "250 2.1.0 Sender ok\r\n"},
        {S::authed, "MAIL FROM:<>", "250 2.1.0 Sender ok\r\n"},
        {S::authed, "MAIL FROM:<@relay.example:alice@example.org>", "250 2.1.0 "},
        {S::authed, "MAIL FROM:<alice@[192.0.2.1]>", "250 2.1.0 "},
        {S::authed, "MAIL FROM:<alice@[IPv6:2001:db8::1]>", "250 2.1.0 "},
        {S::authed, "MAIL FROM:<alice@example.org> SIZE=1000 BODY=8BITMIME AUTH=<>", "250 2.1.0 "},
        {S::authed, "MAIL FROM:<alice@example.org> SIZE=25000000", "250 2.1.0 "},
        {S::authed, "MAIL FROM:<alice@example.org> SIZE=25000001",
         "552 5.3.4 Message size exceeds fixed maximum message size\r\n"},
        {S::authed, "MAIL FROM:<alice@example.org> SIZE=99999999999999999999", "552 5.3.4 "},
        {S::authed, "MAIL FROM:<alice@example.org> SIZE=abc", "501 5.5.4 "},
        {S::authed, "MAIL FROM:<alice@example.org> BODY=BINARYMIME",
         "555 5.5.4 Unsupported MAIL FROM/RCPT TO parameter\r\n"},
        {S::authed, "MAIL FROM:<alice@example.org> RET=HDRS", "555 5.5.4 "},
        {S::authed, "MAIL FROM:alice@example.org", "501 5.5.4 "},
        {S::authed, "MAIL FROM", "501 5.5.4 "},
        {S::authed, "MAIL TO:<alice@example.org>", "501 5.5.4 "},
        {S::authed, "MAIL FROM:<alice@@example.org>", "553 5.1.7 "},
        {S::authed, "MAIL FROM:<alice>", "553 5.1.7 "},
        {S::authed, "MAIL FROM:<" + std::string(65, 'a') + "@example.org>", "553 5.1.7 "},
        {S::authed, "MAIL FROM:<j\xC3\xB6rg@example.org>", "553 5.6.7 Address contains non-ASCII; SMTPUTF8 required\r\n"},
        {S::authed, "MAIL FROM:<j\xC3\xB6rg@example.org> SMTPUTF8", "250 2.1.0 "},
        {S::authed, "MAIL FROM:<denied@example.org>", "550 5.7.1 Sender address not allowed\r\n"},
        {S::authed, "RCPT TO:<bob@example.net>", "503 5.5.1 "},
        {S::authed, "DATA", "503 5.5.1 "},
        {S::authed, "STARTTLS", "454 4.7.0 TLS not available\r\n"},
        {S::helo_authed, "MAIL FROM:<alice@example.org> SIZE=10", "555 5.5.4 "},
        {S::helo_authed, "MAIL FROM:<alice@example.org>", "250 2.1.0 "},
        {S::helo_authed, "AUTH PLAIN " + alice, "503 5.5.1 "},
        {S::mail, "MAIL FROM:<alice@example.org>", "503 5.5.1 "},
        {S::mail, "RCPT TO:<bob@example.net>", "250 2.1.5 Recipient ok\r\n"},
        {S::mail, "rcpt to: <bob@example.net>", "250 2.1.5 Recipient ok\r\n"},
        {S::mail, "RCPT TO:<Postmaster>", "250 2.1.5 "},
        {S::mail, "RCPT TO:<>", "553 5.1.3 "},
        {S::mail, "RCPT TO:<bob>", "553 5.1.3 "},
        {S::mail, "RCPT TO:<bob@example..net>", "553 5.1.3 "},
        {S::mail, "RCPT TO:bob@example.net", "501 5.5.4 "},
        {S::mail, "RCPT TO:<bob@example.net> NOTIFY=NEVER", "555 5.5.4 "},
        {S::mail, "RCPT TO:<bj\xC3\xB6rn@example.net>", "553 5.6.7 "},
        {S::utf8_mail, "RCPT TO:<bj\xC3\xB6rn@example.net>", "250 2.1.5 "},
        {S::mail, "RCPT TO:<denied@example.net>", "550 5.7.1 Recipient refused\r\n"},
        {S::mail, "DATA", "503 5.5.1 No valid recipients\r\n"},
        {S::mail, "AUTH PLAIN " + alice, "503 5.5.1 "},
        {S::rcpt, "DATA", "354 Start mail input; end with <CRLF>.<CRLF>\r\n", Next::read_data},
        {S::rcpt, "DATA now", "501 5.5.4 "},
        {S::rcpt, "RSET", "250 2.0.0 Ok\r\n"},
        {S::rcpt, "QUIT", "221 2.0.0 Bye\r\n", Next::close},
    };
    for (const CodeRow& r : rows) {
        const bool tls = r.setup != Start::fresh && r.setup != Start::ehlo;
        Session s(options(tls));
        bring(s, r.setup);
        const Step step = s.line(r.line);
        const std::string w = wire(step);
        EXPECT_TRUE(starts_with(w, r.expect)) << "line " << testing::PrintToString(r.line) << " got " << w;
        if (r.expect.empty()) {
            EXPECT_EQ(w, "") << r.line;
        }
        EXPECT_EQ(step.next, r.next) << r.line;
    }
}

// --- transactions -------------------------------------------------------------------------

TEST(Server, FullTransaction) {
    Session s(options(true));
    s.ehlo();
    s.authenticate("alice");
    EXPECT_TRUE(s.p.authenticated());
    EXPECT_EQ(s.p.user(), "alice");
    EXPECT_EQ(s.say("MAIL FROM:<alice@example.org> SIZE=100 BODY=8BITMIME"), "250 2.1.0 Sender ok\r\n");
    EXPECT_EQ(s.say("RCPT TO:<bob@example.net>"), "250 2.1.5 Recipient ok\r\n");
    EXPECT_EQ(s.say("RCPT TO:<carol@example.net>"), "250 2.1.5 Recipient ok\r\n");
    const Step data = s.line("DATA");
    EXPECT_EQ(wire(data), "354 Start mail input; end with <CRLF>.<CRLF>\r\n");
    EXPECT_EQ(data.next, Next::read_data);
    EXPECT_TRUE(data.flush);

    const Envelope& env = s.p.envelope();
    EXPECT_EQ(env.mail_from, "alice@example.org");
    EXPECT_EQ(env.rcpt_to, (std::vector<std::string>{"bob@example.net", "carol@example.net"}));
    EXPECT_EQ(env.declared_size, 100u);
    EXPECT_TRUE(env.body_8bit);
    EXPECT_FALSE(env.smtputf8);
    EXPECT_EQ(s.policy.senders, (std::vector<std::string>{"alice|alice@example.org"}));
    EXPECT_EQ(s.policy.recipients,
              (std::vector<std::string>{"alice|bob@example.net", "alice|carol@example.net"}));

    // The I/O layer reads the body through a DataReader; the pipelined QUIT stays unread.
    const std::string stream = "Subject: hi\r\n\r\nHello\r\n..dot\r\n.\r\nQUIT\r\n";
    DataReader reader(25'000'000);
    std::string body;
    const auto r = reader.feed(stream, body);
    ASSERT_TRUE(r.done);
    EXPECT_EQ(body, "Subject: hi\r\n\r\nHello\r\n.dot\r\n");
    EXPECT_EQ(reader.error(), DataError::none);
    EXPECT_THROW(s.p.on_line("NOOP"), std::logic_error);  // body pending: a caller bug

    const Step end = s.p.on_message_end({make_reply(250, "2.0.0", "Ok: queued as 4F2A")});
    EXPECT_EQ(wire(end), "250 2.0.0 Ok: queued as 4F2A\r\n");
    EXPECT_EQ(end.next, Next::read_line);
    EXPECT_TRUE(s.p.envelope().rcpt_to.empty());
    EXPECT_EQ(s.p.envelope().mail_from, "");
    EXPECT_TRUE(s.p.authenticated());  // kept across transactions

    // A second transaction, refused by the reader.
    EXPECT_EQ(s.say("MAIL FROM:<>"), "250 2.1.0 Sender ok\r\n");
    EXPECT_EQ(s.say("RCPT TO:<bob@example.net>"), "250 2.1.5 Recipient ok\r\n");
    EXPECT_EQ(s.line("DATA").next, Next::read_data);
    EXPECT_EQ(wire(s.p.on_message_end({reply_for(DataError::bare_lf)})).substr(0, 10), "550 5.5.2 ");

    const std::string rest(stream.substr(r.consumed));
    EXPECT_EQ(rest, "QUIT\r\n");
    const Step quit = s.line("QUIT");
    EXPECT_EQ(wire(quit), "221 2.0.0 Bye\r\n");
    EXPECT_EQ(quit.next, Next::close);
    EXPECT_TRUE(quit.flush);
}

TEST(Server, PipelinedBatchFlushesOnlyBeforeData) {
    Session s(options(true));
    s.ehlo();
    s.authenticate();
    struct Row {
        std::string line;
        std::string reply;
        Next next;
        bool flush;
    };
    const std::vector<Row> batch = {
        {"MAIL FROM:<alice@example.org>", "250 2.1.0 Sender ok\r\n", Next::read_line, false},
        {"RCPT TO:<bob@example.net>", "250 2.1.5 Recipient ok\r\n", Next::read_line, false},
        {"RCPT TO:<denied@example.net>", "550 5.7.1 Recipient refused\r\n", Next::read_line, false},
        {"RCPT TO:<carol@example.net>", "250 2.1.5 Recipient ok\r\n", Next::read_line, false},
        {"DATA", "354 Start mail input; end with <CRLF>.<CRLF>\r\n", Next::read_data, true},
    };
    for (const Row& r : batch) {
        const Step step = s.line(r.line);
        EXPECT_EQ(wire(step), r.reply) << r.line;
        EXPECT_EQ(step.next, r.next) << r.line;
        EXPECT_EQ(step.flush, r.flush) << r.line;
    }
    EXPECT_EQ(s.p.envelope().rcpt_to.size(), 2u);
    EXPECT_FALSE(s.p.on_message_end({make_reply(250, "2.0.0", "Ok")}).flush);
    // Other batchable replies.
    EXPECT_FALSE(s.line("NOOP").flush);
    EXPECT_FALSE(s.line("RSET").flush);
    EXPECT_FALSE(s.line("EHLO again.example").flush);
}

TEST(Server, EhloAndRsetResetTheTransaction) {
    Session s(options(true));
    s.ehlo();
    s.authenticate();
    EXPECT_EQ(s.say("MAIL FROM:<alice@example.org>"), "250 2.1.0 Sender ok\r\n");
    EXPECT_EQ(s.say("RCPT TO:<bob@example.net>"), "250 2.1.5 Recipient ok\r\n");
    EXPECT_EQ(s.say("EHLO other.example").substr(0, 4), "250-");  // RFC 5321 §4.1.4
    EXPECT_TRUE(s.p.envelope().rcpt_to.empty());
    EXPECT_TRUE(starts_with(s.say("RCPT TO:<bob@example.net>"), "503 5.5.1 "));
    EXPECT_TRUE(s.p.authenticated());
    EXPECT_EQ(s.p.client_name(), "other.example");

    EXPECT_EQ(s.say("MAIL FROM:<alice@example.org>"), "250 2.1.0 Sender ok\r\n");
    EXPECT_EQ(s.say("RCPT TO:<bob@example.net>"), "250 2.1.5 Recipient ok\r\n");
    EXPECT_EQ(s.say("RSET"), "250 2.0.0 Ok\r\n");
    EXPECT_TRUE(s.p.envelope().rcpt_to.empty());
    EXPECT_TRUE(starts_with(s.say("DATA"), "503 5.5.1 "));
    EXPECT_EQ(s.say("MAIL FROM:<alice@example.org>"), "250 2.1.0 Sender ok\r\n");
}

TEST(Server, RecipientLimit) {
    Session s(options(true));
    s.ehlo();
    s.authenticate();
    EXPECT_EQ(s.say("MAIL FROM:<alice@example.org>"), "250 2.1.0 Sender ok\r\n");
    for (int i = 0; i < 1000; ++i) {
        const Step step = s.line("RCPT TO:<r" + std::to_string(i) + "@example.net>");
        if (i < 100) {
            ASSERT_EQ(wire(step), "250 2.1.5 Recipient ok\r\n") << i;
        } else {
            ASSERT_EQ(wire(step), "452 4.5.3 Too many recipients\r\n") << i;  // never a 421
            ASSERT_EQ(step.next, Next::read_line);
        }
    }
    EXPECT_EQ(s.p.envelope().rcpt_to.size(), 100u);
    EXPECT_EQ(s.line("DATA").next, Next::read_data);
}

TEST(Server, MessageSizeFromMailFrom) {
    ServerOptions o = options(true);
    o.max_message_size = 1000;
    Session s(o);
    s.ehlo();
    s.authenticate();
    EXPECT_EQ(s.say("MAIL FROM:<alice@example.org> SIZE=1001"),
              "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    EXPECT_EQ(s.say("MAIL FROM:<alice@example.org> SIZE=1000"), "250 2.1.0 Sender ok\r\n");
    EXPECT_EQ(s.p.envelope().declared_size, 1000u);
}

TEST(Server, PolicyPositiveRefusalIsABug) {
    Session s(options(true));
    s.ehlo();
    s.authenticate();
    EXPECT_THROW(s.line("MAIL FROM:<buggy@example.org>"), std::logic_error);
}

TEST(Server, Reply421FromPolicyOrOutcomeCloses) {
    Session s(options(true));
    s.ehlo();
    s.authenticate();
    const Step st = s.line("MAIL FROM:<shutdown@example.org>");
    EXPECT_EQ(wire(st), "421 4.3.2 Shutting down\r\n");
    EXPECT_EQ(st.next, Next::close);
    EXPECT_TRUE(st.flush);

    Session t(options(true));
    t.ehlo();
    t.authenticate();
    t.line("MAIL FROM:<alice@example.org>");
    t.line("RCPT TO:<bob@example.net>");
    ASSERT_EQ(t.line("DATA").next, Next::read_data);
    EXPECT_EQ(t.p.on_message_end({make_reply(421, "4.3.0", "Going down")}).next, Next::close);
}

// --- AUTH ---------------------------------------------------------------------------------

TEST(Auth, PlainWithInitialResponse) {
    Session s(options(true));
    s.ehlo();
    const Step st = s.line("AUTH PLAIN " + plain("", "alice", "s3cret"));
    EXPECT_TRUE(st.replies.empty());
    EXPECT_EQ(st.next, Next::verify_password);
    EXPECT_TRUE(st.flush);
    EXPECT_EQ(s.p.auth_user(), "alice");
    EXPECT_EQ(s.p.auth_password(), "s3cret");
    EXPECT_FALSE(s.p.authenticated());
    EXPECT_THROW(s.p.on_line("NOOP"), std::logic_error);  // check pending
    const Step ok = s.p.on_auth_result(true);
    EXPECT_EQ(wire(ok), "235 2.7.0 Authentication successful\r\n");
    EXPECT_EQ(s.p.user(), "alice");
    EXPECT_TRUE(s.p.auth_password().empty());  // never kept
    EXPECT_TRUE(s.p.auth_user().empty());
}

TEST(Auth, PlainAuthzidEqualToAuthcid) {
    Session s(options(true));
    s.ehlo();
    EXPECT_EQ(s.line("AUTH PLAIN " + plain("alice", "alice", "pw")).next, Next::verify_password);
    EXPECT_EQ(s.p.auth_user(), "alice");
}

TEST(Auth, PlainWithoutInitialResponse) {
    Session s(options(true));
    s.ehlo();
    EXPECT_EQ(s.p.max_line_length(), 512u);
    const Step c = s.line("AUTH PLAIN");
    EXPECT_EQ(wire(c), "334 \r\n");
    EXPECT_TRUE(c.flush);
    EXPECT_EQ(s.p.max_line_length(), 12288u);  // RFC 4954 §4
    const Step st = s.line(plain("", "alice", "pw"));
    EXPECT_EQ(st.next, Next::verify_password);
    EXPECT_EQ(s.p.max_line_length(), 512u);
    EXPECT_EQ(wire(s.p.on_auth_result(false)), "535 5.7.8 Authentication credentials invalid\r\n");
    EXPECT_EQ(s.p.auth_failures(), 1u);
    EXPECT_FALSE(s.p.authenticated());
    EXPECT_TRUE(s.p.auth_password().empty());
}

TEST(Auth, BadBase64AndCancel) {
    Session s(options(true));
    s.ehlo();
    EXPECT_EQ(s.say("AUTH PLAIN"), "334 \r\n");
    EXPECT_EQ(s.say("not base64!"), "501 5.5.2 Cannot decode response\r\n");
    EXPECT_EQ(s.p.max_line_length(), 512u);  // exchange over
    EXPECT_EQ(s.say("NOOP"), "250 2.0.0 Ok\r\n");
    EXPECT_EQ(s.say("AUTH PLAIN"), "334 \r\n");
    EXPECT_EQ(s.say("*"), "501 5.0.0 Authentication cancelled\r\n");
    EXPECT_EQ(s.p.auth_failures(), 0u);
    EXPECT_EQ(s.say("NOOP"), "250 2.0.0 Ok\r\n");  // a command again, not a SASL response
}

TEST(Auth, AuthzidMismatchFailsWithoutPasswordCheck) {
    Session s(options(true));
    s.ehlo();
    const Step st = s.line("AUTH PLAIN " + plain("root", "alice", "pw"));
    EXPECT_EQ(wire(st), "535 5.7.8 Authentication credentials invalid\r\n");
    EXPECT_EQ(st.next, Next::read_line);
    EXPECT_EQ(s.p.auth_failures(), 1u);
}

TEST(Auth, LoginBothWays) {
    {
        Session s(options(true));
        s.ehlo();
        EXPECT_EQ(s.say("AUTH LOGIN"), "334 VXNlcm5hbWU6\r\n");
        EXPECT_EQ(s.p.max_line_length(), 12288u);
        EXPECT_EQ(s.say(encode_base64("alice")), "334 UGFzc3dvcmQ6\r\n");
        EXPECT_EQ(s.p.max_line_length(), 12288u);
        const Step st = s.line(encode_base64("pw 1"));
        EXPECT_EQ(st.next, Next::verify_password);
        EXPECT_EQ(s.p.auth_user(), "alice");
        EXPECT_EQ(s.p.auth_password(), "pw 1");
        EXPECT_EQ(wire(s.p.on_auth_result(true)), "235 2.7.0 Authentication successful\r\n");
        EXPECT_EQ(s.p.user(), "alice");
    }
    {
        Session s(options(true));
        s.ehlo();
        EXPECT_EQ(s.say("AUTH LOGIN " + encode_base64("bob")), "334 UGFzc3dvcmQ6\r\n");
        EXPECT_EQ(s.line(encode_base64("pw")).next, Next::verify_password);
        EXPECT_EQ(s.p.auth_user(), "bob");
    }
    {
        Session s(options(true));
        s.ehlo();
        EXPECT_EQ(s.say("AUTH LOGIN " + encode_base64("bob")), "334 UGFzc3dvcmQ6\r\n");
        EXPECT_EQ(s.say("*"), "501 5.0.0 Authentication cancelled\r\n");
        EXPECT_TRUE(s.p.auth_user().empty());
        EXPECT_EQ(s.say("AUTH LOGIN"), "334 VXNlcm5hbWU6\r\n");
        EXPECT_EQ(s.say("%%%"), "501 5.5.2 Cannot decode response\r\n");
    }
    {
        Session s(options(true));  // an empty user name fails without a check
        s.ehlo();
        EXPECT_EQ(s.say("AUTH LOGIN ="), "334 UGFzc3dvcmQ6\r\n");
        EXPECT_EQ(s.say(encode_base64("pw")), "535 5.7.8 Authentication credentials invalid\r\n");
    }
}

TEST(Auth, FiveFailuresClose) {
    Session s(options(true));
    s.ehlo();
    for (int i = 1; i <= 5; ++i) {
        ASSERT_EQ(s.line("AUTH PLAIN " + plain("", "alice", "wrong")).next, Next::verify_password);
        const Step st = s.p.on_auth_result(false);
        if (i < 5) {
            EXPECT_EQ(wire(st), "535 5.7.8 Authentication credentials invalid\r\n") << i;
            EXPECT_EQ(st.next, Next::read_line);
        } else {
            EXPECT_EQ(wire(st),
                      "535 5.7.8 Authentication credentials invalid\r\n"
                      "421 4.7.0 mx.example.test Too many authentication failures, closing connection\r\n");
            EXPECT_EQ(st.next, Next::close);
            EXPECT_TRUE(st.flush);
        }
    }
    EXPECT_EQ(s.p.auth_failures(), 5u);
    const Step after = s.line("AUTH PLAIN " + plain("", "alice", "right"));
    EXPECT_TRUE(after.replies.empty());
    EXPECT_EQ(after.next, Next::close);
}

TEST(Auth, SaslLineBounds) {
    Session s(options(true));
    s.ehlo();
    EXPECT_EQ(s.say("AUTH PLAIN"), "334 \r\n");
    // A response far over 512 octets is read as a response (decoded, then refused).
    EXPECT_EQ(s.say(std::string(5000, 'A')), "535 5.7.8 Authentication credentials invalid\r\n");
    EXPECT_EQ(s.say("AUTH PLAIN"), "334 \r\n");
    EXPECT_EQ(s.say(std::string(12287, 'A')), "500 5.5.6 Line too long\r\n");
    EXPECT_EQ(s.p.max_line_length(), 512u);
    EXPECT_EQ(s.say("AUTH PLAIN"), "334 \r\n");
    EXPECT_EQ(wire(s.p.on_line_too_long()), "500 5.5.6 Line too long\r\n");  // the reader's path
    EXPECT_EQ(s.p.max_line_length(), 512u);
    EXPECT_EQ(s.say("NOOP"), "250 2.0.0 Ok\r\n");
}

// --- limits on bad input ------------------------------------------------------------------

TEST(Server, ThreeBadCommandsClose) {
    Session s;
    EXPECT_EQ(s.say("FOO"), "500 5.5.2 Syntax error, command unrecognized\r\n");
    EXPECT_EQ(s.say("MAIL FROM:<a@example.org>"), "503 5.5.1 Send EHLO first\r\n");
    const Step third = s.line("BAR");
    EXPECT_EQ(wire(third), "500 5.5.2 Syntax error, command unrecognized\r\n"
                           "421 4.7.0 mx.example.test Too many errors, closing connection\r\n");
    EXPECT_EQ(third.next, Next::close);
    EXPECT_TRUE(third.flush);
    // Commands after close are ignored.
    const Step after = s.line("NOOP");
    EXPECT_TRUE(after.replies.empty());
    EXPECT_EQ(after.next, Next::close);
}

TEST(Server, NoopDoesNotResetTheErrorCountButProgressDoes) {
    Session a;
    a.say("FOO");
    a.say("NOOP");
    a.say("BAR");
    a.say("RSET");
    EXPECT_EQ(a.line("BAZ").next, Next::close);

    Session b;
    b.say("FOO");
    b.say("BAR");
    b.ehlo();  // progress
    EXPECT_EQ(b.line("BAZ").next, Next::read_line);
    EXPECT_EQ(b.line("QUX").next, Next::read_line);
    EXPECT_EQ(b.line("QUUX").next, Next::close);
}

TEST(Server, LineTooLong) {
    Session s;
    EXPECT_EQ(s.say(std::string(100 * 1024, 'A')), "500 5.5.6 Line too long\r\n");
    EXPECT_EQ(s.say("NOOP " + std::string(505, 'x')), "250 2.0.0 Ok\r\n");  // 510 + CRLF = 512
    EXPECT_EQ(s.say("NOOP " + std::string(506, 'x')), "500 5.5.6 Line too long\r\n");
    const Step third = s.p.on_line_too_long();  // the reader's path
    EXPECT_TRUE(starts_with(wire(third), "500 5.5.6 Line too long\r\n421 4.7.0 "));
    EXPECT_EQ(third.next, Next::close);
}

TEST(Server, NulBareLfBareCr) {
    Session s;
    EXPECT_EQ(s.say("NO\0OP"s), "500 5.5.2 NUL character not allowed\r\n");
    EXPECT_EQ(wire(s.p.on_line("NOOP", true)), "500 5.5.2 Line must end with CRLF\r\n");
    Session t;
    EXPECT_TRUE(starts_with(t.say("EHLO a\rb"), "500 5.5.2 "));
    Session u(options(true));  // in a SASL exchange: refused and the exchange ends
    u.ehlo();
    EXPECT_EQ(u.say("AUTH PLAIN"), "334 \r\n");
    EXPECT_EQ(wire(u.p.on_line(plain("", "a", "b"), true)), "500 5.5.2 Line must end with CRLF\r\n");
    EXPECT_EQ(u.p.max_line_length(), 512u);
}

// --- BDAT (RFC 3030) ----------------------------------------------------------------------

struct BdatSession : Session {
    BdatSession(std::uint64_t max = 25'000'000) : Session([&] {
        ServerOptions o = options(true);
        o.max_message_size = max;
        return o;
    }()) {
        ehlo();
        authenticate();
    }
    void envelope() {
        ASSERT_EQ(say("MAIL FROM:<alice@example.org>"), "250 2.1.0 Sender ok\r\n");
        ASSERT_EQ(say("RCPT TO:<bob@example.net>"), "250 2.1.5 Recipient ok\r\n");
    }
};

TEST(Bdat, ChunksThenLast) {
    BdatSession s;
    s.envelope();
    Step st = s.line("BDAT 10");
    EXPECT_TRUE(st.replies.empty());  // the reply follows the chunk
    EXPECT_EQ(st.next, Next::read_bdat);
    EXPECT_FALSE(st.flush);
    EXPECT_EQ(s.p.bdat_size(), 10u);
    EXPECT_FALSE(s.p.bdat_last());
    EXPECT_FALSE(s.p.bdat_discard());
    EXPECT_THROW(s.p.on_line("NOOP"), std::logic_error);
    st = s.p.on_bdat_chunk();
    EXPECT_EQ(wire(st), "250 2.0.0 10 octets received\r\n");
    EXPECT_EQ(st.next, Next::read_line);

    EXPECT_TRUE(starts_with(s.say("DATA"), "503 5.5.1 "));  // not after BDAT
    EXPECT_TRUE(starts_with(s.say("RCPT TO:<carol@example.net>"), "503 5.5.1 "));

    st = s.line("BDAT 5 LAST");
    EXPECT_EQ(st.next, Next::read_bdat);
    EXPECT_EQ(s.p.bdat_size(), 5u);
    EXPECT_TRUE(s.p.bdat_last());
    EXPECT_FALSE(s.p.bdat_discard());
    EXPECT_EQ(s.p.envelope().rcpt_to.size(), 1u);
    st = s.p.on_message_end({make_reply(250, "2.0.0", "Ok: queued as X1")});
    EXPECT_EQ(wire(st), "250 2.0.0 Ok: queued as X1\r\n");
    EXPECT_TRUE(s.p.envelope().rcpt_to.empty());
    // A new transaction may use DATA.
    s.envelope();
    EXPECT_EQ(s.line("DATA").next, Next::read_data);
}

TEST(Bdat, ZeroLast) {
    BdatSession s;
    s.envelope();
    const Step st = s.line("bdat 0 last");
    EXPECT_EQ(st.next, Next::read_bdat);
    EXPECT_EQ(s.p.bdat_size(), 0u);
    EXPECT_TRUE(s.p.bdat_last());
    EXPECT_EQ(wire(s.p.on_message_end({make_reply(250, "2.0.0", "Ok")})), "250 2.0.0 Ok\r\n");
}

TEST(Bdat, RefusedChunksAreDiscardedThenAnswered) {
    struct Row {
        const char* name;
        Start setup;
        std::string line;
        std::string reply;
    };
    const std::vector<Row> rows = {
        {"before EHLO", Start::tls_fresh, "BDAT 100", "503 5.5.1 Send EHLO first\r\n"},
        {"after HELO", Start::helo_authed, "BDAT 100", "503 5.5.1 Send EHLO first\r\n"},
        {"before AUTH", Start::tls_ehlo, "BDAT 100 LAST", "530 5.7.0 Authentication required\r\n"},
        {"before MAIL", Start::authed, "BDAT 100", "503 5.5.1 Need MAIL command\r\n"},
        {"before RCPT", Start::mail, "BDAT 100 LAST", "503 5.5.1 No valid recipients\r\n"},
        {"bad LAST", Start::rcpt, "BDAT 100 NOW", "501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n"},
    };
    for (const Row& r : rows) {
        Session s(options(true));
        bring(s, r.setup);
        const Step st = s.line(r.line);
        EXPECT_TRUE(st.replies.empty()) << r.name;
        EXPECT_EQ(st.next, Next::read_bdat) << r.name;
        EXPECT_EQ(s.p.bdat_size(), 100u) << r.name;
        EXPECT_TRUE(s.p.bdat_discard()) << r.name;
        const Step after = s.p.on_bdat_chunk();
        EXPECT_EQ(wire(after), r.reply) << r.name;
        EXPECT_EQ(after.next, Next::read_line) << r.name;
        EXPECT_FALSE(s.p.bdat_discard()) << r.name;
    }
    // With LAST the I/O may also call on_message_end: the outcome is ignored.
    Session s(options(true));
    bring(s, Start::mail);
    s.line("BDAT 3 LAST");
    ASSERT_TRUE(s.p.bdat_last());
    ASSERT_TRUE(s.p.bdat_discard());
    EXPECT_EQ(wire(s.p.on_message_end({make_reply(250, "2.0.0", "Ok")})), "503 5.5.1 No valid recipients\r\n");
}

TEST(Bdat, RefusedChunkInsideTransactionEndsIt) {
    BdatSession s;
    s.envelope();
    s.line("BDAT 4");
    s.p.on_bdat_chunk();
    s.line("BDAT 4 BOGUS");
    EXPECT_TRUE(s.p.bdat_discard());
    EXPECT_TRUE(starts_with(wire(s.p.on_bdat_chunk()), "501 5.5.4 "));
    EXPECT_TRUE(s.p.envelope().rcpt_to.empty());  // a chunk is lost: nothing can be committed
    s.line("BDAT 4 LAST");
    EXPECT_TRUE(s.p.bdat_discard());
    EXPECT_EQ(wire(s.p.on_bdat_chunk()), "503 5.5.1 Need MAIL command\r\n");
}

TEST(Bdat, SizeOverflowClosesTheSession) {
    for (const std::string line : {"BDAT 99999999999999999999", "BDAT", "BDAT x LAST", "BDAT -5"}) {
        BdatSession s;
        s.envelope();
        const Step st = s.line(line);
        EXPECT_TRUE(starts_with(wire(st), "501 5.5.4 ")) << line;
        EXPECT_EQ(st.replies.size(), 2u) << line;
        EXPECT_EQ(st.replies.back().code, 421) << line;
        EXPECT_EQ(st.next, Next::close) << line;
    }
}

TEST(Bdat, TotalOverMaximumIsDiscardedAnd552AtLast) {
    BdatSession s(100);
    s.envelope();
    s.line("BDAT 60");
    EXPECT_FALSE(s.p.bdat_discard());
    EXPECT_EQ(wire(s.p.on_bdat_chunk()), "250 2.0.0 60 octets received\r\n");
    s.line("BDAT 60");
    EXPECT_TRUE(s.p.bdat_discard());  // 120 > 100
    EXPECT_EQ(wire(s.p.on_bdat_chunk()), "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    s.line("BDAT 1");
    EXPECT_TRUE(s.p.bdat_discard());
    EXPECT_TRUE(starts_with(wire(s.p.on_bdat_chunk()), "552 5.3.4 "));
    const Step last = s.line("BDAT 0 LAST");
    EXPECT_EQ(last.next, Next::read_bdat);
    EXPECT_TRUE(s.p.bdat_discard());
    // Whatever the ingest said, the answer is 552.
    EXPECT_EQ(wire(s.p.on_message_end({make_reply(250, "2.0.0", "Ok: queued")})),
              "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    EXPECT_TRUE(s.p.envelope().rcpt_to.empty());
    EXPECT_FALSE(s.p.bdat_discard());
    // The session goes on.
    s.envelope();
    s.line("BDAT 100 LAST");
    EXPECT_FALSE(s.p.bdat_discard());

    // The same through on_bdat_chunk at LAST, and a huge single chunk.
    BdatSession t(100);
    t.envelope();
    t.line("BDAT 18446744073709551615 LAST");
    EXPECT_TRUE(t.p.bdat_discard());
    EXPECT_TRUE(starts_with(wire(t.p.on_bdat_chunk()), "552 5.3.4 "));
    EXPECT_TRUE(t.p.envelope().rcpt_to.empty());
}

TEST(Bdat, RsetAbandonsFailedTransaction) {
    BdatSession s(10);
    s.envelope();
    s.line("BDAT 20");
    EXPECT_TRUE(s.p.bdat_discard());
    s.p.on_bdat_chunk();
    EXPECT_EQ(s.say("RSET"), "250 2.0.0 Ok\r\n");
    s.envelope();
    s.line("BDAT 5 LAST");
    EXPECT_FALSE(s.p.bdat_discard());
}

// --- STARTTLS, timeouts, call order -------------------------------------------------------

TEST(StartTls, ResetsStateAndRequiresEhlo) {
    Session s;
    EXPECT_EQ(s.say("NOOP"), "250 2.0.0 Ok\r\n");
    s.ehlo();
    const Step st = s.line("STARTTLS");
    EXPECT_EQ(wire(st), "220 2.0.0 Ready to start TLS\r\n");
    EXPECT_EQ(st.next, Next::start_tls);
    EXPECT_TRUE(st.flush);
    EXPECT_THROW(s.p.on_line("EHLO x"), std::logic_error);  // handshake pending
    const Step after = s.p.on_tls_started();
    EXPECT_TRUE(after.replies.empty());  // the client speaks first
    EXPECT_EQ(after.next, Next::read_line);
    EXPECT_TRUE(s.p.tls_active());
    EXPECT_EQ(s.p.client_name(), "");
    EXPECT_FALSE(s.p.esmtp());
    EXPECT_EQ(s.say("AUTH PLAIN " + plain("", "alice", "pw")), "503 5.5.1 Send EHLO first\r\n");
    EXPECT_EQ(s.say("MAIL FROM:<alice@example.org>"), "503 5.5.1 Send EHLO first\r\n");
    const std::string ehlo = s.say("EHLO client.example");
    EXPECT_NE(ehlo.find("AUTH PLAIN LOGIN"), std::string::npos);
    EXPECT_EQ(ehlo.find("STARTTLS"), std::string::npos);
    EXPECT_EQ(s.say("STARTTLS"), "454 4.7.0 TLS not available\r\n");
    s.authenticate();
}

TEST(StartTls, NotOfferedAndFailed) {
    ServerOptions o = options(false);
    o.starttls_offered = false;
    Session s(o);
    EXPECT_EQ(s.say("STARTTLS"), "454 4.7.0 TLS not available\r\n");

    Session t;
    t.ehlo();
    ASSERT_EQ(t.line("STARTTLS").next, Next::start_tls);
    const Step failed = t.p.on_tls_failed();
    EXPECT_EQ(failed.next, Next::close);
    EXPECT_TRUE(failed.replies.empty());
    EXPECT_EQ(t.line("EHLO x").next, Next::close);
}

TEST(Server, ShutdownAndTransactionState) {
    Session s(options(true));
    s.ehlo();
    s.authenticate();
    EXPECT_FALSE(s.p.in_transaction());
    ASSERT_EQ(s.say("MAIL FROM:<alice@example.org>"), "250 2.1.0 Sender ok\r\n");
    EXPECT_TRUE(s.p.in_transaction());
    ASSERT_EQ(s.say("RCPT TO:<bob@example.net>").substr(0, 3), "250");
    EXPECT_TRUE(s.p.in_transaction());
    ASSERT_EQ(s.say("RSET").substr(0, 3), "250");
    EXPECT_FALSE(s.p.in_transaction());  // reset: nothing left to finish

    const Step st = s.p.on_shutdown();
    EXPECT_EQ(wire(st), "421 4.3.2 mx.example.test Service shutting down, try again later\r\n");
    EXPECT_EQ(st.next, Next::close);
    EXPECT_TRUE(s.p.on_shutdown().replies.empty());  // once
    EXPECT_TRUE(s.line("NOOP").replies.empty());
}

TEST(Server, Timeout) {
    Session s;
    s.ehlo();
    const Step st = s.p.on_timeout();
    EXPECT_EQ(wire(st), "421 4.4.2 mx.example.test Timeout, closing connection\r\n");
    EXPECT_EQ(st.next, Next::close);
    EXPECT_TRUE(st.flush);
    EXPECT_TRUE(s.p.on_timeout().replies.empty());  // once
    EXPECT_TRUE(s.line("NOOP").replies.empty());

    Session t(options(true));  // during a password check: the password is dropped
    t.ehlo();
    t.line("AUTH PLAIN " + plain("", "alice", "pw"));
    EXPECT_EQ(t.p.on_timeout().next, Next::close);
    EXPECT_TRUE(t.p.auth_password().empty());
    EXPECT_EQ(t.p.on_auth_result(true).next, Next::close);
    EXPECT_FALSE(t.p.authenticated());
}

TEST(Server, OutOfOrderCallsThrow) {
    Session s(options(true));
    s.ehlo();
    EXPECT_THROW(s.p.on_auth_result(true), std::logic_error);
    EXPECT_THROW(s.p.on_bdat_chunk(), std::logic_error);
    EXPECT_THROW(s.p.on_message_end({make_reply(250, "2.0.0", "Ok")}), std::logic_error);
    EXPECT_THROW(s.p.on_tls_started(), std::logic_error);
    EXPECT_FALSE(s.p.authenticated());
    // BDAT LAST accepted: on_bdat_chunk is the wrong call (the message must be ingested).
    s.authenticate();
    s.line("MAIL FROM:<alice@example.org>");
    s.line("RCPT TO:<bob@example.net>");
    s.line("BDAT 1 LAST");
    EXPECT_THROW(s.p.on_bdat_chunk(), std::logic_error);
}

}  // namespace

// --- an MX listener (require_auth = false) -------------------------------------------------

ServerOptions mx_options(bool tls) {
    ServerOptions o = options(tls);
    o.require_auth = false;
    return o;
}

TEST(ServerMx, NoAuthOfferedOrAccepted) {
    const std::string common =
        "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 25000000\r\n250-8BITMIME\r\n"
        "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250";
    Session s(mx_options(false));
    EXPECT_EQ(s.say("EHLO sender.example"), common + "-CHUNKING\r\n250 STARTTLS\r\n");
    ASSERT_EQ(s.line("STARTTLS").next, Next::start_tls);
    s.p.on_tls_started();
    // Neither AUTH nor REQUIRETLS inside TLS either.
    EXPECT_EQ(s.say("EHLO sender.example"), common + " CHUNKING\r\n");
    EXPECT_EQ(s.say("AUTH PLAIN " + plain("", "alice", "secret")), "502 5.5.1 AUTH not available on this port\r\n");
    EXPECT_FALSE(s.p.authenticated());
}

TEST(ServerMx, TransactionWithoutAuthAndPolicyDecidesRecipients) {
    Session s(mx_options(false));  // plaintext: STARTTLS is offered, not required on port 25
    s.ehlo();
    EXPECT_EQ(s.say("MAIL FROM:<someone@sender.example>"), "250 2.1.0 Sender ok\r\n");
    EXPECT_EQ(s.say("RCPT TO:<denied@home.example>"), "550 5.7.1 Recipient refused\r\n");
    EXPECT_EQ(s.say("RCPT TO:<alice@home.example>"), "250 2.1.5 Recipient ok\r\n");
    ASSERT_EQ(s.policy.recipients.size(), 2u);
    EXPECT_EQ(s.policy.recipients[1], "|alice@home.example");  // no user on an MX listener
    EXPECT_EQ(s.policy.senders.back(), "|someone@sender.example");
    const Step d = s.line("DATA");
    EXPECT_EQ(d.next, Next::read_data);
    EXPECT_EQ(wire(s.p.on_message_end({make_reply(250, "2.0.0", "Ok: queued as X")})), "250 2.0.0 Ok: queued as X\r\n");
    // The null reverse-path (bounces to our users) is mail like any other here.
    EXPECT_EQ(s.say("MAIL FROM:<>"), "250 2.1.0 Sender ok\r\n");
    EXPECT_EQ(s.say("RCPT TO:<alice@home.example>"), "250 2.1.5 Recipient ok\r\n");
    EXPECT_EQ(s.line("BDAT 10 LAST").next, Next::read_bdat);
}

TEST(ServerMx, RequireTlsParameterRefused) {
    Session s(mx_options(true));
    s.ehlo();
    EXPECT_EQ(s.say("MAIL FROM:<a@sender.example> REQUIRETLS"), "555 5.5.4 REQUIRETLS not supported on this port\r\n");
    EXPECT_EQ(s.say("MAIL FROM:<a@sender.example>"), "250 2.1.0 Sender ok\r\n");
}

TEST(ServerMx, HeloMustNameADomainOrAnAddress) {
    auto opt = mx_options(false);
    opt.strict_helo = true;
    Session s(opt);
    const std::string refused = "501 5.5.4 EHLO needs a domain name or an address literal such as [192.0.2.1]\r\n";
    EXPECT_EQ(s.say("EHLO bad host"), refused);
    EXPECT_EQ(s.say("EHLO bad!name.example"), refused);
    EXPECT_EQ(s.say("EHLO mail.sender.example").substr(0, 20), "250-mx.example.test\r");
    EXPECT_EQ(s.say("HELO -dash.example").substr(0, 9), "501 5.5.4");
    EXPECT_EQ(s.say("HELO mail.sender.example"), "250 mx.example.test\r\n");
    // Submission listeners keep accepting what NAS boxes send.
    Session lax(options(true));
    EXPECT_EQ(lax.say("HELO My NAS"), "250 mx.example.test\r\n");
}

TEST(SmtpValidHeloName, DomainsAndAddressLiterals) {
    for (const char* ok : {"mail.example.com", "MAIL.Example.COM", "localhost", "mx-1.example.org", "host_1.example",
                           "mail.example.com.", "[192.0.2.1]", "[IPv6:2001:db8::1]", "[IPv6:::1]", "a"})
        EXPECT_TRUE(valid_helo_name(ok)) << ok;
    const std::string label64(64, 'a');
    std::string long_name;
    for (int i = 0; i < 64; ++i) long_name += "abc.";
    long_name += "example";  // 263 octets
    for (const std::string& bad :
         {std::string(""), std::string("."), std::string("bad host"), std::string("a..b"), std::string("-a.example"),
          std::string("a-.example"), std::string("a.example/"), std::string("[192.0.2.256]"), std::string("[2001:db8::1]"),
          std::string("[IPv6:zz::1]"), std::string("[]"), label64 + ".example", long_name, std::string("\xc3\xa9.example")})
        EXPECT_FALSE(valid_helo_name(bad)) << bad;
}

TEST(ServerMx, SubmissionStillRequiresAuth) {
    Session s(options(true));
    s.ehlo();
    EXPECT_EQ(s.say("MAIL FROM:<a@example.test>"), "530 5.7.0 Authentication required\r\n");
}
