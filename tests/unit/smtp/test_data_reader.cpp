// tests/unit/smtp/test_data_reader.cpp — the strict DATA reader (relay/smtp/data_reader.hpp):
// end only at CRLF.CRLF, dot-unstuffing, the smuggling variants (CVE-2023-51764 class),
// NUL, the 998-octet line limit, the size cap, bytes after the end left unconsumed; and
// that any split of the input into chunks gives the same output and end position, checked
// against an independent line-based reference on random inputs.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "relay/smtp/data_reader.hpp"

namespace {

using namespace signpost::smtp;
using namespace std::string_literals;

struct Outcome {
    std::string out;
    std::size_t consumed = 0;  // position in the whole input just after the end, when done
    bool done = false;
    DataError error = DataError::none;
    std::uint64_t size = 0;
    bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
    return os << "{out.size=" << o.out.size() << " consumed=" << o.consumed << " done=" << o.done
              << " error=" << static_cast<int>(o.error) << " size=" << o.size << "}";
}

// Feeds `in` in chunks whose lengths come from `sizes` (cycled; the last chunk takes the
// rest), stopping at the end of data as the I/O layer does.
Outcome run(const std::string& in, std::uint64_t max_size, const std::vector<std::size_t>& sizes) {
    DataReader reader(max_size);
    Outcome o;
    std::size_t pos = 0;
    std::size_t k = 0;
    while (pos < in.size()) {
        const std::size_t len = sizes.empty() ? in.size() - pos : std::min(sizes[k++ % sizes.size()], in.size() - pos);
        const auto r = reader.feed(std::string_view(in).substr(pos, len), o.out);
        EXPECT_LE(r.consumed, len);
        if (r.done) {
            o.done = true;
            o.consumed = pos + r.consumed;
            break;
        }
        EXPECT_EQ(r.consumed, len);  // not done: everything was used
        pos += len;
    }
    if (!o.done) o.consumed = pos;
    o.error = reader.error();
    o.size = reader.size();
    return o;
}

Outcome once(const std::string& in, std::uint64_t max_size = 1'000'000) { return run(in, max_size, {}); }

struct Row {
    const char* name;
    std::string in;
    bool done;
    std::string out;  // expected output (the complete lines before the first error)
    DataError error;
    std::size_t consumed;  // expected end position when done
};

const std::string kEnd = "\r\n.\r\n";

std::vector<Row> rows() {
    return {
        {"empty message", ".\r\n", true, "", DataError::none, 3},
        {"one line", "text\r\n.\r\n", true, "text\r\n", DataError::none, 9},
        {"crlf before dot is body", "a\r\nb" + kEnd, true, "a\r\nb\r\n", DataError::none, 9},
        {"empty line", "\r\n.\r\n", true, "\r\n", DataError::none, 5},
        {"dot-stuffing", "a\r\n..b\r\n.\r\n", true, "a\r\n.b\r\n", DataError::none, 11},
        {"stuffed lone dot", "..\r\n.\r\n", true, ".\r\n", DataError::none, 7},
        {"unstuffed dot is dropped", ".x\r\n.\r\n", true, "x\r\n", DataError::none, 7},
        {"dot inside line kept", "a.b\r\n.\r\n", true, "a.b\r\n", DataError::none, 8},
        {"pipelined next command", "hi\r\n.\r\nMAIL FROM:<a@b>\r\n", true, "hi\r\n", DataError::none, 7},
        {"only the first end counts", ".\r\n.\r\n", true, "", DataError::none, 3},
        {"not yet ended", "a\r\n.", false, "a\r\n", DataError::none, 0},
        {"not yet ended after dot cr", "a\r\n.\r", false, "a\r\n", DataError::none, 0},
        // Smuggling variants: none of these ends the data (strict rules: refused).
        {"LF.LF", "a\n.\nb", false, "", DataError::bare_lf, 0},
        {"LF.CRLF", "a\n.\r\nb", false, "", DataError::bare_lf, 0},
        {"CR.CRLF", "a\r.\r\nb", false, "", DataError::bare_cr, 0},
        {"dot LF at start", ".\nb", false, "", DataError::bare_lf, 0},
        {"CRLF.LF", "a\r\n.\nb", false, "a\r\n", DataError::bare_lf, 0},
        {"CR.CR", "a\r.\rb", false, "", DataError::bare_cr, 0},
        {"CRLF.CR x", "a\r\n.\rb", false, "a\r\n", DataError::bare_cr, 0},
        // ... and with the real CRLF.CRLF after them the data ends, refused.
        {"LF.LF then end", "a\n.\nb" + kEnd, true, "", DataError::bare_lf, 10},
        {"LF.CRLF then end", "a\n.\r\nb" + kEnd, true, "", DataError::bare_lf, 11},
        {"CR.CRLF then end", "a\r.\r\nb" + kEnd, true, "", DataError::bare_cr, 11},
        {"dot LF at start then end", ".\nb" + kEnd, true, "", DataError::bare_lf, 8},
        {"CRLF.LF then end", "a\r\n.\nb" + kEnd, true, "a\r\n", DataError::bare_lf, 11},
        {"bare LF line end", "a\nb\r\n.\r\n", true, "", DataError::bare_lf, 8},
        {"bare CR in line", "a\rb\r\n.\r\n", true, "", DataError::bare_cr, 8},
        {"CR CR LF", "a\r\r\n.\r\n", true, "", DataError::bare_cr, 7},
        {"NUL", "a\0b\r\n.\r\n"s, true, "", DataError::nul, 8},
        {"first error wins", "a\0b\nc\r\n.\r\n"s, true, "", DataError::nul, 10},
        {"no output after error", "a\nbbb\r\nccc\r\n.\r\n", true, "", DataError::bare_lf, 15},
        {"lines before the error are out", "ok\r\na\rb\r\n.\r\n", true, "ok\r\n", DataError::bare_cr, 12},
    };
}

TEST(DataReader, Table) {
    for (const Row& r : rows()) {
        const Outcome o = once(r.in);
        EXPECT_EQ(o.done, r.done) << r.name;
        EXPECT_EQ(o.out, r.out) << r.name;
        EXPECT_EQ(o.error, r.error) << r.name;
        EXPECT_EQ(o.consumed, r.done ? r.consumed : r.in.size()) << r.name;
    }
}

TEST(DataReader, EveryTwoWaySplitGivesTheSameResult) {
    for (const Row& r : rows()) {
        const Outcome whole = once(r.in);
        for (std::size_t cut = 0; cut <= r.in.size(); ++cut) {
            EXPECT_EQ(run(r.in, 1'000'000, {cut == 0 ? r.in.size() : cut, r.in.size()}), whole)
                << r.name << " cut at " << cut;
        }
        EXPECT_EQ(run(r.in, 1'000'000, {1}), whole) << r.name << " one octet at a time";
    }
}

TEST(DataReader, LineLength998Passes999Fails) {
    const std::string l998(998, 'x');
    const std::string l999(999, 'x');
    Outcome o = once(l998 + kEnd);
    EXPECT_EQ(o.error, DataError::none);
    EXPECT_EQ(o.out, l998 + "\r\n");

    o = once(l999 + kEnd);
    EXPECT_EQ(o.error, DataError::line_too_long);
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.out, "");  // the line that broke the limit is not written

    // A stuffed line may be 999 octets on the wire: the limit counts after unstuffing.
    o = once("." + l998 + kEnd);
    EXPECT_EQ(o.error, DataError::none);
    EXPECT_EQ(o.out, l998 + "\r\n");
    o = once(".." + std::string(997, 'x') + kEnd);
    EXPECT_EQ(o.error, DataError::none);
    EXPECT_EQ(o.out, std::string(".").append(997, 'x').append("\r\n"));
    o = once(".." + l998 + kEnd);
    EXPECT_EQ(o.error, DataError::line_too_long);

    // The count starts again on each line.
    o = once(l998 + "\r\n" + l998 + kEnd);
    EXPECT_EQ(o.error, DataError::none);

    // In 1-octet chunks too.
    EXPECT_EQ(run(l999 + kEnd, 1'000'000, {1}), once(l999 + kEnd));
    EXPECT_EQ(run(l998 + kEnd, 1'000'000, {7}), once(l998 + kEnd));
}

TEST(DataReader, SizeCap) {
    // max 10: "01234567" + CRLF = 10 message octets pass.
    Outcome o = once("01234567" + kEnd, 10);
    EXPECT_EQ(o.error, DataError::none);
    EXPECT_EQ(o.size, 10u);
    // 11 octets: the CRLF takes it over; that line is not written.
    o = once("012345678" + kEnd, 10);
    EXPECT_EQ(o.error, DataError::too_big);
    EXPECT_EQ(o.out, "");
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.size, 11u);
    // Reading goes on to the real end, counting; the 101st octet comes before the 999th.
    const std::string big(5000, 'y');
    o = once(big + "\r\n" + big + kEnd, 100);
    EXPECT_EQ(o.error, DataError::too_big);
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.size, 10004u);
    // With a large cap, the same input is refused for its line length instead.
    EXPECT_EQ(once(big + kEnd).error, DataError::line_too_long);
}

TEST(DataReader, SizeCapBeforeLineLimit) {
    const std::string big(5000, 'y');
    const Outcome o = once(big + kEnd, 100);
    EXPECT_EQ(o.error, DataError::too_big);
    EXPECT_EQ(o.out, "");
    EXPECT_EQ(o.size, 5002u);
    EXPECT_TRUE(o.done);
    EXPECT_EQ(run(big + kEnd, 100, {3, 1, 17}), o);
}

TEST(DataReader, FeedAfterEndConsumesNothing) {
    DataReader reader(1000);
    std::string out;
    auto r = reader.feed(".\r\nQUIT\r\n", out);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.consumed, 3u);
    r = reader.feed("QUIT\r\n", out);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.consumed, 0u);
    EXPECT_EQ(out, "");
    r = DataReader(10).feed("", out);
    EXPECT_FALSE(r.done);
    EXPECT_EQ(r.consumed, 0u);
}

TEST(DataReader, RepliesForErrors) {
    EXPECT_EQ(reply_for(DataError::bare_lf).wire().substr(0, 10), "550 5.5.2 ");
    EXPECT_EQ(reply_for(DataError::bare_cr).wire().substr(0, 10), "550 5.5.2 ");
    EXPECT_NE(reply_for(DataError::bare_lf).wire().find("CRLF"), std::string::npos);
    EXPECT_EQ(reply_for(DataError::nul).wire().substr(0, 10), "550 5.6.0 ");
    EXPECT_EQ(reply_for(DataError::line_too_long).wire().substr(0, 10), "550 5.6.0 ");
    EXPECT_NE(reply_for(DataError::line_too_long).wire().find("998"), std::string::npos);
    EXPECT_EQ(reply_for(DataError::too_big).wire(), "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    EXPECT_FALSE(reply_for(DataError::none).positive());  // never a false acceptance
}

// An independent reference written in terms of lines: split at CRLF; the data ends at the
// first line that is exactly "."; each earlier line loses a leading "."; the message is
// bad when a line holds a CR, LF or NUL, is over 998 octets, or the total is over max.
struct Reference {
    bool done = false;
    std::size_t end = 0;
    bool bad = false;
    std::string body;
};

Reference reference(const std::string& in, std::uint64_t max_size) {
    Reference ref;
    std::size_t pos = 0;
    while (true) {
        const std::size_t crlf = in.find("\r\n", pos);
        if (crlf == std::string::npos) break;
        std::string line = in.substr(pos, crlf - pos);
        pos = crlf + 2;
        if (line == ".") {
            ref.done = true;
            ref.end = pos;
            break;
        }
        if (!line.empty() && line[0] == '.') line.erase(0, 1);
        if (line.find_first_of("\r\n\0"s) != std::string::npos || line.size() > 998) ref.bad = true;
        ref.body += line + "\r\n";
    }
    if (ref.body.size() > max_size) ref.bad = true;
    return ref;
}

TEST(DataReader, RandomInputsMatchReferenceAndAnyChunking) {
    std::mt19937 rng(20240611);
    const std::string alphabet = "ab.\r\n\r\n..\0"s;
    for (int iter = 0; iter < 3000; ++iter) {
        const std::size_t len = rng() % 60;
        std::string in;
        for (std::size_t i = 0; i < len; ++i) in += alphabet[rng() % alphabet.size()];
        if (rng() % 2) in += kEnd;
        const std::uint64_t max = rng() % 3 == 0 ? rng() % 40 : 1'000'000;
        const Outcome whole = run(in, max, {});
        const Reference ref = reference(in, max);
        ASSERT_EQ(whole.done, ref.done) << testing::PrintToString(in);
        if (ref.done) {
            ASSERT_EQ(whole.consumed, ref.end) << testing::PrintToString(in);
            ASSERT_EQ(whole.error != DataError::none, ref.bad) << testing::PrintToString(in);
            if (!ref.bad) {
                ASSERT_EQ(whole.out, ref.body) << testing::PrintToString(in);
            }
        }
        std::vector<std::size_t> sizes;
        for (int k = 0; k < 8; ++k) sizes.push_back(1 + rng() % 7);
        ASSERT_EQ(run(in, max, sizes), whole) << testing::PrintToString(in);
        ASSERT_EQ(run(in, max, {1}), whole) << testing::PrintToString(in);
    }
}

TEST(DataReader, LargeMessageInRandomChunks) {
    std::string body, stuffed;
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
        std::string line(rng() % 200, 'm');
        if (rng() % 5 == 0) line = "." + line;  // starts with a dot: stuffed on the wire
        body += line + "\r\n";
        stuffed += (line.starts_with(".") ? "." : "") + line + "\r\n";
    }
    const std::string in = stuffed + ".\r\nQUIT\r\n";
    const Outcome whole = once(in, 10'000'000);
    EXPECT_TRUE(whole.done);
    EXPECT_EQ(whole.error, DataError::none);
    EXPECT_EQ(whole.out, body);
    EXPECT_EQ(whole.consumed, in.size() - 6);
    for (int t = 0; t < 20; ++t) {
        std::vector<std::size_t> sizes;
        for (int k = 0; k < 16; ++k) sizes.push_back(1 + rng() % 4096);
        EXPECT_EQ(run(in, 10'000'000, sizes), whole);
    }
}

}  // namespace

// BDAT chunks get the same content rules as DATA, whatever the chunk boundaries.
TEST(BodyChecker, SameRulesAsDataForAnyChunking) {
    using signpost::smtp::BodyChecker;
    using signpost::smtp::DataError;
    struct Case {
        std::string body;
        DataError want;
    };
    std::vector<Case> cases = {
        {"From: a@b\r\nSubject: x\r\n\r\nbody\r\n", DataError::none},
        {"", DataError::none},
        {"line1\nline2\r\n", DataError::bare_lf},
        {"line1\rline2\r\n", DataError::bare_cr},
        {"line1\r\n.\n", DataError::bare_lf},
        {"line1\r\n\r.\r\n", DataError::bare_cr},
        {"a\0b\r\n", DataError::nul},
        {"ends with CR\r", DataError::bare_cr},
        {std::string(998, 'x') + "\r\n", DataError::none},
        {std::string(999, 'x') + "\r\n", DataError::line_too_long},
    };
    cases[6].body = std::string("a\0b\r\n", 5);
    for (const auto& c : cases) {
        for (std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
            BodyChecker checker;
            std::string out;
            if (chunk == 0) checker.feed(c.body, out);
            else
                for (std::size_t i = 0; i < c.body.size(); i += chunk)
                    checker.feed(std::string_view(c.body).substr(i, chunk), out);
            EXPECT_EQ(checker.finish(out), c.want) << "chunk " << chunk << ": " << c.body.substr(0, 40);
            if (c.want == DataError::none) {
                EXPECT_EQ(out, c.body);  // strict rules change nothing
            }
        }
    }
}

// ---- The default rules of [limits]: bare LF normalized, long lines folded --------------------

namespace {

using signpost::smtp::BodyChecker;
using signpost::smtp::ContentRules;
using signpost::smtp::DataError;
using signpost::smtp::DataReader;

const ContentRules kLenient{1'000'000, true, 100'000};

// DATA with `rules`, fed in chunks of `chunk` octets (0 = all at once).
Outcome run_rules(const std::string& in, const ContentRules& rules, std::size_t chunk) {
    DataReader reader(rules);
    Outcome o;
    std::size_t pos = 0;
    while (pos < in.size()) {
        const std::size_t len = chunk == 0 ? in.size() - pos : std::min(chunk, in.size() - pos);
        const auto r = reader.feed(std::string_view(in).substr(pos, len), o.out);
        if (r.done) {
            o.done = true;
            o.consumed = pos + r.consumed;
            break;
        }
        pos += len;
    }
    if (!o.done) o.consumed = pos;
    o.error = reader.error();
    o.size = reader.size();
    return o;
}

// The SMTP-smuggling shapes with bare LFs, normalized: each stays inside the one message,
// its "." lines are content (delivery stuffs them again), and only CRLF.CRLF ends it.
TEST(DataReaderNormalize, BareLfIsALineEndAndNeverEndsTheData) {
    const std::string end = "\r\n.\r\n";
    struct Case {
        const char* name;
        std::string in;
        std::string out;
    };
    const std::vector<Case> cases = {
        // curl --upload-file of an LF file: curl ends it with CRLF.CRLF, so one empty line more.
        {"LF line ends", "a\nb\n" + end, "a\r\nb\r\n\r\n"},
        {"LF.LF", "a\n.\nb" + end, "a\r\n.\r\nb\r\n"},
        {"LF.CRLF", "a\n.\r\nb" + end, "a\r\n.\r\nb\r\n"},
        {"CRLF.LF", "a\r\n.\nb" + end, "a\r\n.\r\nb\r\n"},
        {"LF..", "a\n..b" + end, "a\r\n..b\r\n"},     // not stuffing after a bare LF
        {"CRLF..", "a\r\n..b" + end, "a\r\n.b\r\n"},  // stuffing after CRLF, as ever
        {"LF at the start", "\n.\nx" + end, "\r\n.\r\nx\r\n"},
        {"smuggled command", "a\n.\nMAIL FROM:<x@evil>\nRCPT TO:<y@victim>\nDATA\nz" + end,
         "a\r\n.\r\nMAIL FROM:<x@evil>\r\nRCPT TO:<y@victim>\r\nDATA\r\nz\r\n"},
    };
    for (const auto& c : cases) {
        for (std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{5}}) {
            const Outcome o = run_rules(c.in + "QUIT\r\n", kLenient, chunk);
            EXPECT_TRUE(o.done) << c.name;
            EXPECT_EQ(o.error, DataError::none) << c.name;
            EXPECT_EQ(o.out, c.out) << c.name << " chunk " << chunk;
            EXPECT_EQ(o.consumed, c.in.size()) << c.name << ": the data ends at the real CRLF.CRLF only";
        }
    }
    // "." CRLF after a bare LF is a content line, not the end.
    const Outcome open_ended = run_rules("a\nb\n.\r\nMAIL FROM:<x@evil>\r\n", kLenient, 0);
    EXPECT_FALSE(open_ended.done);
    EXPECT_EQ(open_ended.out, "a\r\nb\r\n.\r\nMAIL FROM:<x@evil>\r\n");
    // A bare CR is still refused, and so is a bare LF under the strict rule.
    EXPECT_EQ(run_rules("a\rb" + end, kLenient, 0).error, DataError::bare_cr);
    EXPECT_EQ(run_rules("a\nb" + end, ContentRules{1'000'000, false, 100'000}, 0).error, DataError::bare_lf);
}

TEST(DataReaderFold, BodyLinesFoldAfterASpaceOrAt998) {
    const std::string end = "\r\n.\r\n";
    const std::string head = "Subject: x\r\n\r\n";
    // 5000 characters of words: every output line is at most 998 and ends after a space;
    // joined without the inserted CRLFs they give the line back.
    std::string words;
    while (words.size() < 5000) words += "word" + std::to_string(words.size() % 97) + ' ';
    Outcome o = run_rules(head + words + end, kLenient, 0);
    ASSERT_EQ(o.error, DataError::none);
    std::string body = o.out.substr(head.size());
    std::size_t pos = 0, lines = 0;
    std::string joined;
    while (pos < body.size()) {
        const std::size_t crlf = body.find("\r\n", pos);
        const std::string line = body.substr(pos, crlf - pos);
        EXPECT_LE(line.size(), 998u);
        if (crlf + 2 < body.size()) {
            EXPECT_EQ(line.back(), ' ');
        }
        joined += line;
        pos = crlf + 2;
        ++lines;
    }
    EXPECT_EQ(joined, words);
    EXPECT_GE(lines, 6u);
    // No space at all: cut at exactly 998.
    const std::string solid(2500, 'h');
    o = run_rules(head + solid + end, kLenient, 0);
    ASSERT_EQ(o.error, DataError::none);
    EXPECT_EQ(o.out, head + solid.substr(0, 998) + "\r\n" + solid.substr(998, 998) + "\r\n" + solid.substr(1996) + "\r\n");
    // Any chunking gives the same bytes.
    for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{997}, std::size_t{999}})
        EXPECT_EQ(run_rules(head + words + end, kLenient, chunk), run_rules(head + words + end, kLenient, 0));
}

TEST(DataReaderFold, HeaderLinesFoldBeforeASpaceOrAreRefused) {
    const std::string end = "\r\n.\r\n";
    std::string value;
    while (value.size() < 1500) value += "token" + std::to_string(value.size()) + ' ';
    value.pop_back();
    const Outcome o = run_rules("X-Long: " + value + "\r\n\r\nbody" + end, kLenient, 3);
    ASSERT_EQ(o.error, DataError::none);
    const std::size_t crlf = o.out.find("\r\n");
    EXPECT_LE(crlf, 998u);
    EXPECT_EQ(o.out[crlf + 2], ' ');  // a continuation line: unfolding gives the field back
    std::string unfolded = o.out.substr(0, o.out.find("\r\n\r\n"));
    for (std::size_t p; (p = unfolded.find("\r\n")) != std::string::npos;) unfolded.erase(p, 2);
    EXPECT_EQ(unfolded, "X-Long: " + value);
    // 1200 octets without a space in the header: refused, with its own reply.
    const Outcome bad = run_rules("X-Solid: " + std::string(1200, 'q') + "\r\n\r\nbody" + end, kLenient, 0);
    EXPECT_TRUE(bad.done);
    EXPECT_EQ(bad.error, DataError::header_line_too_long);
    EXPECT_EQ(reply_for(bad.error).wire().substr(0, 10), "550 5.6.0 ");
}

TEST(DataReaderFold, LinesOverTheConfiguredLimitAreRefusedNamingIt) {
    const ContentRules rules{1'000'000, true, 3000};
    const std::string end = "\r\n.\r\n";
    EXPECT_EQ(run_rules("S: x\r\n\r\n" + std::string(3000, 'z') + end, rules, 0).error, DataError::none);
    const Outcome o = run_rules("S: x\r\n\r\n" + std::string(3001, 'z') + end, rules, 0);
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.error, DataError::line_too_long);
    const auto reply = reply_for(o.error, rules).wire();
    EXPECT_EQ(reply.substr(0, 10), "550 5.6.0 ");
    EXPECT_NE(reply.find("3000"), std::string::npos) << reply;
    EXPECT_NE(std::string(describe(o.error)).find("max_line_length"), std::string::npos);
}

// Normalizing and folding keep DATA's promise: any split gives the same bytes and end, no
// output line is over 998 octets, and no output line is a lone "." (CRLF.CRLF never
// appears inside what is written, since such a line would end the data on the way out
// only if unstuffed; delivery stuffs it).
TEST(DataReaderNormalize, RandomInputsAnyChunkingSameResult) {
    std::mt19937 rng(20261206);
    const std::string alphabet = "ab .\r\n\n\n.. \t"s;
    for (int iter = 0; iter < 2000; ++iter) {
        // Now and then a small size cap, so a line is refused in the middle of a fold.
        const ContentRules rules{rng() % 3 == 0 ? 50 + rng() % 2000 : 1'000'000, true, 3000};
        std::string in;
        const std::size_t len = rng() % 80;
        for (std::size_t i = 0; i < len; ++i) in += alphabet[rng() % alphabet.size()];
        if (rng() % 4 == 0) in += std::string(900 + rng() % 1500, rng() % 2 ? 'w' : ' ');
        in += "\r\n.\r\n";
        const Outcome whole = run_rules(in, rules, 0);
        ASSERT_TRUE(whole.done) << testing::PrintToString(in);
        for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{3} + rng() % 9})
            ASSERT_EQ(run_rules(in, rules, chunk), whole) << testing::PrintToString(in) << " chunk " << chunk;
        if (whole.error != DataError::none) continue;
        std::size_t pos = 0;
        while (pos < whole.out.size()) {
            const std::size_t crlf = whole.out.find("\r\n", pos);
            ASSERT_NE(crlf, std::string::npos);
            ASSERT_LE(crlf - pos, 998u);
            ASSERT_EQ(whole.out.substr(pos, crlf - pos).find('\n'), std::string::npos);
            pos = crlf + 2;
        }
    }
}

// BDAT gets the same shaping as DATA, for any chunking.
TEST(BodyChecker, NormalizesAndFoldsLikeData) {
    std::string body = "Subject: s\nX: y\r\n\n";
    body += std::string(1500, 'b') + "\n.\n" + "tail words here\r\n";
    const Outcome data = run_rules(body + ".\r\n", kLenient, 0);  // as DATA (no stuffing needed: no CRLF.)
    ASSERT_EQ(data.error, DataError::none);
    for (std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{1000}}) {
        BodyChecker checker(kLenient);
        std::string out;
        if (chunk == 0) checker.feed(body, out);
        else
            for (std::size_t i = 0; i < body.size(); i += chunk) checker.feed(std::string_view(body).substr(i, chunk), out);
        EXPECT_EQ(checker.finish(out), DataError::none);
        EXPECT_EQ(out, data.out) << "chunk " << chunk;
        EXPECT_EQ(checker.folds(), 1u);
    }
}

}  // namespace
