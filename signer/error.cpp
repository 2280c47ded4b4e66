// signer/error.cpp — the "signpost.signer" boost::system error category.
#include "signer/error.hpp"

#include <string>

namespace signpost::signer {
namespace {

// boost::system::error_category has a protected non-virtual destructor by design (categories
// are never deleted through a base pointer); GCC's -Wnon-virtual-dtor flags it anyway.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class Category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "signpost.signer"; }

    std::string message(int ev) const override {
        switch (static_cast<Errc>(ev)) {
        case Errc::header_no_colon: return "header line has no colon and is not a continuation";
        case Errc::header_nul: return "header section contains a NUL octet";
        case Errc::header_bad_name: return "header field name is empty or has invalid octets";
        case Errc::header_line_too_long: return "header line longer than 998 octets";
        case Errc::header_bare_line_ending: return "bare CR or LF in the header section";
        case Errc::header_leading_continuation:
            return "header section starts with a continuation line";
        case Errc::header_unterminated: return "header section does not end with CRLF";
        case Errc::header_missing_from: return "message has no From header field";
        case Errc::bad_domain: return "signing domain (d=) is not a valid domain name";
        case Errc::bad_selector: return "selector (s=) is not a valid selector";
        case Errc::bad_header_selection:
            return "header selection has an invalid name or does not include From";
        case Errc::bad_expiry: return "signature expiry must be positive";
        case Errc::bad_time: return "signing time is before the epoch";
        case Errc::no_keys: return "no signing keys given";
        case Errc::body_hash_missing: return "no body hash for the requested body canonicalization";
        case Errc::signature_header_invalid: return "invalid DKIM-Signature header text";
        case Errc::pem_corrupt: return "private key PEM/DER is corrupt";
        case Errc::key_encrypted: return "private key is encrypted";
        case Errc::key_type_unsupported: return "key type is neither RSA nor Ed25519";
        case Errc::key_too_small:
            return "RSA key too small (signing needs 2048 bits or more, loading 1024)";
        case Errc::key_too_large: return "RSA key larger than 4096 bits";
        case Errc::bad_ed25519_seed: return "Ed25519 seed is not base64 of 32 octets";
        case Errc::algorithm_mismatch: return "signature algorithm does not match the key type";
        case Errc::crypto_failure: return "cryptographic operation failed";
        case Errc::tag_list_syntax: return "tag list syntax error";
        case Errc::tag_duplicate: return "duplicate tag in tag list";
        case Errc::key_record_syntax: return "key record syntax error";
        case Errc::key_record_version: return "key record version is not DKIM1";
        case Errc::key_record_no_key: return "key record has no p= tag";
        case Errc::key_record_bad_key: return "key record p= is not a valid key of type k=";
        case Errc::key_record_type_unsupported: return "key record k= type is not supported";
        case Errc::key_record_hash_unsupported: return "key record h= does not allow sha256";
        case Errc::key_record_service_unsupported: return "key record s= does not include email";
        }
        return "unknown signer error " + std::to_string(ev);
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

}  // namespace signpost::signer
