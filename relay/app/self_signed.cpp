// relay/app/self_signed.cpp — self-signed certificates (see self_signed.hpp).
#include "relay/app/self_signed.hpp"

#include <algorithm>
#include <memory>
#include <ostream>
#include <tuple>

#include <botan/auto_rng.h>
#include <botan/data_src.h>
#include <botan/pkcs8.h>
#include <botan/rsa.h>
#include <botan/pkix_types.h>
#include <botan/x509cert.h>
#include <botan/x509self.h>

#include "keys/keygen.hpp"

namespace signpost::app {
namespace fs = std::filesystem;

CertificatePem make_self_signed(const SelfSignedRequest& request) {
    Botan::AutoSeeded_RNG rng;
    Botan::RSA_PrivateKey key(rng, 2048);
    Botan::X509_Cert_Options opts;
    opts.common_name = request.common_name;
    opts.organization = "Signpost (self-signed)";
    if (!request.dns_names.empty()) {
        opts.dns = request.dns_names.front();
        opts.more_dns.assign(request.dns_names.begin() + 1, request.dns_names.end());
    }
    // Botan's options hold one IP address; the development certificate needs only one.
    if (!request.ips.empty()) opts.ip = request.ips.front();
    const auto now = std::chrono::system_clock::now();
    // Backdated an hour so a client whose clock is a little behind accepts it.
    opts.start = Botan::X509_Time(now - std::chrono::hours(1));
    opts.end = Botan::X509_Time(now + request.validity);
    opts.add_ex_constraint("PKIX.ServerAuth");
    auto cert = Botan::X509::create_self_signed_cert(opts, key, "SHA-256", rng);
    return {cert.PEM_encode(), Botan::PKCS8::PEM_encode(key)};
}

bool self_signed_reusable(const fs::path& cert_path, const fs::path& key_path,
                          const std::string& hostname, std::string& why) {
    std::error_code ec;
    if (!fs::exists(cert_path, ec) || !fs::exists(key_path, ec)) {
        why = "no certificate yet";
        return false;
    }
    try {
        Botan::X509_Certificate cert(cert_path.string());
        auto names = cert.subject_alt_name().get_attribute("DNS");
        if (std::find(names.begin(), names.end(), hostname) == names.end()) {
            why = "the certificate does not name " + hostname;
            return false;
        }
        if (cert.not_after().to_std_timepoint() <
            std::chrono::system_clock::now() + std::chrono::hours(24 * 30)) {
            why = "the certificate expires within 30 days";
            return false;
        }
        Botan::DataSource_Stream source(key_path.string());
        auto key = Botan::PKCS8::load_key(source);
        std::unique_ptr<Botan::Public_Key> cert_key(cert.subject_public_key());
        if (!key || !cert_key || key->public_key_bits() != cert_key->public_key_bits()) {
            why = "the key does not belong to the certificate";
            return false;
        }
    } catch (const std::exception& e) {
        why = std::string("unreadable: ") + e.what();
        return false;
    }
    return true;
}

int init_self_signed(const std::string& hostname, const fs::path& cert_path,
                     const fs::path& key_path, std::ostream& out, std::ostream& err) {
    std::string why;
    if (self_signed_reusable(cert_path, key_path, hostname, why)) {
        out << "kept the self-signed certificate for " << hostname << ": " << cert_path.string()
            << "\n";
        return 0;
    }
    SelfSignedRequest request;
    request.common_name = hostname;
    request.dns_names = {hostname};
    request.validity = std::chrono::hours(24 * 3650);
    CertificatePem pem;
    try {
        pem = make_self_signed(request);
    } catch (const std::exception& e) {
        err << "signpost: cannot make a certificate for " << hostname << ": " << e.what() << "\n";
        return 1;
    }
    // The key first: a certificate without its key is never left behind as "reusable".
    for (const auto& [path, data, mode] :
         {std::tuple{key_path, pem.key_pem, 0600u}, std::tuple{cert_path, pem.cert_pem, 0644u}}) {
        std::error_code dir_ec;
        if (path.has_parent_path()) fs::create_directories(path.parent_path(), dir_ec);
        if (auto ec = keys::write_file_atomic(path, data, mode)) {
            err << "signpost: cannot write " << path.string() << ": " << ec.message() << "\n";
            return 1;
        }
    }
    out << "made a self-signed certificate for " << hostname << " (" << why << "): "
        << cert_path.string() << "\n";
    return 0;
}

}  // namespace signpost::app
