// Unit tests for keys/keygen: generated keys load back with the right type and size, and
// key files are written with the exact mode asked for.
#include <gtest/gtest.h>

#include <botan/data_src.h>
#include <botan/pkcs8.h>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>

#include "keys/keygen.hpp"

using namespace signpost;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<Botan::Private_Key> load(const std::string& pem) {
    Botan::DataSource_Memory src(pem);
    return Botan::PKCS8::load_key(src);
}

TEST(KeyGen, Ed25519AndRsa2048AsPkcs8) {
    auto ed = load(keys::generate_private_key_pem(config::DkimAlgorithm::ed25519));
    EXPECT_EQ(ed->algo_name(), "Ed25519");
    auto rsa = load(keys::generate_private_key_pem(config::DkimAlgorithm::rsa2048));
    EXPECT_EQ(rsa->algo_name(), "RSA");
    EXPECT_EQ(rsa->key_length(), 2048u);
}

TEST(AtomicWrite, WritesContentWithExactModeAndNoTempLeft) {
    fs::path dir = fs::temp_directory_path() / ("sp-keygen-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    ::umask(022);
    fs::path file = dir / "k.pem";
    ASSERT_FALSE(keys::write_file_atomic(file, "one", 0600));
    ASSERT_FALSE(keys::write_file_atomic(file, "second", 0640));
    std::ifstream in(file);
    std::string content((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(content, "second");
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1);
    EXPECT_TRUE(keys::write_file_atomic(dir / "missing" / "k.pem", "x", 0600));
    fs::remove_all(dir);
}

}  // namespace
