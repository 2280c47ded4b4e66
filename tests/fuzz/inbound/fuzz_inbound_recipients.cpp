// tests/fuzz/inbound/fuzz_inbound_recipients.cpp — libFuzzer target for
// relay/inbound/recipients: a recipients_file's text and the RCPT addresses checked
// against it.
// Covers: relay/inbound/recipients.cpp
//
// Input: the first line is an RCPT address; the rest is the text of a recipients_file for
// the [[inbound]] domain "home.example" (whose recipients list also has "alice").
// Invariants:
//   - add_file_text() answers "" or "N: ..." naming a line that exists;
//   - an address whose domain is not home.example (any case) is foreign_domain, and one at
//     home.example is never foreign_domain;
//   - the verdict does not depend on ASCII case, and domain_of() of an address at
//     home.example is "home.example";
//   - "alice@home.example" stays accepted whatever the file adds;
//   - sub-addressing: when "L@home.example" (L without '+') is accepted, so is
//     "L+tag@home.example";
//   - ASan/UBSan: no memory error whatever the bytes.
// Seeds: corpus/fuzz_inbound_recipients/ — files as README "Receive mail for your domain
// too" describes them (comments, local parts, whole addresses) and common mistakes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.hpp"
#include "relay/inbound/recipients.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost;
using inbound::RecipientVerdict;

std::string upper(std::string s) {
    for (char& c : s)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    const auto nl = input.find('\n');
    const std::string address = input.substr(0, nl);
    const std::string file = nl == std::string::npos ? std::string() : input.substr(nl + 1);

    std::vector<config::InboundConfig> entries(1);
    entries[0].domain = "home.example";
    entries[0].recipients = {"alice"};
    inbound::RecipientDirectory dir(entries);
    const std::string problem = dir.add_file_text("home.example", file);
    if (!problem.empty()) {
        char* end = nullptr;
        const long line = std::strtol(problem.c_str(), &end, 10);
        CHECK(end && *end == ':');
        CHECK(line >= 1 && line <= 1 + static_cast<long>(std::count(file.begin(), file.end(), '\n')));
    }

    CHECK(dir.check("alice@home.example") == RecipientVerdict::accepted);
    const RecipientVerdict v = dir.check(address);
    const auto at = address.rfind('@');
    std::string domain = at == std::string::npos ? std::string() : address.substr(at + 1);
    for (char& c : domain)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (domain != "home.example") {
        CHECK(v == RecipientVerdict::foreign_domain);
        CHECK(dir.domain_of(address).empty());
        return 0;
    }
    CHECK(v != RecipientVerdict::foreign_domain);
    CHECK(dir.domain_of(address) == "home.example");
    CHECK(dir.check(upper(address)) == v);
    const std::string local = address.substr(0, at);
    if (v == RecipientVerdict::accepted && !local.empty() && local.find('+') == std::string::npos)
        CHECK(dir.check(local + "+tag@home.example") == RecipientVerdict::accepted);
    return 0;
}
