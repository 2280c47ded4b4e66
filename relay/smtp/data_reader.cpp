// relay/smtp/data_reader.cpp — the DATA body reader and BDAT content rules (see
// data_reader.hpp).
//
// DataReader states, by what the previous octets were:
//   line_start  at the start of a line after CRLF (or at the very start of the data)
//   in_line     inside a line (also after a bare CR, and after a normalized bare LF:
//               those never start a line, so "\n.\r\n" and "\r.\r\n" cannot end the data
//               and their "." is content)
//   cr          a CR inside a line: a CRLF if LF follows, else a bare CR
//   dot         "." at the start of a line: stuffing, or the terminator if CRLF follows
//   dot_cr      "." CR at the start of a line: the end if LF follows
//   done        CRLF "." CRLF seen
#include "relay/smtp/data_reader.hpp"

#include <algorithm>

namespace signpost::smtp {
namespace {

enum State : int { line_start = 0, in_line, cr, dot, dot_cr, done };

constexpr std::uint64_t kMax64 = std::numeric_limits<std::uint64_t>::max();

std::uint64_t add_sat(std::uint64_t a, std::uint64_t b) { return b > kMax64 - a ? kMax64 : a + b; }

}  // namespace

Reply reply_for(DataError e, const ContentRules& rules) {
    switch (e) {
    case DataError::none: break;
    case DataError::bare_lf:
        return make_reply(550, "5.5.2", "Message refused: bare LF in message; lines must end with CRLF");
    case DataError::bare_cr:
        return make_reply(550, "5.5.2", "Message refused: bare CR in message; lines must end with CRLF");
    case DataError::nul:
        return make_reply(550, "5.6.0", "Message refused: NUL character in message");
    case DataError::line_too_long:
        return make_reply(550, "5.6.0", "Message refused: a line is longer than " +
                                            std::to_string(rules.max_line_length) + " characters");
    case DataError::header_line_too_long:
        return make_reply(550, "5.6.0", "Message refused: a header line is longer than 998 characters and has no "
                                        "space to fold it at");
    case DataError::too_big:
        return make_reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    }
    return make_reply(451, "4.3.0", "Local error in processing");
}

const char* describe(DataError e) {
    switch (e) {
    case DataError::none: return "no error";
    case DataError::bare_lf: return "a bare LF (lines must end with CRLF; [limits] bare_lf = \"refuse\")";
    case DataError::bare_cr: return "a bare CR (lines must end with CRLF)";
    case DataError::nul: return "a NUL character";
    case DataError::line_too_long: return "a line longer than [limits] max_line_length";
    case DataError::header_line_too_long: return "a header line over 998 characters with no space to fold at";
    case DataError::too_big: return "larger than [limits] message_size";
    }
    return "unknown";
}

// ---- LineShaper ------------------------------------------------------------------------------

void LineShaper::count(std::uint64_t n) {
    size_ = add_sat(size_, n);
    if (size_ > rules_.max_size) fail(DataError::too_big);
}

void LineShaper::emit(std::string_view bytes, std::string& out) {
    if (error_ == DataError::none) out.append(bytes);
}

void LineShaper::content(std::string_view run, std::string& out) {
    while (!run.empty()) {
        if (error_ != DataError::none) {  // refused (before or inside this run): only the size goes on
            count(run.size());
            return;
        }
        if (logical_length_ >= rules_.max_line_length) {
            fail(DataError::line_too_long);
            // Only the first octets matter from here: the message is refused.
            count(run.size());
            return;
        }
        const std::uint64_t line_room = rules_.max_line_length - logical_length_;
        const std::size_t room = max_data_line - line_.size();
        std::size_t take = std::min<std::size_t>(run.size(), room);
        take = static_cast<std::size_t>(std::min<std::uint64_t>(take, line_room));
        if (take > 0) {
            line_.append(run.data(), take);
            logical_length_ += take;
            count(take);
            run.remove_prefix(take);
            continue;
        }
        // The physical line is full (998 octets) and the logical one may go on: fold.
        fold(out);
    }
}

void LineShaper::fold(std::string& out) {
    std::size_t cut;  // line_[0, cut) is written with a CRLF; line_[cut, end) stays
    if (in_header_) {
        // Before the last space or tab that is not the first octet: the next line then
        // starts with that whitespace, a continuation line (RFC 5322 §2.2.3).
        std::size_t p = line_.find_last_of(" \t");
        if (p == std::string::npos || p == 0) {
            fail(DataError::header_line_too_long);
            return;
        }
        cut = p;
    } else {
        std::size_t p = line_.find_last_of(" \t");
        cut = p == std::string::npos ? line_.size() : p + 1;
    }
    count(2);
    emit(std::string_view(line_).substr(0, cut), out);
    emit("\r\n", out);
    ++folds_;
    line_.erase(0, cut);
}

void LineShaper::line_end(std::string& out) {
    if (in_header_ && logical_length_ == 0) in_header_ = false;  // the empty line after the header
    count(2);
    emit(line_, out);
    emit("\r\n", out);
    line_.clear();
    logical_length_ = 0;
}

void LineShaper::end_without_line_end(std::string& out) {
    emit(line_, out);
    line_.clear();
    logical_length_ = 0;
}

// ---- DataReader ------------------------------------------------------------------------------

DataReader::DataReader(std::uint64_t max_size) : DataReader(ContentRules{max_size, false, max_data_line}) {}

DataReader::DataReader(const ContentRules& rules)
    : normalize_(rules.normalize_bare_lf),
      shaper_(ContentRules{rules.max_size, rules.normalize_bare_lf,
                           std::max<std::uint64_t>(rules.max_line_length, max_data_line)}) {}

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
            } else if (c == '\n') {  // CRLF "." LF: not the end
                if (normalize_) {
                    // A line "." ended by a bare LF: kept as content, stuffed again on delivery.
                    shaper_.content(".", out);
                    shaper_.line_end(out);
                } else {
                    shaper_.fail(DataError::bare_lf);
                }
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
            shaper_.fail(DataError::bare_cr);  // "." CR x: not the end
            state_ = in_line;                  // `c` is read again as content
            break;
        case cr:
            if (c == '\n') {
                shaper_.line_end(out);
                state_ = line_start;
                ++i;
            } else {
                shaper_.fail(DataError::bare_cr);
                state_ = in_line;  // `c` is read again as content
            }
            break;
        case in_line: {
            std::size_t j = i;
            while (j < n && in[j] != '\r' && in[j] != '\n' && in[j] != '\0') ++j;
            if (j > i) {
                shaper_.content(in.substr(i, j - i), out);
                i = j;
                if (i == n) break;
            }
            if (in[i] == '\r') {
                state_ = cr;
            } else if (in[i] == '\n') {
                // Normalized: a line end, but the next line is content (no stuffing, no end).
                if (normalize_) shaper_.line_end(out);
                else shaper_.fail(DataError::bare_lf);
            } else {
                shaper_.fail(DataError::nul);
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

// ---- BodyChecker (BDAT) --------------------------------------------------------------------------

void BodyChecker::feed(std::string_view chunk, std::string& out) {
    std::size_t i = 0;
    const std::size_t n = chunk.size();
    while (i < n) {
        if (pending_cr_) {
            pending_cr_ = false;
            if (chunk[i] == '\n') {
                shaper_.line_end(out);
                ++i;
                continue;
            }
            shaper_.fail(DataError::bare_cr);
        }
        std::size_t j = i;
        while (j < n && chunk[j] != '\r' && chunk[j] != '\n' && chunk[j] != '\0') ++j;
        if (j > i) shaper_.content(chunk.substr(i, j - i), out);
        if (j == n) break;
        if (chunk[j] == '\r') pending_cr_ = true;
        else if (chunk[j] == '\n') {
            if (normalize_) shaper_.line_end(out);
            else shaper_.fail(DataError::bare_lf);
        } else {
            shaper_.fail(DataError::nul);
        }
        i = j + 1;
    }
}

DataError BodyChecker::finish(std::string& out) {
    if (pending_cr_) {
        pending_cr_ = false;
        shaper_.fail(DataError::bare_cr);
    }
    shaper_.end_without_line_end(out);
    return shaper_.error();
}

}  // namespace signpost::smtp
