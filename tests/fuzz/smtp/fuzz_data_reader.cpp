// tests/fuzz/smtp/fuzz_data_reader.cpp — libFuzzer target for the DATA reader.
//
// Input: 2 octets of rules and size cap (top bit: the default [limits] rules — bare LF
// normalized, long lines folded up to 998 + the split octets; else strict; the other 15
// bits: the cap), 2 octets of split position, then the bytes that follow a 354.
// Invariants:
//   - consumed <= input, and == input when the end was not seen;
//   - when error() == none: the output has no bare CR or LF, no NUL, no line over 998
//     octets, is at most the cap, its size equals size() once done (the line in progress
//     is held back before), and (when done) it is empty or ends in CRLF;
//   - feeding the same bytes in two pieces (at the split position) and one octet at a
//     time gives the same output, end position and error.
// Covers: relay/smtp/data_reader.cpp
// Seeds: corpus/data_reader/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "relay/smtp/data_reader.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::smtp;

struct Run {
    std::string out;
    std::size_t end = 0;
    bool done = false;
    DataError error = DataError::none;
    std::uint64_t size = 0;
};

Run feed_pieces(std::string_view in, const ContentRules& rules, std::size_t piece) {
    DataReader reader(rules);
    Run run;
    std::size_t pos = 0;
    while (pos < in.size()) {
        const std::size_t len = std::min(piece, in.size() - pos);
        const auto r = reader.feed(in.substr(pos, len), run.out);
        CHECK(r.consumed <= len);
        if (r.done) {
            run.done = true;
            run.end = pos + r.consumed;
            break;
        }
        CHECK(r.consumed == len);
        pos += len;
    }
    if (!run.done) run.end = in.size();
    run.error = reader.error();
    run.size = reader.size();
    return run;
}

bool same(const Run& a, const Run& b) {
    return a.out == b.out && a.end == b.end && a.done == b.done && a.error == b.error && a.size == b.size;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 4 || size > 64 * 1024) return 0;
    const bool lenient = (data[0] & 0x80) != 0;
    const std::uint64_t max = static_cast<std::uint64_t>(data[0] & 0x7f) << 8 | data[1];
    const std::size_t split = static_cast<std::size_t>(data[2]) << 8 | data[3];
    const std::string_view in(reinterpret_cast<const char*>(data) + 4, size - 4);
    const ContentRules rules{max, lenient, lenient ? max_data_line + split : max_data_line};

    const Run whole = feed_pieces(in, rules, in.size() + 1);
    CHECK(whole.end <= in.size());
    if (whole.error == DataError::none) {
        const std::string& o = whole.out;
        // The current line is held back until it ends: all is written once the data ended.
        CHECK(o.size() <= max && (whole.done ? o.size() == whole.size : o.size() <= whole.size));
        std::size_t line = 0;
        for (std::size_t i = 0; i < o.size(); ++i) {
            CHECK(o[i] != '\0');
            if (o[i] == '\r') CHECK(i + 1 < o.size() ? o[i + 1] == '\n' : !whole.done);
            if (o[i] == '\n') {
                CHECK(i > 0 && o[i - 1] == '\r');
                line = 0;
            } else if (o[i] != '\r') {
                CHECK(++line <= max_data_line);
            }
        }
        if (whole.done) CHECK(o.empty() || o.ends_with("\r\n"));
    }
    if (!in.empty()) {
        const std::size_t piece = 1 + split % in.size();
        CHECK(same(feed_pieces(in, rules, piece), whole));
    }
    if (in.size() <= 4096) CHECK(same(feed_pieces(in, rules, 1), whole));
    return 0;
}
