// tests/fuzz/dkim/fuzz_dkim_key_record.cpp — libFuzzer target for the DKIM key record parser,
// parse_key_record (signer/key.hpp, RFC 6376 §3.6.1, RFC 8463 §4.2), with load_public_key and
// record_matches on what it returns. The input is the TXT record text (strings joined), as a
// key lookup hands it to the verifier: attacker-controlled DNS data.
// Covers: signer/key.cpp signer/tag_list.cpp signer/header.cpp signer/error.cpp
//
// Invariants:
//   - a record that is not a tag list is key_record_syntax; every error is a key_record_* value;
//   - a parsed record agrees with its tags: v= absent or first and exactly "DKIM1"; k= absent
//     (rsa) or rsa / ed25519 (any case); h= absent or lists sha256; s= absent or lists email or
//     "*"; t= flags y and s set testing and strict; p= present, revoked exactly when it holds no
//     base64 octet, else its decoded octets are the public key;
//   - the record rewritten in canonical form ("v=DKIM1; k=...; t=...; p=<base64>") parses to
//     the same record;
//   - an ed25519 key of 32 octets always loads (256 bits), any other length never does; a loaded
//     key has the record's type; a revoked record never loads;
//   - record_matches() against the RFC 8463 Appendix A keys is true exactly for those keys'
//     published public keys.
// Seeds: corpus/fuzz_dkim_key_record/ (RFC 8463 Appendix A.2 records, RFC 6376 §3.6.1 tags and
// the dkim-corpus test records, plus each error, see corpus/README).
#include <botan/base64.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "signer/header.hpp"
#include "signer/key.hpp"
#include "signer/tag_list.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::signer;

// RFC 8463 Appendix A.1: the Ed25519 seed (RFC 8032 §7.1 TEST 1) and the 1024-bit RSA key.
constexpr std::string_view kEd25519Seed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
constexpr std::string_view kRsaPem =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIICXQIBAAKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi\n"
    "Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqM\n"
    "KrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\n"
    "AoGAH0cxOhFZDgzXWhDhnAJDw5s4roOXN4OhjiXa8W7Y3rhX3FJqmJSPuC8N9vQm\n"
    "6SVbaLAE4SG5mLMueHlh4KXffEpuLEiNp9Ss3O4YfLiQpbRqE7Tm5SxKjvvQoZZe\n"
    "zHorimOaChRL2it47iuWxzxSiRMv4c+j70GiWdxXnxe4UoECQQDzJB/0U58W7RZy\n"
    "6enGVj2kWF732CoWFZWzi1FicudrBFoy63QwcowpoCazKtvZGMNlPWnC7x/6o8Gc\n"
    "uSe0ga2xAkEA8C7PipPm1/1fTRQvj1o/dDmZp243044ZNyxjg+/OPN0oWCbXIGxy\n"
    "WvmZbXriOWoSALJTjExEgraHEgnXssuk7QJBALl5ICsYMu6hMxO73gnfNayNgPxd\n"
    "WFV6Z7ULnKyV7HSVYF0hgYOHjeYe9gaMtiJYoo0zGN+L3AAtNP9huqkWlzECQE1a\n"
    "licIeVlo1e+qJ6Mgqr0Q7Aa7falZ448ccbSFYEPD6oFxiOl9Y9se9iYHZKKfIcst\n"
    "o7DUw1/hz2Ck4N5JrgUCQQCyKveNvjzkkd8HjYs0SwM0fPjK16//5qDZ2UiDGnOe\n"
    "uEzxBDAr518Z8VFbR41in3W4Y3yCDgQlLlcETrS+zYcL\n"
    "-----END RSA PRIVATE KEY-----\n";

struct Keys {
    PrivateKey ed;
    PrivateKey rsa;
    std::vector<std::uint8_t> ed_public;   // the p= octets of each
    std::vector<std::uint8_t> rsa_public;
};

// Loaded once and never freed: key.hpp forbids keys with static storage duration (Botan's
// secure-memory pool could be gone first at exit).
const Keys& keys() {
    static const Keys* k = [] {
        auto ed = load_ed25519_seed(kEd25519Seed);
        auto rsa = load_private_key_pem(kRsaPem);
        CHECK(ed && rsa);
        auto ed_pub = decode_base64(ed->public_key_base64());
        auto rsa_pub = decode_base64(rsa->public_key_base64());
        CHECK(ed_pub && rsa_pub);
        return new Keys{*ed, *rsa, *ed_pub, *rsa_pub};
    }();
    return *k;
}

// The ":"-separated items of a list tag (h=, s=, t=), FWS around each removed.
std::vector<std::string_view> items(std::string_view v) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    while (true) {
        const auto colon = v.find(':', pos);
        out.push_back(trim_fws(v.substr(pos, colon == std::string_view::npos ? v.npos : colon - pos)));
        if (colon == std::string_view::npos) return out;
        pos = colon + 1;
    }
}

bool lists(std::string_view v, std::string_view item, bool case_insensitive) {
    for (std::string_view i : items(v)) {
        if (case_insensitive ? header_name_equals(i, item) : i == item) return true;
    }
    return false;
}

void check_record(const KeyRecord& r, const std::vector<Tag>& tags) {
    for (std::size_t i = 0; i < tags.size(); ++i) {
        if (tags[i].name == "v") CHECK(i == 0 && tags[i].value == "DKIM1");
    }
    const auto k = find_tag(tags, "k");
    CHECK(r.type == (k && header_name_equals(*k, "ed25519") ? KeyType::ed25519 : KeyType::rsa));
    if (k) CHECK(header_name_equals(*k, "rsa") || header_name_equals(*k, "ed25519"));
    if (const auto h = find_tag(tags, "h")) CHECK(lists(*h, "sha256", true));
    if (const auto s = find_tag(tags, "s")) CHECK(lists(*s, "email", true) || lists(*s, "*", false));
    const auto t = find_tag(tags, "t");
    CHECK(r.testing == (t && lists(*t, "y", false)));
    CHECK(r.strict == (t && lists(*t, "s", false)));
    const auto p = find_tag(tags, "p");
    CHECK(p.has_value());
    CHECK(r.revoked() == remove_fws(*p).empty());
    if (!r.revoked()) CHECK(decode_base64(*p) == r.public_key);

    // The same record in canonical form.
    std::string text = "v=DKIM1; k=" + std::string(to_string(r.type)) + ";";
    if (r.testing || r.strict) {
        text += std::string(" t=") + (r.testing ? "y" : "") + (r.testing && r.strict ? ":" : "") +
                (r.strict ? "s" : "") + ";";
    }
    text += " p=" + Botan::base64_encode(r.public_key.data(), r.public_key.size());
    const auto again = parse_key_record(text);
    CHECK(again && again->type == r.type && again->public_key == r.public_key && again->testing == r.testing &&
          again->strict == r.strict);

    const auto pub = load_public_key(r);
    if (r.revoked()) {
        CHECK(!pub && pub.error() == Errc::key_record_bad_key);
        return;
    }
    if (r.type == KeyType::ed25519) {
        CHECK(pub.has_value() == (r.public_key.size() == 32));
        if (pub) CHECK(pub->type() == KeyType::ed25519 && pub->bits() == 256);
    } else if (pub) {
        CHECK(pub->type() == KeyType::rsa && pub->bits() > 0);
    } else {
        CHECK(pub.error() == Errc::key_record_bad_key);
    }
    const Keys& known = keys();
    CHECK(record_matches(r, known.ed) == (r.type == KeyType::ed25519 && r.public_key == known.ed_public));
    // RSA: the SubjectPublicKeyInfo as published, or (leniently loaded) the same key in other DER.
    if (r.type == KeyType::rsa && r.public_key == known.rsa_public) CHECK(record_matches(r, known.rsa));
    if (record_matches(r, known.rsa)) CHECK(r.type == KeyType::rsa && pub && pub->bits() == 1024);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 8192) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const auto r = parse_key_record(in);
    const auto tags = parse_tag_list(in);
    if (!tags) {
        CHECK(!r && r.error() == Errc::key_record_syntax);
        return 0;
    }
    if (!r) {
        const auto e = r.error();
        CHECK(e == Errc::key_record_syntax || e == Errc::key_record_version || e == Errc::key_record_no_key ||
              e == Errc::key_record_bad_key || e == Errc::key_record_type_unsupported ||
              e == Errc::key_record_hash_unsupported || e == Errc::key_record_service_unsupported);
        if (e == Errc::key_record_no_key) CHECK(!find_tag(*tags, "p"));
        if (e == Errc::key_record_bad_key) {
            const auto p = decode_base64(*find_tag(*tags, "p"));
            CHECK(!p || p->empty());
        }
        return 0;
    }
    check_record(*r, *tags);
    return 0;
}
