// relay/smtp/error.cpp — the "signpost.smtp" boost::system error category.
#include "relay/smtp/error.hpp"

#include <string>

namespace signpost::smtp {
namespace {

// boost::system::error_category has a protected non-virtual destructor by design (categories
// are never deleted through a base pointer); GCC's -Wnon-virtual-dtor flags it anyway.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class Category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "signpost.smtp"; }

    std::string message(int ev) const override {
        switch (static_cast<Errc>(ev)) {
        case Errc::argument_syntax: return "syntax error in the command's argument";
        case Errc::path_not_bracketed: return "address must be enclosed in <>";
        case Errc::path_syntax: return "address syntax error";
        case Errc::path_too_long: return "address longer than 256 octets";
        case Errc::local_part_too_long: return "local part longer than 64 octets";
        case Errc::domain_too_long: return "domain longer than 255 octets or a label longer than 63";
        case Errc::address_literal_syntax: return "invalid address literal";
        case Errc::null_path_not_allowed: return "null address not allowed here";
        case Errc::bad_utf8: return "address is not valid UTF-8";
        case Errc::param_syntax: return "parameter syntax error";
        case Errc::param_duplicate: return "parameter given twice";
        case Errc::param_value: return "invalid parameter value";
        case Errc::param_unsupported: return "unsupported parameter";
        case Errc::chunk_size_syntax: return "invalid BDAT chunk size";
        case Errc::bdat_syntax: return "syntax error in BDAT arguments";
        case Errc::base64_invalid: return "cannot decode base64";
        case Errc::sasl_plain_malformed: return "malformed PLAIN response";
        case Errc::sasl_authzid_mismatch: return "authorization identity differs from authentication identity";
        }
        return "unknown smtp error " + std::to_string(ev);
    }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& error_category() noexcept {
    static const Category category;
    return category;
}

boost::system::error_code make_error_code(Errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

}  // namespace signpost::smtp
