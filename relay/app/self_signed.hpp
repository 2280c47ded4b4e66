// relay/app/self_signed.hpp — self-signed TLS certificates for the submission listeners.
//
// `signpost init --dev` makes one for localhost/127.0.0.1; `signpost init --self-signed`
// (the container's entrypoint, when no certificate is mounted) makes one for the relay's
// host name, so neither needs the openssl command. A self-signed certificate only
// encrypts: clients must trust it explicitly or skip verification.
//
// The key is RSA-2048: every TLS client a NAS or an appliance may run accepts it, which
// is not true of ECDSA in some embedded TLS stacks. Validity: 10 years for the host-name
// certificate (it is replaced when the host name changes, not on a schedule), 1 year for
// the development one. Botan makes both.
//
// Untrusted input: the existing certificate and key files, when checked for reuse (read
// with Botan; anything unreadable means "make a new one"). Threading: reentrant; RSA key
// generation takes ~0.1-1 s of CPU.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace signpost::app {

struct SelfSignedRequest {
    std::string common_name;
    std::vector<std::string> dns_names;  // subjectAltName dNSName entries
    std::vector<std::string> ips;        // subjectAltName iPAddress entries (IPv4)
    std::chrono::hours validity{24 * 365};
};

struct CertificatePem {
    std::string cert_pem;
    std::string key_pem;  // PKCS#8
};

CertificatePem make_self_signed(const SelfSignedRequest& request);

// Whether `cert_path` and `key_path` hold a readable certificate whose subjectAltName
// names `hostname` as a dNSName, whose key is the certificate's, and which is valid for
// at least another 30 days. `why` says what is wrong when it is not reusable.
bool self_signed_reusable(const std::filesystem::path& cert_path,
                          const std::filesystem::path& key_path, const std::string& hostname,
                          std::string& why);

// `signpost init --self-signed`: keeps a reusable pair, or writes a new one (key 0600,
// certificate 0644, each atomically). Returns the exit code; says which on `out`.
int init_self_signed(const std::string& hostname, const std::filesystem::path& cert_path,
                     const std::filesystem::path& key_path, std::ostream& out, std::ostream& err);

}  // namespace signpost::app
