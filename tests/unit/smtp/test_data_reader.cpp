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
    std::string out;  // expected output (up to the first error)
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
        // Smuggling variants: none of these ends the data.
        {"LF.LF", "a\n.\nb", false, "a", DataError::bare_lf, 0},
        {"LF.CRLF", "a\n.\r\nb", false, "a", DataError::bare_lf, 0},
        {"CR.CRLF", "a\r.\r\nb", false, "a", DataError::bare_cr, 0},
        {"dot LF at start", ".\nb", false, "", DataError::bare_lf, 0},
        {"CRLF.LF", "a\r\n.\nb", false, "a\r\n", DataError::bare_lf, 0},
        {"CR.CR", "a\r.\rb", false, "a", DataError::bare_cr, 0},
        {"CRLF.CR x", "a\r\n.\rb", false, "a\r\n", DataError::bare_cr, 0},
        // ... and with the real CRLF.CRLF after them the data ends, refused.
        {"LF.LF then end", "a\n.\nb" + kEnd, true, "a", DataError::bare_lf, 10},
        {"LF.CRLF then end", "a\n.\r\nb" + kEnd, true, "a", DataError::bare_lf, 11},
        {"CR.CRLF then end", "a\r.\r\nb" + kEnd, true, "a", DataError::bare_cr, 11},
        {"dot LF at start then end", ".\nb" + kEnd, true, "", DataError::bare_lf, 8},
        {"CRLF.LF then end", "a\r\n.\nb" + kEnd, true, "a\r\n", DataError::bare_lf, 11},
        {"bare LF line end", "a\nb\r\n.\r\n", true, "a", DataError::bare_lf, 8},
        {"bare CR in line", "a\rb\r\n.\r\n", true, "a", DataError::bare_cr, 8},
        {"CR CR LF", "a\r\r\n.\r\n", true, "a", DataError::bare_cr, 7},
        {"NUL", "a\0b\r\n.\r\n"s, true, "a", DataError::nul, 8},
        {"first error wins", "a\0b\nc\r\n.\r\n"s, true, "a", DataError::nul, 10},
        {"no output after error", "a\nbbb\r\nccc\r\n.\r\n", true, "a", DataError::bare_lf, 15},
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
    EXPECT_EQ(o.out, l998);  // everything before the 999th octet

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
    // 11 octets: the CRLF takes it over, the content before it was passed on.
    o = once("012345678" + kEnd, 10);
    EXPECT_EQ(o.error, DataError::too_big);
    EXPECT_EQ(o.out, "012345678");
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
    EXPECT_EQ(o.out, std::string(100, 'y'));
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
            if (chunk == 0) checker.feed(c.body);
            else
                for (std::size_t i = 0; i < c.body.size(); i += chunk) checker.feed(std::string_view(c.body).substr(i, chunk));
            EXPECT_EQ(checker.finish(), c.want) << "chunk " << chunk << ": " << c.body.substr(0, 40);
        }
    }
}
