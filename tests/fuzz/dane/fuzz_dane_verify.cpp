// tests/fuzz/dane/fuzz_dane_verify.cpp — libFuzzer target for relay/dane: usability(),
// usable_records(), to_text(), matches() and verify() over any TLSA records and any
// certificate bytes a server or a DNS answer could present.
// Covers: relay/dane/dane.cpp
//
// Input: octet 0 = number of TLSA records (mod 5); each record is usage, selector,
// matching type, a length octet and that many data octets; then certificates, each a
// 2-octet big-endian length and that many octets (at most 4), leaf first. Input that ends
// early ends the list. The time is fixed (2030-01-01) and the names are "mx.dane.test" and
// "other.dane.test".
// Invariants:
//   - usability() agrees with an independent reading of RFC 7672 §3.1 / RFC 7671 §5
//     (usage 2 or 3, selector 0 or 1, matching 0..2 with 32/64-octet digests, non-empty Full);
//   - usable_records() returns only usable records, in input order, and of each (usage,
//     selector) never a SHA2-256 record when a usable SHA2-512 one is present (RFC 7671 §9);
//   - to_text() starts with "<usage> <selector> <matching> ";
//   - verify(): no chain -> no_certificate; a success names a usable DANE-TA/EE record in
//     range; a DANE-EE success is at depth 0 and matches(record, leaf) holds; a failure
//     other than no_match/no_certificate names the DANE-TA record that matched;
//   - ASan/UBSan: no memory error and no leak whatever the bytes (OpenSSL parses them).
// Seeds: corpus/fuzz_dane_verify/ — the chain of tests/data/dane with 3 1 1, 2 0 1 and
// 2 0 0 records of it, a PKIX-only set, a truncated leaf, and a wrong digest.
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "relay/dane/dane.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost;

bool independently_usable(const dns::TlsaRecord& r) {
    if (r.usage != 2 && r.usage != 3) return false;
    if (r.selector > 1) return false;
    if (r.matching == 0) return !r.data.empty();
    if (r.matching == 1) return r.data.size() == 32;
    if (r.matching == 2) return r.data.size() == 64;
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::size_t pos = 0;
    auto left = [&] { return size - pos; };
    if (left() < 1) return 0;
    const std::size_t n = data[pos++] % 5;
    std::vector<dns::TlsaRecord> records;
    for (std::size_t i = 0; i < n && left() >= 4; ++i) {
        dns::TlsaRecord r;
        r.usage = data[pos];
        r.selector = data[pos + 1];
        r.matching = data[pos + 2];
        std::size_t len = data[pos + 3];
        pos += 4;
        if (len > left()) len = left();
        r.data.assign(data + pos, data + pos + len);
        pos += len;
        records.push_back(std::move(r));
    }
    std::vector<std::string> chain;
    while (chain.size() < 4 && left() >= 2) {
        std::size_t len = static_cast<std::size_t>(data[pos]) << 8 | data[pos + 1];
        pos += 2;
        if (len > left()) len = left();
        chain.emplace_back(reinterpret_cast<const char*>(data + pos), len);
        pos += len;
    }

    for (const auto& r : records) {
        CHECK((dane::usability(r) == dane::Usability::usable) == independently_usable(r));
        const std::string text = dane::to_text(r);
        const std::string head = std::to_string(r.usage) + " " + std::to_string(r.selector) + " " + std::to_string(r.matching) + " ";
        CHECK(text.compare(0, head.size(), head) == 0);
    }
    const auto usable = dane::usable_records(records);
    std::size_t from = 0;
    for (const auto& u : usable) {
        CHECK(independently_usable(u));
        while (from < records.size() && !(records[from].usage == u.usage && records[from].selector == u.selector &&
                                          records[from].matching == u.matching && records[from].data == u.data))
            ++from;
        CHECK(from < records.size());  // in input order
        ++from;
        if (u.matching == 1)
            for (const auto& other : usable) CHECK(!(other.usage == u.usage && other.selector == u.selector && other.matching == 2));
    }

    const std::time_t now = 1893456000;  // 2030-01-01
    const auto v = dane::verify(chain, usable, {"mx.dane.test", "other.dane.test"}, now);
    CHECK(!v.detail.empty());
    if (chain.empty()) CHECK(v.failure == dane::Failure::no_certificate);
    if (v.ok()) {
        CHECK(v.matched && *v.matched < usable.size());
        const auto& m = usable[*v.matched];
        CHECK(m.usage == 2 || m.usage == 3);
        if (m.usage == 3) {
            CHECK(v.depth == 0);
            CHECK(dane::matches(m, chain.front()));
        }
    } else if (v.failure != dane::Failure::no_match && v.failure != dane::Failure::no_certificate) {
        CHECK(v.matched && *v.matched < usable.size() && usable[*v.matched].usage == 2);
    }
    return 0;
}
