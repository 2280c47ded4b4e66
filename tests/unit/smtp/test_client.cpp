// tests/unit/smtp/test_client.cpp — the client side of relay/smtp (client.hpp): replies
// parsed from bytes split every way, malformed and over-long replies, EHLO keywords,
// command formatting and dot-stuffing across chunk boundaries.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "relay/smtp/client.hpp"
#include "relay/smtp/sasl.hpp"

namespace {

using namespace signpost::smtp;
using namespace std::string_literals;

// Every way of cutting `bytes` into chunks that the tests try: one piece, every two-piece
// split, and fixed chunk sizes 1, 2, 3 and 7.
std::vector<std::vector<std::string>> splits(const std::string& bytes) {
    std::vector<std::vector<std::string>> out;
    out.push_back({bytes});
    for (std::size_t cut = 1; cut < bytes.size(); ++cut) out.push_back({bytes.substr(0, cut), bytes.substr(cut)});
    for (std::size_t n : {1u, 2u, 3u, 7u}) {
        std::vector<std::string> chunks;
        for (std::size_t i = 0; i < bytes.size(); i += n) chunks.push_back(bytes.substr(i, n));
        out.push_back(chunks);
    }
    return out;
}

// Feeds chunks the way a session does (unconsumed bytes stay buffered) and collects every
// complete reply; stops at the first error.
struct Parsed {
    std::vector<Reply> replies;
    boost::system::error_code error;
    std::string left;  // bytes not consumed
};

Parsed parse_all(const std::vector<std::string>& chunks) {
    Parsed p;
    ReplyParser parser;
    std::string buffer;
    for (const auto& chunk : chunks) {
        buffer += chunk;
        for (;;) {
            std::size_t used = parser.feed(buffer);
            buffer.erase(0, used);
            if (!parser.complete()) break;
            auto r = parser.take();
            if (!r) {
                p.error = r.error();
                p.left = buffer;
                return p;
            }
            p.replies.push_back(std::move(*r));
        }
    }
    p.left = buffer;
    return p;
}

struct ReplyRow {
    std::string name;
    std::string bytes;
    int code;
    std::string enhanced;
    std::vector<std::string> lines;
};

TEST(ClientReplyParser, ParsesRepliesSplitAnywhere) {
    const std::vector<ReplyRow> rows = {
        {"single line", "220 mx.example.org ESMTP ready\r\n", 220, "", {"mx.example.org ESMTP ready"}},
        {"enhanced", "250 2.1.0 Sender ok\r\n", 250, "2.1.0", {"Sender ok"}},
        {"enhanced only", "250 2.0.0\r\n", 250, "2.0.0", {""}},
        {"three-digit parts", "550 5.123.456 odd but valid\r\n", 550, "5.123.456", {"odd but valid"}},
        {"class must match code", "550 2.1.0 not enhanced\r\n", 550, "", {"2.1.0 not enhanced"}},
        {"four-digit part is text", "550 5.1234.1 x\r\n", 550, "", {"5.1234.1 x"}},
        {"enhanced needs a space", "550 5.1.1x\r\n", 550, "", {"5.1.1x"}},
        {"no text at all", "250\r\n", 250, "", {""}},
        {"bare LF line end", "250 ok\n", 250, "", {"ok"}},
        {"multi-line EHLO",
         "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n",
         250, "", {"mx.example.org", "PIPELINING", "SIZE 10240000", "STARTTLS"}},
        {"multi-line enhanced on each line",
         "550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 third\r\n", 550, "5.7.1", {"first", "second", "third"}},
        {"multi-line enhanced on first only", "451-4.3.0 first\r\n451 second\r\n", 451, "4.3.0", {"first", "second"}},
        {"empty continuation text", "250-\r\n250 last\r\n", 250, "", {"", "last"}},
        {"text keeps inner spaces", "421  two  spaces \r\n", 421, "", {" two  spaces "}},
    };
    for (const auto& row : rows) {
        for (const auto& chunks : splits(row.bytes)) {
            Parsed p = parse_all(chunks);
            ASSERT_FALSE(p.error) << row.name << ": " << p.error.message();
            ASSERT_EQ(p.replies.size(), 1u) << row.name;
            EXPECT_EQ(p.replies[0].code, row.code) << row.name;
            EXPECT_EQ(p.replies[0].enhanced, row.enhanced) << row.name;
            EXPECT_EQ(p.replies[0].lines, row.lines) << row.name;
            EXPECT_EQ(p.left, "") << row.name;
        }
    }
}

TEST(ClientReplyParser, PipelinedRepliesComeOutOneByOne) {
    const std::string bytes = "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550-5.1.1 no such\r\n550 5.1.1 user\r\n354 go ahead\r\n";
    for (const auto& chunks : splits(bytes)) {
        Parsed p = parse_all(chunks);
        ASSERT_FALSE(p.error);
        ASSERT_EQ(p.replies.size(), 4u);
        EXPECT_EQ(p.replies[0].code, 250);
        EXPECT_EQ(p.replies[1].enhanced, "2.1.5");
        EXPECT_EQ(p.replies[2].code, 550);
        EXPECT_EQ(p.replies[2].lines, (std::vector<std::string>{"no such", "user"}));
        EXPECT_EQ(p.replies[3].code, 354);
    }
}

TEST(ClientReplyParser, StopsAtTheEndOfOneReply) {
    ReplyParser parser;
    const std::string bytes = "250 first\r\n250 second\r\n";
    EXPECT_EQ(parser.feed(bytes), 11u);
    ASSERT_TRUE(parser.complete());
    EXPECT_EQ(parser.feed("more"), 0u);  // nothing is taken before take()
    auto r = parser.take();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->lines[0], "first");
    EXPECT_FALSE(parser.complete());
    EXPECT_EQ(parser.feed(std::string_view(bytes).substr(11)), 12u);
    ASSERT_TRUE(parser.complete());
    EXPECT_EQ(parser.take()->lines[0], "second");
}

TEST(ClientReplyParser, RefusesMalformedReplies) {
    struct Row {
        std::string name;
        std::string bytes;
        ClientErrc error;
    };
    const std::vector<Row> rows = {
        {"letters", "abc hello\r\n", ClientErrc::reply_syntax},
        {"two digits", "25 ok\r\n", ClientErrc::reply_syntax},
        {"no separator", "250ok\r\n", ClientErrc::reply_syntax},
        {"tab separator", "250\tok\r\n", ClientErrc::reply_syntax},
        {"code 1xx", "150 ok\r\n", ClientErrc::reply_syntax},
        {"code 6xx", "650 ok\r\n", ClientErrc::reply_syntax},
        {"empty line", "\r\n", ClientErrc::reply_syntax},
        {"bad continuation", "250-first\r\nhello\r\n", ClientErrc::reply_syntax},
        {"code changes", "250-first\r\n251 second\r\n", ClientErrc::reply_code_mismatch},
        {"over-long line", "250 " + std::string(2045, 'x') + "\r\n", ClientErrc::reply_line_too_long},
        {"over-long, no end yet", "250 " + std::string(2044, 'x'), ClientErrc::reply_line_too_long},
        {"over-long continuation", "250-ok\r\n250-" + std::string(3000, 'x') + "\r\n250 end\r\n",
         ClientErrc::reply_line_too_long},
    };
    for (const auto& row : rows) {
        for (const auto& chunks : splits(row.bytes)) {
            Parsed p = parse_all(chunks);
            EXPECT_EQ(p.error, make_error_code(row.error)) << row.name;
            EXPECT_TRUE(p.replies.empty()) << row.name;
        }
    }
}

TEST(ClientReplyParser, LineLengthBoundIsExact) {
    // 2048 octets with the CRLF pass; one more does not.
    const std::string ok = "250 " + std::string(2042, 'x') + "\r\n";
    ASSERT_EQ(ok.size(), max_reply_line);
    Parsed p = parse_all({ok});
    ASSERT_FALSE(p.error);
    EXPECT_EQ(p.replies.at(0).lines.at(0).size(), 2042u);
    const std::string bad = "250 " + std::string(2043, 'x') + "\r\n";
    EXPECT_EQ(parse_all({bad}).error, make_error_code(ClientErrc::reply_line_too_long));
}

TEST(ClientReplyParser, LineCountBoundIsExact) {
    auto reply_of = [](std::size_t n) {
        std::string s;
        for (std::size_t i = 1; i < n; ++i) s += "250-line\r\n";
        return s + "250 last\r\n";
    };
    Parsed p = parse_all({reply_of(max_reply_lines)});
    ASSERT_FALSE(p.error);
    EXPECT_EQ(p.replies.at(0).lines.size(), max_reply_lines);
    EXPECT_EQ(parse_all({reply_of(max_reply_lines + 1)}).error, make_error_code(ClientErrc::reply_too_many_lines));
    // A server that never ends its reply is cut off too.
    std::string endless;
    for (int i = 0; i < 500; ++i) endless += "250-line\r\n";
    EXPECT_EQ(parse_all({endless}).error, make_error_code(ClientErrc::reply_too_many_lines));
}

TEST(ClientReplyParser, StaysFailed) {
    ReplyParser parser;
    parser.feed("xyz\r\n250 ok\r\n");
    ASSERT_TRUE(parser.complete());
    EXPECT_FALSE(parser.take().has_value());
    EXPECT_TRUE(parser.complete());
    EXPECT_EQ(parser.feed("250 ok\r\n"), 0u);
    EXPECT_FALSE(parser.take().has_value());
}

Reply ehlo_reply(std::vector<std::string> lines) {
    Reply r;
    r.code = 250;
    r.lines = std::move(lines);
    return r;
}

TEST(ClientEhlo, ReadsTheKeywordsWeActOn) {
    auto caps = parse_ehlo(ehlo_reply({"mx.example.org Hello", "PIPELINING", "SIZE 10240000", "8BITMIME",
                                       "SMTPUTF8", "STARTTLS", "AUTH PLAIN LOGIN CRAM-MD5", "ENHANCEDSTATUSCODES",
                                       "CHUNKING", "DSN", "REQUIRETLS", "X-UNKNOWN with args"}));
    EXPECT_TRUE(caps.requiretls);
    EXPECT_FALSE(parse_ehlo(ehlo_reply({"mx.example.org", "STARTTLS"})).requiretls);
    EXPECT_TRUE(caps.pipelining);
    EXPECT_TRUE(caps.size);
    EXPECT_EQ(caps.size_limit, 10240000u);
    EXPECT_TRUE(caps.eightbitmime);
    EXPECT_TRUE(caps.smtputf8);
    EXPECT_TRUE(caps.starttls);
    EXPECT_TRUE(caps.enhanced_status_codes);
    EXPECT_TRUE(caps.chunking);
    EXPECT_EQ(caps.auth, (std::vector<std::string>{"PLAIN", "LOGIN", "CRAM-MD5"}));
    EXPECT_TRUE(caps.has_auth("plain"));
    EXPECT_FALSE(caps.has_auth("XOAUTH2"));
}

TEST(ClientEhlo, Table) {
    struct Row {
        std::string name;
        std::vector<std::string> lines;
        bool pipelining, size, starttls;
        std::uint64_t size_limit;
        std::vector<std::string> auth;
    };
    const std::vector<Row> rows = {
        {"greeting only", {"mx.example.org"}, false, false, false, 0, {}},
        {"the greeting line is no keyword", {"PIPELINING"}, false, false, false, 0, {}},
        {"lower case", {"mx", "pipelining", "starttls", "size 42"}, true, true, true, 42, {}},
        {"SIZE without value", {"mx", "SIZE"}, false, true, false, 0, {}},
        {"SIZE zero", {"mx", "SIZE 0"}, false, true, false, 0, {}},
        {"SIZE garbage", {"mx", "SIZE 12abc"}, false, true, false, 0, {}},
        {"SIZE too big", {"mx", "SIZE 99999999999999999999999"}, false, true, false, 0, {}},
        {"old AUTH= form", {"mx", "AUTH=LOGIN PLAIN", "AUTH PLAIN"}, false, false, false, 0, {"LOGIN", "PLAIN"}},
        {"extra spaces", {"mx", "  AUTH   login  "}, false, false, false, 0, {"LOGIN"}},
        {"empty line", {"mx", ""}, false, false, false, 0, {}},
    };
    for (const auto& row : rows) {
        auto caps = parse_ehlo(ehlo_reply(row.lines));
        EXPECT_EQ(caps.pipelining, row.pipelining) << row.name;
        EXPECT_EQ(caps.size, row.size) << row.name;
        EXPECT_EQ(caps.starttls, row.starttls) << row.name;
        EXPECT_EQ(caps.size_limit, row.size_limit) << row.name;
        EXPECT_EQ(caps.auth, row.auth) << row.name;
    }
}

TEST(ClientCommands, MailFromParameters) {
    Capabilities none;
    Capabilities all;
    all.size = true;
    all.eightbitmime = true;
    all.smtputf8 = true;
    struct Row {
        std::string name;
        std::string path;
        const Capabilities* caps;
        bool body_8bit, smtputf8;
        std::string expected;
    };
    const std::vector<Row> rows = {
        {"plain", "a@example.org", &none, false, false, "MAIL FROM:<a@example.org>\r\n"},
        {"null path", "", &none, false, false, "MAIL FROM:<>\r\n"},
        {"needs 8bit, not offered", "a@example.org", &none, true, true, "MAIL FROM:<a@example.org>\r\n"},
        {"offered, not needed", "a@example.org", &all, false, false, "MAIL FROM:<a@example.org> SIZE=1234\r\n"},
        {"all", "\xc3\xa9@example.org", &all, true, true,
         "MAIL FROM:<\xc3\xa9@example.org> SIZE=1234 BODY=8BITMIME SMTPUTF8\r\n"},
    };
    for (const auto& row : rows) {
        auto r = format_mail_from(row.path, *row.caps, 1234, row.body_8bit, row.smtputf8);
        ASSERT_TRUE(r.has_value()) << row.name;
        EXPECT_EQ(*r, row.expected) << row.name;
    }
    // RFC 8689 §4: REQUIRETLS only when asked for and offered.
    Capabilities rt;
    rt.requiretls = true;
    EXPECT_EQ(*format_mail_from("a@example.org", rt, 1, false, false, true), "MAIL FROM:<a@example.org> REQUIRETLS\r\n");
    EXPECT_EQ(*format_mail_from("a@example.org", none, 1, false, false, true), "MAIL FROM:<a@example.org>\r\n");
    EXPECT_EQ(*format_mail_from("a@example.org", rt, 1, false, false, false), "MAIL FROM:<a@example.org>\r\n");
    EXPECT_EQ(format_mail_from("a@b\r\nRCPT TO:<x@y>", none, 1, false, false).error(),
              make_error_code(ClientErrc::invalid_argument));
}

TEST(ClientCommands, RcptEhloHelo) {
    EXPECT_EQ(*format_rcpt_to("b@example.org"), "RCPT TO:<b@example.org>\r\n");
    EXPECT_FALSE(format_rcpt_to("").has_value());
    EXPECT_FALSE(format_rcpt_to("b@example.org>\r\nDATA").has_value());
    EXPECT_FALSE(format_rcpt_to("b\0@example.org"s).has_value());
    EXPECT_EQ(*format_ehlo("relay.example.net"), "EHLO relay.example.net\r\n");
    EXPECT_EQ(*format_helo("relay.example.net"), "HELO relay.example.net\r\n");
    EXPECT_FALSE(format_ehlo("").has_value());
    EXPECT_FALSE(format_ehlo("a b").has_value());
    EXPECT_FALSE(format_helo("a\r\nQUIT").has_value());
}

TEST(ClientCommands, AuthPlainAndLogin) {
    auto plain = format_auth_plain("bob", "secret");
    ASSERT_TRUE(plain.has_value());
    EXPECT_EQ(*plain, "AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n");
    // Round trip through the server-side parser.
    auto decoded = decode_base64(plain->substr(11, plain->size() - 13));
    ASSERT_TRUE(decoded.has_value());
    auto creds = parse_plain(*decoded);
    ASSERT_TRUE(creds.has_value());
    EXPECT_EQ(creds->user, "bob");
    EXPECT_EQ(creds->password, "secret");
    EXPECT_FALSE(format_auth_plain("", "x").has_value());
    EXPECT_FALSE(format_auth_plain("bob", "").has_value());
    EXPECT_FALSE(format_auth_plain("b\0b"s, "x").has_value());
    EXPECT_EQ(auth_login_command, "AUTH LOGIN\r\n");
    EXPECT_EQ(auth_login_response("bob"), "Ym9i\r\n");
    EXPECT_EQ(auth_login_response("pass:word with spaces"), encode_base64("pass:word with spaces") + "\r\n");
}

std::string stuff(const std::vector<std::string>& chunks) {
    DotStuffer s;
    std::string out;
    for (const auto& c : chunks) s.feed(c, out);
    s.finish(out);
    return out;
}

TEST(ClientDotStuffer, StuffsAcrossAnyChunkBoundary) {
    struct Row {
        std::string name;
        std::string in;
        std::string out;
    };
    const std::vector<Row> rows = {
        {"empty message", "", ".\r\n"},
        {"plain", "a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
        {"no final CRLF", "a\r\nb", "a\r\nb\r\n.\r\n"},
        {"dot at the start", ".a\r\n", "..a\r\n.\r\n"},
        {"lone dot line", "a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"},
        {"two dots", "a\r\n..\r\n", "a\r\n...\r\n.\r\n"},
        {"dot inside a line", "a.b\r\n.c.d\r\n", "a.b\r\n..c.d\r\n.\r\n"},
        {"terminator inside the message", "x\r\n.\r\n\r\n.\r\n", "x\r\n..\r\n\r\n..\r\n.\r\n"},
        {"only a dot", ".", "..\r\n.\r\n"},
        {"ends in a bare CR", "a\r", "a\r\r\n.\r\n"},
        {"dot after a bare LF is stuffed", "a\n.\n", "a\n..\n\r\n.\r\n"},
        {"dot after a bare CR is not", "a\r.b\r\n", "a\r.b\r\n.\r\n"},
        {"CRLF only", "\r\n", "\r\n.\r\n"},
        {"many dots", "...\r\n....", "....\r\n.....\r\n.\r\n"},
    };
    for (const auto& row : rows) {
        for (const auto& chunks : splits(row.in)) EXPECT_EQ(stuff(chunks), row.out) << row.name;
    }
}

TEST(ClientDotStuffer, CountsInputOctets) {
    DotStuffer s;
    std::string out;
    s.feed(".a\r\n", out);
    s.feed("..", out);
    EXPECT_EQ(s.octets_in(), 6u);
    s.feed("", out);
    s.finish(out);
    EXPECT_EQ(out, "..a\r\n...\r\n.\r\n");
}

TEST(ClientDotStuffer, LargeMessageInBlocks) {
    std::string message;
    for (int i = 0; i < 5000; ++i) message += (i % 3 == 0 ? ".line " : "line ") + std::to_string(i) + "\r\n";
    std::string expected;
    for (int i = 0; i < 5000; ++i) expected += (i % 3 == 0 ? "..line " : "line ") + std::to_string(i) + "\r\n";
    expected += ".\r\n";
    for (std::size_t block : {1u, 5u, 4096u, 65536u}) {
        std::vector<std::string> chunks;
        for (std::size_t i = 0; i < message.size(); i += block) chunks.push_back(message.substr(i, block));
        EXPECT_EQ(stuff(chunks), expected) << block;
    }
}

}  // namespace
