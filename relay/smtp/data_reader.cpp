// relay/smtp/data_reader.cpp — the strict DATA body reader (see data_reader.hpp).
//
// States, by what the previous octets were:
//   line_start  at the start of a line (after CRLF, or at the very start of the data)
//   in_line     inside a line (also after a bare CR or LF: those never start a line, so
//               "\n.\r\n" and "\r.\r\n" cannot end the data)
//   cr          a CR inside a line: a CRLF if LF follows, else a bare CR
//   dot         "." at the start of a line: stuffing, or the terminator if CRLF follows
//   dot_cr      "." CR at the start of a line: the end if LF follows
//   done        CRLF "." CRLF seen
#include "relay/smtp/data_reader.hpp"

#include <algorithm>
#include <limits>

namespace signpost::smtp {
namespace {

enum State : int { line_start = 0, in_line, cr, dot, dot_cr, done };

constexpr std::uint64_t kMax64 = std::numeric_limits<std::uint64_t>::max();

std::uint64_t add_sat(std::uint64_t a, std::uint64_t b) { return b > kMax64 - a ? kMax64 : a + b; }

}  // namespace

Reply reply_for(DataError e) {
    switch (e) {
    case DataError::none: break;
    case DataError::bare_lf:
        return make_reply(550, "5.5.2", "Message refused: bare LF in message; lines must end with CRLF");
    case DataError::bare_cr:
        return make_reply(550, "5.5.2", "Message refused: bare CR in message; lines must end with CRLF");
    case DataError::nul:
        return make_reply(550, "5.6.0", "Message refused: NUL character in message");
    case DataError::line_too_long:
        return make_reply(550, "5.6.0", "Message refused: line longer than 998 characters");
    case DataError::too_big:
        return make_reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    }
    return make_reply(451, "4.3.0", "Local error in processing");
}

DataReader::DataReader(std::uint64_t max_size) : max_size_(max_size) {}

// A run of line octets with no CR, LF or NUL in it.
void DataReader::content(std::string_view run, std::string& out) {
    if (error_ == DataError::none) {
        const std::uint64_t line_room = line_length_ >= max_data_line ? 0 : max_data_line - line_length_;
        const std::uint64_t size_room = size_ >= max_size_ ? 0 : max_size_ - size_;
        const std::uint64_t fits = std::min<std::uint64_t>({run.size(), line_room, size_room});
        out.append(run.data(), static_cast<std::size_t>(fits));
        // The first octet that does not fit raises the error; at a tie the line limit wins.
        if (fits < run.size()) fail(line_room <= size_room ? DataError::line_too_long : DataError::too_big);
    }
    // line_length_ only needs to count past the limit, so it saturates there.
    line_length_ = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(static_cast<std::uint64_t>(line_length_) + run.size(), max_data_line + 1));
    size_ = add_sat(size_, run.size());
}

void DataReader::line_end(std::string& out) {
    if (error_ == DataError::none) {
        if (size_ > max_size_ || max_size_ - size_ < 2) {
            fail(DataError::too_big);
        } else {
            out += "\r\n";
        }
    }
    size_ = add_sat(size_, 2);
    line_length_ = 0;
}

DataReader::Result DataReader::feed(std::string_view in, std::string& out) {
    Result r;
    if (state_ == done) {
        r.done = true;
        return r;
    }
    const std::size_t n = in.size();
    std::size_t i = 0;
    while (i < n) {
        const char c = in[i];
        switch (state_) {
        case line_start:
            if (c == '.') {
                state_ = dot;
                ++i;
            } else {
                state_ = in_line;
            }
            break;
        case dot:
            if (c == '\r') {
                state_ = dot_cr;
                ++i;
            } else if (c == '\n') {  // ".\n": not the end
                fail(DataError::bare_lf);
                size_ = add_sat(size_, 1);
                state_ = in_line;
                ++i;
            } else {
                state_ = in_line;  // the "." is dropped; `c` is read as the line's content
            }
            break;
        case dot_cr:
            if (c == '\n') {
                state_ = done;
                r.consumed = i + 1;
                r.done = true;
                return r;
            }
            fail(DataError::bare_cr);  // "." CR x: not the end
            size_ = add_sat(size_, 1);
            state_ = in_line;  // `c` is read again as content
            break;
        case cr:
            if (c == '\n') {
                line_end(out);
                state_ = line_start;
                ++i;
            } else {
                fail(DataError::bare_cr);
                size_ = add_sat(size_, 1);
                state_ = in_line;  // `c` is read again as content
            }
            break;
        case in_line: {
            std::size_t j = i;
            while (j < n && in[j] != '\r' && in[j] != '\n' && in[j] != '\0') ++j;
            if (j > i) {
                content(in.substr(i, j - i), out);
                i = j;
                if (i == n) break;
            }
            if (in[i] == '\r') {
                state_ = cr;
            } else if (in[i] == '\n') {
                fail(DataError::bare_lf);
                size_ = add_sat(size_, 1);
            } else {
                fail(DataError::nul);
                line_length_ = std::min<std::uint32_t>(line_length_ + 1, max_data_line + 1);
                size_ = add_sat(size_, 1);
            }
            ++i;
            break;
        }
        default:
            return r;  // unreachable: `done` returned above
        }
    }
    r.consumed = n;
    return r;
}

void BodyChecker::feed(std::string_view chunk) {
    for (char c : chunk) {
        if (error_ != DataError::none) return;
        if (pending_cr_) {
            pending_cr_ = false;
            if (c != '\n') {
                error_ = DataError::bare_cr;
                return;
            }
            line_length_ = 0;
            continue;
        }
        switch (c) {
            case '\r': pending_cr_ = true; break;
            case '\n': error_ = DataError::bare_lf; break;
            case '\0': error_ = DataError::nul; break;
            default:
                if (++line_length_ > max_data_line) error_ = DataError::line_too_long;
        }
    }
}

DataError BodyChecker::finish() {
    if (error_ == DataError::none && pending_cr_) error_ = DataError::bare_cr;
    return error_;
}

}  // namespace signpost::smtp

