// `signpost init --self-signed` (relay/app/self_signed.hpp): made once for a host name,
// kept while it still fits, replaced when the name changes or the pair is unusable.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <botan/pkix_types.h>
#include <botan/x509cert.h>
#include <sys/stat.h>

#include "relay/app/self_signed.hpp"

namespace {

namespace fs = std::filesystem;
using signpost::app::init_self_signed;
using signpost::app::self_signed_reusable;

struct SelfSigned : ::testing::Test {
    fs::path dir;
    fs::path cert, key;
    std::ostringstream out, err;

    void SetUp() override {
        char tmpl[] = "/tmp/signpost-selfsigned.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        cert = dir / "tls/cert.pem";
        key = dir / "tls/key.pem";
    }
    void TearDown() override { fs::remove_all(dir); }

    int run(const std::string& host) {
        out.str("");
        err.str("");
        return init_self_signed(host, cert, key, out, err);
    }
    static std::string slurp(const fs::path& p) {
        std::ifstream in(p);
        return {std::istreambuf_iterator<char>(in), {}};
    }
};

TEST_F(SelfSigned, MadeForTheHostNameWithAPrivateKey) {
    ASSERT_EQ(run("mail.example.com"), 0) << err.str();
    EXPECT_EQ(out.str().rfind("made a self-signed certificate for mail.example.com", 0), 0u) << out.str();
    Botan::X509_Certificate c(cert.string());
    auto names = c.subject_alt_name().get_attribute("DNS");
    ASSERT_EQ(names.size(), 1u);
    EXPECT_EQ(names[0], "mail.example.com");
    EXPECT_GT(c.not_after().to_std_timepoint(),
              std::chrono::system_clock::now() + std::chrono::hours(24 * 3000));
    struct stat st {};
    ASSERT_EQ(::stat(key.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::string why;
    EXPECT_TRUE(self_signed_reusable(cert, key, "mail.example.com", why)) << why;
}

TEST_F(SelfSigned, KeptWhileItFitsReplacedWhenTheNameChanges) {
    ASSERT_EQ(run("mail.example.com"), 0);
    const std::string first = slurp(cert);
    ASSERT_EQ(run("mail.example.com"), 0);
    EXPECT_EQ(out.str().rfind("kept", 0), 0u) << out.str();
    EXPECT_EQ(slurp(cert), first);
    ASSERT_EQ(run("relay.example.org"), 0);
    EXPECT_NE(out.str().find("does not name relay.example.org"), std::string::npos) << out.str();
    EXPECT_NE(slurp(cert), first);
    std::string why;
    EXPECT_FALSE(self_signed_reusable(cert, key, "mail.example.com", why));
}

TEST_F(SelfSigned, AKeyThatIsNotTheCertificatesIsReplaced) {
    ASSERT_EQ(run("mail.example.com"), 0);
    const std::string first_key = slurp(key);
    // Another pair's key next to this certificate.
    fs::path other = dir / "other";
    ASSERT_EQ(init_self_signed("mail.example.com", other / "c.pem", other / "k.pem", out, err), 0);
    fs::copy_file(other / "k.pem", key, fs::copy_options::overwrite_existing);
    std::string why;
    EXPECT_FALSE(self_signed_reusable(cert, key, "mail.example.com", why));
    EXPECT_EQ(why, "the key does not belong to the certificate");
    ASSERT_EQ(run("mail.example.com"), 0);
    EXPECT_EQ(out.str().rfind("made", 0), 0u);
    EXPECT_TRUE(self_signed_reusable(cert, key, "mail.example.com", why)) << why;
}

TEST_F(SelfSigned, GarbageFilesAreReplaced) {
    fs::create_directories(cert.parent_path());
    std::ofstream(cert) << "not a certificate\n";
    std::ofstream(key) << "not a key\n";
    std::string why;
    EXPECT_FALSE(self_signed_reusable(cert, key, "mail.example.com", why));
    EXPECT_EQ(why.rfind("unreadable", 0), 0u) << why;
    ASSERT_EQ(run("mail.example.com"), 0) << err.str();
    EXPECT_TRUE(self_signed_reusable(cert, key, "mail.example.com", why)) << why;
}

TEST_F(SelfSigned, AKeyPathThatCannotBeWrittenIsAnError) {
    fs::create_directories(dir / "key-is-a-directory");
    EXPECT_EQ(init_self_signed("mail.example.com", dir / "c.pem", dir / "key-is-a-directory", out, err), 1);
    EXPECT_NE(err.str().find("cannot write"), std::string::npos) << err.str();
    EXPECT_FALSE(fs::exists(dir / "c.pem"));  // no certificate without its key
}

}  // namespace
