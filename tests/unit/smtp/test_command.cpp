// tests/unit/smtp/test_command.cpp — the command line and address parser
// (relay/smtp/command.hpp): verbs, RFC 5321 §4.1.2 paths with their limits, address
// literals (§4.1.3), ESMTP parameters (SIZE, BODY, SMTPUTF8, AUTH) and BDAT arguments.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "relay/smtp/command.hpp"

namespace {

using namespace signpost::smtp;

TEST(SplitCommand, VerbsAreCaseInsensitiveArgumentsKeepCase) {
    struct Row {
        std::string line;
        Verb verb;
        std::string argument;
    };
    const std::vector<Row> rows = {
        {"EHLO Client.Example", Verb::ehlo, "Client.Example"},
        {"ehlo client", Verb::ehlo, "client"},
        {"HeLo x", Verb::helo, "x"},
        {"MAIL FROM:<A@B.example>", Verb::mail, "FROM:<A@B.example>"},
        {"rcpt TO:<a@b>", Verb::rcpt, "TO:<a@b>"},
        {"DATA", Verb::data, ""},
        {"DATA   ", Verb::data, ""},
        {"BDAT 10 LAST", Verb::bdat, "10 LAST"},
        {"RSET", Verb::rset, ""},
        {"NOOP hello there", Verb::noop, "hello there"},
        {"QUIT", Verb::quit, ""},
        {"VRFY bob", Verb::vrfy, "bob"},
        {"HELP", Verb::help, ""},
        {"StartTLS", Verb::starttls, ""},
        {"AUTH PLAIN AGJvYgBwdw==", Verb::auth, "PLAIN AGJvYgBwdw=="},
        {"EXPN list", Verb::expn, "list"},
        {"TURN", Verb::turn, ""},
        {"ETRN example.org", Verb::etrn, "example.org"},
        {"MAIL  FROM:<a@b>", Verb::mail, "FROM:<a@b>"},
        {"", Verb::unknown, ""},
        {"FOO bar", Verb::unknown, "bar"},
        {"MAILFROM:<a@b>", Verb::unknown, ""},
        {" MAIL FROM:<a@b>", Verb::unknown, "MAIL FROM:<a@b>"},
        {"MAIL\tFROM:<a@b>", Verb::unknown, ""},
    };
    for (const Row& r : rows) {
        const CommandLine c = split_command(r.line);
        EXPECT_EQ(c.verb, r.verb) << r.line;
        EXPECT_EQ(c.argument, r.argument) << r.line;
    }
}

struct PathRow {
    std::string path;
    PathKind kind;
    bool ok;
    std::string mailbox;  // when ok
    Errc error;           // when not ok
    bool non_ascii = false;
};

TEST(ParsePath, Rfc5321Grammar) {
    const auto R = PathKind::reverse;
    const auto F = PathKind::forward;
    const std::string l64(64, 'l');
    const std::string l65(65, 'l');
    const std::string label63(63, 'd');
    const std::string label64(64, 'd');
    // 4 * 63 + 3 dots = 255 octets
    const std::string domain255 = label63 + "." + label63 + "." + label63 + "." + label63;
    const std::string domain256 = domain255 + "x";
    const std::vector<PathRow> rows = {
        {"<>", R, true, "", {}},
        {"<>", F, false, "", Errc::null_path_not_allowed},
        {"<alice@example.org>", R, true, "alice@example.org", {}},
        {"<Alice.Smith+tag@Example.ORG>", F, true, "Alice.Smith+tag@Example.ORG", {}},
        {"<a!#$%&'*+-/=?^_`{|}~@example.org>", F, true, "a!#$%&'*+-/=?^_`{|}~@example.org", {}},
        {"<\"john doe\"@example.org>", F, true, "\"john doe\"@example.org", {}},
        {"<\"a\\\"b\"@example.org>", F, true, "\"a\\\"b\"@example.org", {}},
        {"<\"a>b\"@example.org>", F, true, "\"a>b\"@example.org", {}},
        {"<@relay.example:alice@example.org>", R, true, "alice@example.org", {}},
        {"<@r1.example,@r2.example:alice@example.org>", F, true, "alice@example.org", {}},
        {"<alice@[192.0.2.1]>", F, true, "alice@[192.0.2.1]", {}},
        {"<alice@[IPv6:2001:db8::1]>", F, true, "alice@[IPv6:2001:db8::1]", {}},
        {"<alice@[ipv6:2001:db8:0:0:0:0:0:1]>", F, true, "alice@[ipv6:2001:db8:0:0:0:0:0:1]", {}},
        {"<alice@[IPv6:::ffff:192.0.2.1]>", F, true, "alice@[IPv6:::ffff:192.0.2.1]", {}},
        {"<alice@[IPv6:1:2:3:4:5:6:192.0.2.1]>", F, true, "alice@[IPv6:1:2:3:4:5:6:192.0.2.1]", {}},
        {"<alice@[IPv6::::1]>", F, false, "", Errc::address_literal_syntax},
        {"<alice@[IPv6:1:2:3:4:5:6:7::8]>", F, false, "", Errc::address_literal_syntax},
        {"<alice@[IPv6:1:2:3:4:5:6:7]>", F, false, "", Errc::address_literal_syntax},
        {"<alice@[IPv6:1::2::3]>", F, false, "", Errc::address_literal_syntax},
        {"<alice@[IPv6:12345::1]>", F, false, "", Errc::address_literal_syntax},
        {"<alice@[256.1.1.1]>", F, false, "", Errc::address_literal_syntax},
        {"<alice@[1.2.3]>", F, false, "", Errc::address_literal_syntax},
        {"<alice@[1.2.3.4.5]>", F, false, "", Errc::address_literal_syntax},
        {"<alice@[tag:whatever]>", F, false, "", Errc::address_literal_syntax},
        {"<Postmaster>", F, true, "Postmaster", {}},
        {"<postmaster>", F, true, "postmaster", {}},
        {"<Postmaster>", R, false, "", Errc::path_syntax},
        {"<alice>", F, false, "", Errc::path_syntax},
        {"<alice@>", F, false, "", Errc::path_syntax},
        {"<@example.org>", F, false, "", Errc::path_syntax},
        {"<alice@@example.org>", F, false, "", Errc::path_syntax},
        {"<alice@example..org>", F, false, "", Errc::path_syntax},
        {"<alice@example.org.>", F, false, "", Errc::path_syntax},
        {"<alice@-example.org>", F, false, "", Errc::path_syntax},
        {"<alice@example-.org>", F, false, "", Errc::path_syntax},
        {"<alice@exa_mple.org>", F, false, "", Errc::path_syntax},
        {"<.alice@example.org>", F, false, "", Errc::path_syntax},
        {"<alice.@example.org>", F, false, "", Errc::path_syntax},
        {"<al..ice@example.org>", F, false, "", Errc::path_syntax},
        {"<al ice@example.org>", F, false, "", Errc::path_syntax},
        {"<\"unterminated@example.org>", F, false, "", Errc::path_syntax},
        {"<\"a\"b@example.org>", F, false, "", Errc::path_syntax},
        {"<alice@example.org", F, false, "", Errc::path_syntax},
        {"alice@example.org", F, false, "", Errc::path_syntax},
        {"<@relay.example alice@example.org>", F, false, "", Errc::path_syntax},
        {"<" + l64 + "@example.org>", F, true, l64 + "@example.org", {}},
        {"<" + l65 + "@example.org>", F, false, "", Errc::local_part_too_long},
        {"<a@" + label63 + ".example>", F, true, "a@" + label63 + ".example", {}},
        {"<a@" + label64 + ".example>", F, false, "", Errc::domain_too_long},
        {"<a@" + domain255 + ">", F, false, "", Errc::path_too_long},  // 2 + 2 + 255 = 259 > 256
        {"<a@" + domain256 + ">", F, false, "", Errc::path_too_long},
        {"<j\xC3\xB6rg@example.org>", F, true, "j\xC3\xB6rg@example.org", {}, true},
        {"<jorg@b\xC3\xBC" "cher.example>", F, true, "jorg@b\xC3\xBC" "cher.example", {}, true},
        {"<j\xC3rg@example.org>", F, false, "", Errc::bad_utf8},
        {"<j\xC0\xAFrg@example.org>", F, false, "", Errc::bad_utf8},   // overlong "/"
        {"<j\xED\xA0\x80@example.org>", F, false, "", Errc::bad_utf8},  // surrogate
    };
    for (const PathRow& r : rows) {
        const auto a = parse_path(r.path, r.kind);
        ASSERT_EQ(a.has_value(), r.ok) << r.path;
        if (r.ok) {
            EXPECT_EQ(a->mailbox, r.mailbox) << r.path;
            EXPECT_EQ(a->non_ascii, r.non_ascii) << r.path;
        } else {
            EXPECT_EQ(a.error(), make_error_code(r.error)) << r.path << ": " << a.error().message();
        }
    }
}

TEST(ParsePath, PathLimitIs256OctetsWithBrackets) {
    // "<" + 64 + "@" + domain + ">" = 256 exactly.
    const std::string local(64, 'l');
    std::string domain = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(61, 'c');
    std::string path = "<" + local + "@" + domain + ">";
    ASSERT_EQ(path.size(), 256u);
    EXPECT_TRUE(parse_path(path, PathKind::forward).has_value());
    domain += "c";
    path = "<" + local + "@" + domain + ">";
    EXPECT_EQ(parse_path(path, PathKind::forward).error(), make_error_code(Errc::path_too_long));
}

TEST(ParsePath, SplitsLocalPartAndDomain) {
    const auto a = parse_path("<@r.example:\"x y\"@Example.ORG>", PathKind::forward);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->local_part, "\"x y\"");
    EXPECT_EQ(a->domain, "Example.ORG");
    EXPECT_FALSE(a->is_null());
    EXPECT_TRUE(parse_path("<>", PathKind::reverse)->is_null());
}

TEST(SplitPathArgument, BracketsRequiredSpaceAfterColonAccepted) {
    struct Row {
        std::string arg;
        std::string prefix;
        bool ok;
        std::string path;
        std::string params;
        Errc error;
    };
    const std::vector<Row> rows = {
        {"FROM:<a@b.example>", "FROM:", true, "<a@b.example>", "", {}},
        {"from:<a@b.example>", "FROM:", true, "<a@b.example>", "", {}},
        {"FROM: <a@b.example>", "FROM:", true, "<a@b.example>", "", {}},
        {"FROM:<a@b.example> SIZE=10 BODY=8BITMIME", "FROM:", true, "<a@b.example>", "SIZE=10 BODY=8BITMIME", {}},
        {"FROM:<a@b.example>  SIZE=10", "FROM:", true, "<a@b.example>", "SIZE=10", {}},
        {"FROM:<\"x>y\"@b.example> SIZE=1", "FROM:", true, "<\"x>y\"@b.example>", "SIZE=1", {}},
        {"FROM:<>", "FROM:", true, "<>", "", {}},
        {"TO:<a@b.example>", "TO:", true, "<a@b.example>", "", {}},
        {"FROM:a@b.example", "FROM:", false, "", "", Errc::path_not_bracketed},
        {"FROM:", "FROM:", false, "", "", Errc::argument_syntax},
        {"FROM :<a@b>", "FROM:", false, "", "", Errc::argument_syntax},
        {"TO:<a@b>", "FROM:", false, "", "", Errc::argument_syntax},
        {"", "FROM:", false, "", "", Errc::argument_syntax},
        {"FROM:<a@b.example", "FROM:", false, "", "", Errc::path_syntax},
        {"FROM:<a@b.example>SIZE=10", "FROM:", false, "", "", Errc::argument_syntax},
    };
    for (const Row& r : rows) {
        const auto s = split_path_argument(r.arg, r.prefix);
        ASSERT_EQ(s.has_value(), r.ok) << r.arg;
        if (r.ok) {
            EXPECT_EQ(s->path, r.path) << r.arg;
            EXPECT_EQ(s->parameters, r.params) << r.arg;
        } else {
            EXPECT_EQ(s.error(), make_error_code(r.error)) << r.arg;
        }
    }
}

TEST(MailParameters, KnownParametersAndErrors) {
    struct Row {
        std::string text;
        bool ok;
        Errc error;
    };
    const std::vector<Row> rows = {
        {"", true, {}},
        {"SIZE=0", true, {}},
        {"size=12345 body=7bit", true, {}},
        {"BODY=8BITMIME SMTPUTF8", true, {}},
        {"AUTH=<>", true, {}},
        {"AUTH=alice+40example.org", true, {}},
        {"SIZE=99999999999999999999", true, {}},  // saturates; refused later as too big
        {"SIZE=999999999999999999999", false, Errc::param_value},
        {"SIZE=", false, Errc::param_syntax},
        {"SIZE", false, Errc::param_value},
        {"SIZE=12a", false, Errc::param_value},
        {"SIZE=1 SIZE=2", false, Errc::param_duplicate},
        {"BODY=BINARYMIME", false, Errc::param_unsupported},
        {"BODY=9BIT", false, Errc::param_value},
        {"SMTPUTF8=yes", false, Errc::param_value},
        {"SMTPUTF8 SMTPUTF8", false, Errc::param_duplicate},
        {"REQUIRETLS", true, {}},  // RFC 8689 §4
        {"requiretls SMTPUTF8", true, {}},
        {"REQUIRETLS=YES", false, Errc::param_value},
        {"REQUIRETLS REQUIRETLS", false, Errc::param_duplicate},
        {"AUTH=a+4", false, Errc::param_value},
        {"AUTH=a+4g", false, Errc::param_value},
        {"RET=HDRS", false, Errc::param_unsupported},
        {"ENVID=x", false, Errc::param_unsupported},
        {"-X=1", false, Errc::param_syntax},
        {"X=a=b", false, Errc::param_syntax},
        {"X=\x01", false, Errc::param_syntax},
    };
    for (const Row& r : rows) {
        const auto m = parse_mail_parameters(r.text);
        ASSERT_EQ(m.has_value(), r.ok) << r.text;
        if (!r.ok) {
            EXPECT_EQ(m.error(), make_error_code(r.error)) << r.text;
        }
    }
    const auto m = parse_mail_parameters("SIZE=1000 BODY=8BITMIME SMTPUTF8 AUTH=<>");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->size, 1000u);
    EXPECT_EQ(m->body, BodyType::eight_bit_mime);
    EXPECT_TRUE(m->smtputf8);
    EXPECT_EQ(m->auth, "<>");
    EXPECT_FALSE(m->requiretls);
    EXPECT_TRUE(parse_mail_parameters("REQUIRETLS")->requiretls);
    EXPECT_EQ(parse_mail_parameters("SIZE=99999999999999999999")->size,
              std::numeric_limits<std::uint64_t>::max());
}

TEST(MailParameters, AtMostSixteen) {
    std::string text;
    for (int i = 0; i < 17; ++i) {
        text += 'X';
        text += std::to_string(i);
        text += ' ';
    }
    EXPECT_EQ(parse_parameters(text).error(), make_error_code(Errc::param_syntax));
}

TEST(RcptParameters, NoneOffered) {
    EXPECT_TRUE(parse_rcpt_parameters("").has_value());
    EXPECT_EQ(parse_rcpt_parameters("NOTIFY=NEVER").error(), make_error_code(Errc::param_unsupported));
    EXPECT_EQ(parse_rcpt_parameters("=x").error(), make_error_code(Errc::param_syntax));
}

TEST(Bdat, ChunkSizeAndLast) {
    struct Row {
        std::string arg;
        bool ok;
        std::uint64_t size;
        bool last;
        Errc error;
    };
    const std::vector<Row> rows = {
        {"0", true, 0, false, {}},
        {"0 LAST", true, 0, true, {}},
        {"1000 last", true, 1000, true, {}},
        {"18446744073709551615", true, std::numeric_limits<std::uint64_t>::max(), false, {}},
        {"18446744073709551616", false, 0, false, Errc::chunk_size_syntax},
        {"99999999999999999999", false, 0, false, Errc::chunk_size_syntax},
        {"000000000000000000001", false, 0, false, Errc::chunk_size_syntax},  // 21 digits
        {"", false, 0, false, Errc::chunk_size_syntax},
        {"-1", false, 0, false, Errc::chunk_size_syntax},
        {"LAST", false, 0, false, Errc::chunk_size_syntax},
        {"10 LAST extra", false, 10, false, Errc::bdat_syntax},
        {"10 NOW", false, 10, false, Errc::bdat_syntax},
    };
    for (const Row& r : rows) {
        const auto b = parse_bdat(r.arg);
        ASSERT_EQ(b.has_value(), r.ok) << r.arg;
        if (r.ok) {
            EXPECT_EQ(b->size, r.size) << r.arg;
            EXPECT_EQ(b->last, r.last) << r.arg;
        } else {
            EXPECT_EQ(b.error(), make_error_code(r.error)) << r.arg;
            if (r.error == Errc::bdat_syntax) {
                EXPECT_EQ(*parse_chunk_size(r.arg), r.size) << r.arg;
            }
        }
    }
}

TEST(Utf8, WellFormedOnly) {
    EXPECT_TRUE(valid_utf8("plain"));
    EXPECT_TRUE(valid_utf8("\xC3\xA9"));
    EXPECT_TRUE(valid_utf8("\xE2\x82\xAC"));
    EXPECT_TRUE(valid_utf8("\xF0\x9F\x93\xAE"));
    EXPECT_FALSE(valid_utf8("\xC3"));
    EXPECT_FALSE(valid_utf8("\xC1\x81"));          // overlong
    EXPECT_FALSE(valid_utf8("\xE0\x80\xAF"));      // overlong
    EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));      // surrogate
    EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
    EXPECT_FALSE(valid_utf8("\xFF"));
    EXPECT_FALSE(valid_utf8("\x80"));
}

TEST(ErrorCategory, NamesEveryValue) {
    EXPECT_STREQ(error_category().name(), "signpost.smtp");
    for (int v = static_cast<int>(Errc::argument_syntax); v <= static_cast<int>(Errc::sasl_authzid_mismatch); ++v) {
        EXPECT_EQ(make_error_code(static_cast<Errc>(v)).message().find("unknown"), std::string::npos) << v;
    }
}

}  // namespace
