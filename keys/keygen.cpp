// keys/keygen.cpp — key generation and atomic file writes (see keygen.hpp).
#include "keys/keygen.hpp"

#include "signer/key.hpp"

#include <botan/auto_rng.h>
#include <stdexcept>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace signpost::keys {
namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

std::error_code fsync_directory(const std::filesystem::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return last_error();
    std::error_code ec;
    if (::fsync(fd) != 0) ec = last_error();
    ::close(fd);
    return ec;
}

}  // namespace

std::string generate_private_key_pem(config::DkimAlgorithm algorithm) {
    Botan::AutoSeeded_RNG rng;
    auto key = algorithm == config::DkimAlgorithm::ed25519
                   ? signer::generate_ed25519_key(rng)
                   : signer::generate_rsa_key(rng, algorithm == config::DkimAlgorithm::rsa2048   ? 2048
                                                   : algorithm == config::DkimAlgorithm::rsa3072 ? 3072
                                                                                                  : 4096);
    if (!key) throw std::runtime_error("key generation failed: " + key.error().message());
    auto pem = key->to_pem();
    if (!pem) throw std::runtime_error("key encoding failed: " + pem.error().message());
    return *pem;
}

std::error_code write_file_atomic(const std::filesystem::path& path, std::string_view data,
                                  unsigned mode) {
    std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
    // Appended, not `"." + string`: GCC 12 -O3 reports a false -Wrestrict there (bug 105651).
    std::string tmp_name = ".";
    tmp_name += path.filename().string();
    tmp_name += ".tmp";
    std::filesystem::path tmp = dir / tmp_name;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return last_error();
    std::error_code ec;
    // open() applies the umask; set the exact mode the caller asked for.
    if (::fchmod(fd, mode) != 0) ec = last_error();
    std::size_t done = 0;
    while (!ec && done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            ec = last_error();
        } else {
            done += static_cast<std::size_t>(n);
        }
    }
    if (!ec && ::fsync(fd) != 0) ec = last_error();
    if (::close(fd) != 0 && !ec) ec = last_error();
    if (!ec && ::rename(tmp.c_str(), path.c_str()) != 0) ec = last_error();
    if (ec) {
        ::unlink(tmp.c_str());
        return ec;
    }
    return fsync_directory(dir);
}

}  // namespace signpost::keys
