// relay/inbound/dnsbl.cpp — DNSBL query names and answers (see dnsbl.hpp).
#include "relay/inbound/dnsbl.hpp"

namespace signpost::inbound {

std::string dnsbl_name(const boost::asio::ip::address& client, const std::string& zone) {
    std::string name;
    if (client.is_v4() || (client.is_v6() && client.to_v6().is_v4_mapped())) {
        const auto v4 = client.is_v4() ? client.to_v4()
                                       : boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, client.to_v6());
        const auto b = v4.to_bytes();
        for (int i = 3; i >= 0; --i) name += std::to_string(b[static_cast<std::size_t>(i)]) + ".";
    } else {
        const auto b = client.to_v6().to_bytes();
        static const char hex[] = "0123456789abcdef";
        for (int i = 15; i >= 0; --i) {
            name += hex[b[static_cast<std::size_t>(i)] & 0x0f];
            name += '.';
            name += hex[b[static_cast<std::size_t>(i)] >> 4];
            name += '.';
        }
    }
    return name + zone;
}

bool dnsbl_listed(const dns::AddressAnswer& answer) {
    if (answer.status != dns::Status::ok) return false;
    for (const auto& a : answer.addresses) {
        if (!a.is_v4()) continue;
        const auto b = a.to_v4().to_bytes();
        if (b[0] != 127) continue;
        if (b[1] == 255 && b[2] == 255) continue;           // an error code, not a listing
        if (b[1] == 0 && b[2] == 0 && b[3] == 1) continue;  // never a listing
        return true;
    }
    return false;
}

}  // namespace signpost::inbound
