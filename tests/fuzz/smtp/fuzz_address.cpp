// tests/fuzz/smtp/fuzz_address.cpp — libFuzzer target for the MAIL/RCPT argument, path,
// parameter, BDAT and SASL parsers (relay/smtp/command.hpp, relay/smtp/sasl.hpp).
//
// Invariants: a parsed path fits the RFC 5321 limits, is flagged non_ascii exactly when its
// text holds 8-bit octets, and "<" + mailbox + ">" parses again to the same mailbox; a split
// argument's path and parameters lie inside the input; base64 encode/decode round-trips;
// parse_plain's user and password are non-empty, NUL-free and at most 255 octets.
// Covers: relay/smtp/command.cpp relay/smtp/sasl.cpp
// Seeds: corpus/address/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "relay/smtp/command.hpp"
#include "relay/smtp/sasl.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::smtp;

void check_path(std::string_view text, PathKind kind) {
    const auto a = parse_path(text, kind);
    if (!a) return;
    CHECK(text.size() <= 256);
    CHECK(a->mailbox.size() + 2 <= text.size());
    // non_ascii covers the whole path (a dropped source route too); the mailbox can only
    // hold 8-bit octets when it is set.
    bool eight_bit_text = false, eight_bit_mailbox = false;
    for (char c : text) eight_bit_text |= static_cast<unsigned char>(c) >= 0x80;
    for (char c : a->mailbox) eight_bit_mailbox |= static_cast<unsigned char>(c) >= 0x80;
    CHECK(eight_bit_text == a->non_ascii);
    if (eight_bit_mailbox) CHECK(a->non_ascii);
    CHECK(valid_utf8(a->mailbox));
    if (a->is_null()) {
        CHECK(kind == PathKind::reverse);
        return;
    }
    CHECK(a->local_part.size() <= 64 && a->domain.size() <= 255);
    const auto again = parse_path("<" + a->mailbox + ">", kind);
    CHECK(again && again->mailbox == a->mailbox);
}

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 4096) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data), size);

    check_path(in, PathKind::reverse);
    check_path(in, PathKind::forward);

    for (std::string_view prefix : {"FROM:", "TO:"}) {
        const auto s = split_path_argument(in, prefix);
        if (!s) continue;
        CHECK(inside(s->path, in) && inside(s->parameters, in));
        CHECK(s->path.size() >= 2 && s->path.front() == '<' && s->path.back() == '>');
        check_path(s->path, PathKind::reverse);
        if (const auto m = parse_mail_parameters(s->parameters)) {
            CHECK(!m->auth || !m->auth->empty());
        }
        (void)parse_rcpt_parameters(s->parameters);
    }

    const CommandLine c = split_command(in);
    CHECK(inside(c.verb_text, in) && inside(c.argument, in));
    if (const auto b = parse_bdat(c.argument)) CHECK(*parse_chunk_size(c.argument) == b->size);

    const auto decoded = decode_base64(in);
    if (decoded) {
        CHECK(decoded->size() == in.size() / 4 * 3 - (in.ends_with("==") ? 2 : in.ends_with("=") ? 1 : 0));
    }
    CHECK(decode_base64(encode_base64(in)).value() == in);
    if (const auto creds = parse_plain(in)) {
        for (const std::string* f : {&creds->user, &creds->password}) {
            CHECK(!f->empty() && f->size() <= max_sasl_field && f->find('\0') == std::string::npos);
        }
    }
    return 0;
}
