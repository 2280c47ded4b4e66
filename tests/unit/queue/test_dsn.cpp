// Unit tests for relay/queue/dsn: header fields, the multipart/report structure, the
// delivery-status fields per message and per recipient, the boundary never occurring in
// the content, 7-bit output with lines within limits, and no DSN for a null sender.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "relay/queue/dsn.hpp"

using namespace signpost::queue;
using namespace std::chrono_literals;

namespace {

const auto kArrival = std::chrono::system_clock::time_point(std::chrono::seconds(1795437654));

DsnInput sample(DsnKind kind) {
    DsnInput in;
    in.reporting_host = "relay.example.net";
    in.queue_id = "00HOFGO6F3U700NNAOVB";
    in.envelope_sender = "alice@example.test";
    in.arrival = kArrival;
    in.now = kArrival + 2h;
    in.kind = kind;
    in.retry_until = kArrival + 120h;
    DsnRecipient a;
    a.address = "bob@example.org";
    a.status = kind == DsnKind::failure ? "5.1.1" : "4.4.1";
    a.remote_host = "mx.example.org";
    a.diagnostic = "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown";
    a.last_attempt = kArrival + 1h;
    DsnRecipient b;
    b.address = "carol@example.com";
    b.status = kind == DsnKind::failure ? "5.4.4" : "4.4.1";
    b.last_attempt = kArrival + 90min;
    in.recipients = {a, b};
    in.original_headers =
        "From: Alice <alice@example.test>\r\nTo: bob@example.org\r\nSubject: hello\r\n"
        "Message-ID: <1@example.test>\r\n\r\n";
    return in;
}

std::vector<std::string> lines(const std::string& m) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < m.size()) {
        auto end = m.find("\r\n", pos);
        if (end == std::string::npos) {
            out.push_back(m.substr(pos));
            break;
        }
        out.push_back(m.substr(pos, end - pos));
        pos = end + 2;
    }
    return out;
}

std::string boundary_of(const std::string& m) {
    auto p = m.find("boundary=\"");
    if (p == std::string::npos) return "";
    p += 10;
    return m.substr(p, m.find('"', p) - p);
}

std::size_t count(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
}

void expect_wire_clean(const std::string& m, bool allow_8bit = false) {
    // CRLF only, 7-bit (unless allowed), no NUL, every line within 998 octets (RFC 5322 §2.1.1).
    for (std::size_t i = 0; i < m.size(); ++i) {
        const auto c = static_cast<unsigned char>(m[i]);
        if (!allow_8bit) {
            ASSERT_LT(c, 0x80) << "8-bit octet at " << i;
        }
        ASSERT_NE(c, 0) << "NUL at " << i;
        if (c == '\n') {
            ASSERT_TRUE(i > 0 && m[i - 1] == '\r') << "bare LF at " << i;
        }
        if (c == '\r') {
            ASSERT_TRUE(i + 1 < m.size() && m[i + 1] == '\n') << "bare CR at " << i;
        }
    }
    for (const auto& l : lines(m)) EXPECT_LE(l.size(), 998u);
    EXPECT_EQ(m.substr(m.size() - 2), "\r\n");
}

TEST(Dsn, FailureHeaders) {
    auto m = build_dsn(sample(DsnKind::failure));
    ASSERT_TRUE(m);
    const std::string head = m->substr(0, m->find("\r\n\r\n") + 2);
    EXPECT_NE(head.find("From: \"Mail Delivery System\" <MAILER-DAEMON@relay.example.net>\r\n"),
              std::string::npos);
    EXPECT_NE(head.find("To: <alice@example.test>\r\n"), std::string::npos);
    EXPECT_NE(head.find("Subject: Undelivered Mail Returned to Sender\r\n"), std::string::npos);
    EXPECT_NE(head.find("Date: Mon, 23 Nov 2026 14:40:54 +0000\r\n"), std::string::npos) << head;
    EXPECT_NE(head.find("Message-ID: <00HOFGO6F3U700NNAOVB."), std::string::npos);
    EXPECT_NE(head.find("@relay.example.net>\r\n"), std::string::npos);
    EXPECT_NE(head.find("MIME-Version: 1.0\r\n"), std::string::npos);
    EXPECT_NE(head.find("Auto-Submitted: auto-replied\r\n"), std::string::npos);
    EXPECT_NE(head.find("Content-Type: multipart/report; report-type=delivery-status;"),
              std::string::npos);
    expect_wire_clean(*m);
}

TEST(Dsn, ThreePartsInOrderWithTheBoundaryOnlyAsDelimiter) {
    auto m = build_dsn(sample(DsnKind::failure));
    ASSERT_TRUE(m);
    const std::string b = boundary_of(*m);
    ASSERT_FALSE(b.empty());
    EXPECT_LE(b.size(), 70u);  // RFC 2046 §5.1.1
    EXPECT_EQ(count(*m, b), 1u + 3u + 1u);  // the parameter, three delimiters, the close
    EXPECT_EQ(count(*m, "\r\n--" + b + "\r\n"), 3u);
    EXPECT_EQ(count(*m, "\r\n--" + b + "--\r\n"), 1u);
    const auto p1 = m->find("Content-Type: text/plain; charset=us-ascii");
    const auto p2 = m->find("Content-Type: message/delivery-status");
    const auto p3 = m->find("Content-Type: text/rfc822-headers");
    ASSERT_NE(p1, std::string::npos);
    ASSERT_NE(p2, std::string::npos);
    ASSERT_NE(p3, std::string::npos);
    EXPECT_LT(p1, p2);
    EXPECT_LT(p2, p3);
}

TEST(Dsn, DeliveryStatusFields) {
    auto m = build_dsn(sample(DsnKind::failure));
    ASSERT_TRUE(m);
    const auto start = m->find("Content-Type: message/delivery-status");
    const auto end = m->find("Content-Type: text/rfc822-headers");
    const std::string ds = m->substr(start, end - start);
    EXPECT_NE(ds.find("\r\n\r\nReporting-MTA: dns; relay.example.net\r\n"), std::string::npos);
    EXPECT_NE(ds.find("Arrival-Date: Mon, 23 Nov 2026 12:40:54 +0000\r\n"), std::string::npos);
    EXPECT_EQ(ds.find("Original-Envelope-Id"), std::string::npos);
    EXPECT_NE(ds.find("\r\n\r\nFinal-Recipient: rfc822; bob@example.org\r\n"
                      "Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.example.org\r\n"
                      "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.org>: Recipient address\r\n"
                      " rejected: User unknown\r\n"
                      "Last-Attempt-Date: Mon, 23 Nov 2026 13:40:54 +0000\r\n"),
              std::string::npos)
        << ds;
    // Second recipient: no remote host, no diagnostic -> those fields are absent.
    EXPECT_NE(ds.find("\r\n\r\nFinal-Recipient: rfc822; carol@example.com\r\n"
                      "Action: failed\r\nStatus: 5.4.4\r\n"
                      "Last-Attempt-Date: Mon, 23 Nov 2026 14:10:54 +0000\r\n"),
              std::string::npos)
        << ds;
    EXPECT_EQ(ds.find("Will-Retry-Until"), std::string::npos);
}

TEST(Dsn, DelayWarning) {
    auto m = build_dsn(sample(DsnKind::delay));
    ASSERT_TRUE(m);
    EXPECT_NE(m->find("Subject: Delayed Mail (still being retried)\r\n"), std::string::npos);
    EXPECT_EQ(count(*m, "Action: delayed\r\n"), 2u);
    EXPECT_EQ(count(*m, "Status: 4.4.1\r\n"), 2u);
    EXPECT_EQ(count(*m, "Will-Retry-Until: Sat, 28 Nov 2026 12:40:54 +0000\r\n"), 2u);
    EXPECT_EQ(m->find("Action: failed"), std::string::npos);
    expect_wire_clean(*m);
}

TEST(Dsn, StatusOfTheWrongClassIsReplaced) {
    auto in = sample(DsnKind::delay);
    in.recipients[0].status = "5.1.1";
    in.recipients[1].status = "junk\r\nX: y";
    auto m = build_dsn(in);
    ASSERT_TRUE(m);
    EXPECT_EQ(count(*m, "Status: 4.0.0\r\n"), 2u);
    auto f = sample(DsnKind::failure);
    f.recipients[0].status = "4.2.2";
    f.recipients[1].status = "5.7.1000";
    m = build_dsn(f);
    ASSERT_TRUE(m);
    EXPECT_EQ(count(*m, "Status: 5.0.0\r\n"), 2u);
}

TEST(Dsn, TextPartQuotesTheRemoteReplySeparately) {
    auto m = build_dsn(sample(DsnKind::failure));
    ASSERT_TRUE(m);
    EXPECT_NE(m->find("\r\n<bob@example.org>:\r\n"), std::string::npos);
    EXPECT_NE(m->find("    The remote server replied:\r\n        550 5.1.1 <bob@example.org>:"),
              std::string::npos);
    EXPECT_NE(m->find("\r\n    Status 5.1.1, last attempt Mon, 23 Nov 2026 13:40:54 +0000\r\n"
                      "    Remote server: mx.example.org\r\n"), std::string::npos);
}

TEST(Dsn, OriginalHeadersCopiedWithoutBodyOrBlankLine) {
    auto in = sample(DsnKind::failure);
    in.original_headers = "Subject: caf\xc3\xa9\nX-Long: " + std::string(1500, 'a') +
                          "\n\nbody must not appear\n";
    auto m = build_dsn(in);
    ASSERT_TRUE(m);
    // Returned intact (legacy 8-bit header): the part says 8bit and the DSN needs 8BITMIME.
    EXPECT_NE(m->find("Subject: caf\xc3\xa9\r\nX-Long: aaaa"), std::string::npos);
    EXPECT_NE(m->find("Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: 8bit\r\n"), std::string::npos);
    EXPECT_TRUE(dsn_needs_8bit(*m));
    EXPECT_EQ(m->find("body must not appear"), std::string::npos);
    expect_wire_clean(*m, true);
    EXPECT_FALSE(dsn_needs_8bit(*build_dsn(sample(DsnKind::failure))));
}

// Signpost's own decision (no SMTPUTF8 at the next hop): no Remote-MTA, its own
// diagnostic type, and words that say who decided.
TEST(Dsn, OurDecisionIsNotPresentedAsTheServers) {
    auto in = sample(DsnKind::failure);
    in.recipients[0].status = "5.6.7";
    in.recipients[0].diagnostic = "5.6.7 the message needs SMTPUTF8 (RFC 6531) and mx.example.org[192.0.2.1]:25 does not offer it";
    in.recipients[0].remote = false;
    auto m = build_dsn(in);
    ASSERT_TRUE(m);
    expect_wire_clean(*m);
    EXPECT_EQ(m->find("Remote-MTA: dns; mx.example.org"), std::string::npos);
    EXPECT_NE(m->find("Diagnostic-Code: X-Signpost; 5.6.7 the message needs SMTPUTF8"), std::string::npos) << *m;
    EXPECT_NE(m->find("Signpost did not deliver it:"), std::string::npos);
    EXPECT_NE(m->find("Server tried: mx.example.org"), std::string::npos);
    EXPECT_EQ(m->find("The remote server replied"), std::string::npos);
}

// RFC 6533: the global form for internationalized mail.
TEST(Dsn, InternationalFormKeepsUtf8) {
    auto in = sample(DsnKind::failure);
    in.international = true;
    in.envelope_sender = "j\xc3\xb8rn@example.test";
    in.recipients[0].address = "s\xc3\xb6ren@example.org";
    in.recipients[0].diagnostic = "550 5.1.1 unbekannter Empf\xc3\xa4nger";
    in.original_headers = "From: j\xc3\xb8rn@example.test\r\nSubject: Gr\xc3\xbc\xc3\x9f" "e\r\n\r\n";
    auto m = build_dsn(in);
    ASSERT_TRUE(m);
    expect_wire_clean(*m, true);
    EXPECT_NE(m->find("To: <j\xc3\xb8rn@example.test>\r\n"), std::string::npos);
    EXPECT_NE(m->find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
    EXPECT_NE(m->find("Content-Type: message/global-delivery-status\r\n"), std::string::npos);
    EXPECT_NE(m->find("Content-Type: message/global-headers\r\n"), std::string::npos);
    EXPECT_NE(m->find("Final-Recipient: utf-8; s\xc3\xb6ren@example.org\r\n"), std::string::npos) << *m;
    EXPECT_NE(m->find("Final-Recipient: rfc822; carol@example.com\r\n"), std::string::npos);
    EXPECT_NE(m->find("Diagnostic-Code: smtp; 550 5.1.1 unbekannter Empf\xc3\xa4nger"), std::string::npos);
    EXPECT_NE(m->find("Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n"), std::string::npos);
    EXPECT_EQ(m->find("\\x{"), std::string::npos);  // nothing escaped in this form
}

TEST(Dsn, NonAsciiAndLongDiagnosticsStaySevenBitAndFolded) {
    auto in = sample(DsnKind::delay);
    in.recipients[0].diagnostic = "451 4.7.1 Gr\xc3\xbc\xc3\x9f" "e \xe2\x80\x94 bad \xff octet "
                                  "\\x{41}\r\n";
    in.recipients[1].diagnostic = "452 " + std::string(2000, 'x');
    in.recipients[1].remote_host = "mx2.example.com";
    auto m = build_dsn(in);
    ASSERT_TRUE(m);
    expect_wire_clean(*m);
    std::string unfolded;
    for (const auto& l : lines(*m)) unfolded += (!l.empty() && l[0] == ' ' ? "" : "\n") + l;
    EXPECT_NE(unfolded.find("Diagnostic-Code: smtp; 451 4.7.1 Gr\\x{00FC}\\x{00DF}e \\x{2014} "
                            "bad ? octet \\x{5C}x{41}"),
              std::string::npos)
        << *m;
    for (const auto& l : lines(*m)) EXPECT_LE(l.size(), 78u) << l;
    // Unfolding the long field gives back all 2000 x's (cut points become spaces).
    std::string all;
    for (const auto& l : lines(*m))
        for (char c : l)
            if (c == 'x') all += c;
    EXPECT_GE(all.size(), 2000u * 2);  // in the text part and the status part
}

TEST(Dsn, BoundaryAvoidsContent) {
    auto in = sample(DsnKind::failure);
    in.original_headers = "X-Trap: =_signpost-dsn-00HOFGO6F3U700NNAOVB-0\r\n"
                          "X-Trap2: =_signpost-dsn-00HOFGO6F3U700NNAOVB-1\r\n";
    auto m = build_dsn(in);
    ASSERT_TRUE(m);
    const std::string b = boundary_of(*m);
    EXPECT_EQ(b, "=_signpost-dsn-00HOFGO6F3U700NNAOVB-2");
    EXPECT_EQ(count(*m, "--" + b), 4u);
}

TEST(Dsn, HostileHostAndAddressCannotInjectHeaders) {
    auto in = sample(DsnKind::failure);
    in.recipients[0].remote_host = "mx.example.org\r\nX-Evil: 1";
    in.recipients[0].address = "bob@example.org\r\nX-Evil: 2";
    in.reporting_host = "relay\r\nX-Evil: 3";
    auto m = build_dsn(in);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->find("\r\nX-Evil"), std::string::npos);
    expect_wire_clean(*m);
}

TEST(Dsn, NeverForANullSender) {
    for (const char* s : {"", "<>"}) {
        auto in = sample(DsnKind::failure);
        in.envelope_sender = s;
        EXPECT_FALSE(build_dsn(in)) << "sender '" << s << "'";
    }
    auto in = sample(DsnKind::failure);
    in.envelope_sender = "<alice@example.test>";
    auto m = build_dsn(in);
    ASSERT_TRUE(m);
    EXPECT_NE(m->find("To: <alice@example.test>\r\n"), std::string::npos);
}

TEST(Dsn, NoRecipientsNoDsn) {
    auto in = sample(DsnKind::failure);
    in.recipients.clear();
    EXPECT_FALSE(build_dsn(in));
}

TEST(Dsn, DateFormat) {
    EXPECT_EQ(rfc5322_date(std::chrono::system_clock::time_point{}),
              "Thu, 01 Jan 1970 00:00:00 +0000");
    EXPECT_EQ(rfc5322_date(kArrival), "Mon, 23 Nov 2026 12:40:54 +0000");
}

}  // namespace
