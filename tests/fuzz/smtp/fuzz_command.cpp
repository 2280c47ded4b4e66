// tests/fuzz/smtp/fuzz_command.cpp — libFuzzer target for the SMTP server protocol.
//
// The input is a client's byte stream (its first octet picks the listener: bit 0 = TLS
// already active). It is cut into lines the way the session coroutine does (CRLF, bare LF
// flagged, lines over max_line_length() reported as too long) and every Step is carried
// out: STARTTLS succeeds (or fails when the next octet is '!'), the password check passes
// only for user "good" / password "pw", DATA bodies go through a DataReader, BDAT chunks
// are taken from the stream; when the input ends first, on_timeout() is called.
// Invariants checked after every call:
//   - replies are well framed (CRLF only at line ends), codes 2xx-5xx, the enhanced code
//     has the reply's class;
//   - AUTH is never advertised, and nobody is authenticated, without TLS;
//   - no envelope without authentication; never more recipients than the limit;
//   - a 421 closes, close/TLS/password/DATA steps flush; the password is gone after the
//     check; after close every call is ignored.
// Any crash, sanitizer report, escaping exception or failed invariant is a bug.
// Covers: relay/smtp/server.cpp relay/smtp/command.cpp relay/smtp/sasl.cpp relay/smtp/data_reader.cpp
// Seeds: corpus/command/ (sessions).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "relay/smtp/data_reader.hpp"
#include "relay/smtp/server.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::smtp;

class FuzzPolicy : public Policy {
public:
    std::optional<Reply> check_sender(const std::string&, const std::string& address) override {
        if (address.rfind("denied", 0) == 0) return make_reply(550, "5.7.1", "Sender not allowed");
        return std::nullopt;
    }
    std::optional<Reply> check_recipient(const std::string&, const std::string& address) override {
        if (address.rfind("denied", 0) == 0) return make_reply(550, "5.7.1", "Recipient refused");
        return std::nullopt;
    }
};

constexpr std::uint32_t kMaxRecipients = 5;
constexpr std::uint64_t kMaxSize = 300;  // small, so SIZE= and BDAT totals cross it

void check_step(const ServerProtocol& p, const Step& s) {
    for (const Reply& r : s.replies) {
        CHECK(r.code >= 200 && r.code <= 599);
        CHECK(!r.lines.empty());
        if (!r.enhanced.empty()) {
            CHECK(r.enhanced.size() >= 5 && r.enhanced[0] - '0' == r.code / 100 && r.enhanced[1] == '.');
        }
        const std::string w = r.wire();
        CHECK(w.size() >= 5 && w.ends_with("\r\n"));
        for (std::size_t i = 0; i < w.size(); ++i) {
            if (w[i] == '\r') CHECK(i + 1 < w.size() && w[i + 1] == '\n');
            if (w[i] == '\n') CHECK(i > 0 && w[i - 1] == '\r');
            CHECK(w[i] != '\0');
        }
        if (r.code == 421) CHECK(s.next == Next::close);
        if (r.code == 250 && r.lines.size() > 1 && !p.tls_active()) {  // EHLO keywords
            for (const std::string& l : r.lines) CHECK(l.rfind("AUTH", 0) != 0);
        }
    }
    if (s.next != Next::read_line && s.next != Next::read_bdat) CHECK(s.flush);
    if (p.authenticated()) CHECK(p.tls_active());
    const Envelope& e = p.envelope();
    if (!e.mail_from.empty() || !e.rcpt_to.empty()) CHECK(p.authenticated());
    CHECK(e.rcpt_to.size() <= kMaxRecipients);
    CHECK(p.max_line_length() == max_command_line || p.max_line_length() == max_sasl_line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0 || size > 256 * 1024) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    FuzzPolicy policy;
    ServerOptions o;
    o.hostname = "fuzz.example";
    o.tls_active = (data[0] & 1) != 0;
    o.max_message_size = kMaxSize;
    o.max_recipients = kMaxRecipients;
    ServerProtocol p(o, policy);
    check_step(p, p.greeting());

    std::size_t pos = 1;
    bool closed = false;
    while (pos < in.size() && !closed) {
        const std::size_t lf = in.find('\n', pos);
        std::string_view line = lf == std::string_view::npos ? in.substr(pos) : in.substr(pos, lf - pos);
        pos = lf == std::string_view::npos ? in.size() : lf + 1;
        bool bare_lf = false;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        } else {
            bare_lf = lf != std::string_view::npos;
        }
        Step s = line.size() + 2 > p.max_line_length() ? p.on_line_too_long() : p.on_line(line, bare_lf);
        // Carry out the Step, and the ones that follow from it, as the session would.
        while (true) {
            check_step(p, s);
            if (s.next == Next::read_line) break;
            if (s.next == Next::close) {
                closed = true;
                break;
            }
            if (s.next == Next::start_tls) {
                const bool fail = pos < in.size() && in[pos] == '!';
                s = fail ? p.on_tls_failed() : p.on_tls_started();
                if (!fail) CHECK(s.replies.empty() && p.tls_active() && !p.authenticated());
            } else if (s.next == Next::verify_password) {
                CHECK(!p.auth_user().empty() && !p.auth_password().empty());
                const bool ok = p.auth_user() == "good" && p.auth_password() == "pw";
                s = p.on_auth_result(ok);
                CHECK(p.auth_password().empty());
                CHECK(p.authenticated() == ok);
            } else if (s.next == Next::read_data) {
                DataReader reader(kMaxSize);
                std::string body;
                const auto r = reader.feed(in.substr(pos), body);
                CHECK(r.consumed <= in.size() - pos);
                pos += r.consumed;
                if (!r.done) {  // end of input inside the body
                    pos = in.size();
                    break;
                }
                MessageOutcome outcome{reader.error() == DataError::none ? make_reply(250, "2.0.0", "Ok: queued")
                                                                          : reply_for(reader.error())};
                s = p.on_message_end(outcome);
            } else if (s.next == Next::read_bdat) {
                const std::uint64_t want = p.bdat_size();
                if (want > in.size() - pos) {  // end of input inside the chunk
                    pos = in.size();
                    break;
                }
                pos += static_cast<std::size_t>(want);
                if (p.bdat_last() && !p.bdat_discard()) {
                    s = p.on_message_end({make_reply(250, "2.0.0", "Ok: queued")});
                } else {
                    s = p.on_bdat_chunk();
                }
            }
        }
    }
    if (!closed) {  // the client went quiet: the session's timer fires
        const Step t = p.on_timeout();
        check_step(p, t);
        CHECK(t.next == Next::close && t.replies.size() == 1 && t.replies[0].code == 421);
    }
    const Step after = p.on_line("NOOP");
    CHECK(after.replies.empty() && after.next == Next::close);
    return 0;
}
