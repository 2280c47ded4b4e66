// relay/dns/rdata.cpp — RDATA decoding for the resolver (see rdata.hpp).
#include "relay/dns/rdata.hpp"

#include <array>
#include <cstdint>

namespace signpost::dns {
namespace {

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class Category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "signpost.dns"; }

    std::string message(int ev) const override {
        switch (static_cast<Errc>(ev)) {
        case Errc::truncated: return "record data ends too soon";
        case Errc::trailing_data: return "extra octets after the record data";
        case Errc::bad_length: return "wrong record data length";
        case Errc::label_type: return "compressed or extended label in record data";
        case Errc::name_too_long: return "name longer than 255 octets";
        }
        return "unknown dns error " + std::to_string(ev);
    }
};
#pragma GCC diagnostic pop

constexpr std::size_t kMaxWireName = 255;  // RFC 1035 §3.1, counting length octets

std::uint8_t octet(std::string_view s, std::size_t i) { return static_cast<std::uint8_t>(s[i]); }

// RFC 1035 §5.1 presentation of one label octet, lower-cased (RFC 4343 §3.2: ASCII only).
void append_label_octet(std::string& out, std::uint8_t c) {
    if (c >= 'A' && c <= 'Z') {
        out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else if (c == '.' || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
    } else if (c <= 0x20 || c >= 0x7f) {
        out.push_back('\\');
        out.push_back(static_cast<char>('0' + c / 100));
        out.push_back(static_cast<char>('0' + c / 10 % 10));
        out.push_back(static_cast<char>('0' + c % 10));
    } else {
        out.push_back(static_cast<char>(c));
    }
}

}  // namespace

const boost::system::error_category& error_category() noexcept {
    static const Category category;
    return category;
}

boost::system::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), error_category()}; }

Result<std::string> parse_name(std::string_view& in) {
    std::string out;
    std::size_t pos = 0;
    for (;;) {
        if (pos >= in.size()) return Errc::truncated;
        const std::uint8_t len = octet(in, pos);
        if (len == 0) {
            ++pos;
            break;
        }
        if ((len & 0xC0) != 0) return Errc::label_type;
        if (pos + 1 + len > kMaxWireName - 1) return Errc::name_too_long;  // + the root octet
        if (pos + 1 + len > in.size()) return Errc::truncated;
        if (!out.empty()) out.push_back('.');
        for (std::size_t i = 0; i < len; ++i) append_label_octet(out, octet(in, pos + 1 + i));
        pos += 1 + len;
    }
    in.remove_prefix(pos);
    return out;
}

Result<MxRecord> parse_mx(std::string_view rdata) {
    if (rdata.size() < 2) return Errc::truncated;
    MxRecord mx;
    mx.preference = static_cast<std::uint16_t>(octet(rdata, 0) << 8 | octet(rdata, 1));
    rdata.remove_prefix(2);
    auto host = parse_name(rdata);
    if (!host) return host.error();
    if (!rdata.empty()) return Errc::trailing_data;
    mx.host = std::move(*host);
    return mx;
}

Result<std::string> parse_ptr(std::string_view rdata) {
    auto name = parse_name(rdata);
    if (!name) return name.error();
    if (!rdata.empty()) return Errc::trailing_data;
    return std::move(*name);
}

Result<boost::asio::ip::address_v4> parse_a(std::string_view rdata) {
    if (rdata.size() != 4) return Errc::bad_length;
    boost::asio::ip::address_v4::bytes_type b;
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = octet(rdata, i);
    return boost::asio::ip::address_v4(b);
}

Result<boost::asio::ip::address_v6> parse_aaaa(std::string_view rdata) {
    if (rdata.size() != 16) return Errc::bad_length;
    boost::asio::ip::address_v6::bytes_type b;
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = octet(rdata, i);
    return boost::asio::ip::address_v6(b);
}

Result<std::string> parse_txt(std::string_view rdata) {
    if (rdata.empty()) return Errc::truncated;
    std::string out;
    while (!rdata.empty()) {
        const std::size_t len = octet(rdata, 0);
        if (rdata.size() < 1 + len) return Errc::truncated;
        out.append(rdata.substr(1, len));
        rdata.remove_prefix(1 + len);
    }
    return out;
}

Result<TlsaRecord> parse_tlsa(std::string_view rdata) {
    if (rdata.size() < 3) return Errc::truncated;
    TlsaRecord r;
    r.usage = octet(rdata, 0);
    r.selector = octet(rdata, 1);
    r.matching = octet(rdata, 2);
    r.data.assign(rdata.begin() + 3, rdata.end());
    return r;
}

}  // namespace signpost::dns
