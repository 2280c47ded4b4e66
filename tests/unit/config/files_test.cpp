// tests/unit/config/files_test.cpp — load_file's own errors (missing, unreadable, a
// directory, syntax) and the checks of the files a config names: existence, and no
// group/other permission on secrets (tls.key, auth.users_file, smarthost and [[inbound]]
// delivery credentials).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "config/config.hpp"
#include "tests/unit/config/test_util.hpp"

namespace signpost::config {
namespace {

namespace fs = std::filesystem;
using test::dump;
using ::testing::HasSubstr;

// A fresh directory with a certificate (0644), a key (0600) and a users file (0600).
class ConfigFiles : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (fs::path(::testing::TempDir()) / "signpost-config-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
        dir_ = tmpl;
        write(dir_ / "cert.pem", "CERT\n", 0644);
        write(dir_ / "key.pem", "KEY\n", 0600);
        write(dir_ / "users", "USERS\n", 0600);
    }
    void TearDown() override {
        std::error_code ec;
        fs::permissions(dir_ / "locked.toml", fs::perms::owner_all, ec);
        fs::remove_all(dir_, ec);
    }

    static void write(const fs::path& p, std::string_view text, mode_t mode) {
        std::ofstream(p) << text;
        ASSERT_EQ(::chmod(p.c_str(), mode), 0) << p << ": " << std::strerror(errno);
    }
    std::string path(const char* name) const { return (dir_ / name).string(); }

    // Line 4 is tls.key (value at column 7), line 5 tls.cert (column 8), line 7
    // auth.users_file (column 14); `extra` starts on line 8.
    std::string config_text(const std::string& extra = "") const {
        return "[[listener]]\naddress = \"127.0.0.1:2587\"\n[tls]\nkey = \"" + path("key.pem") +
               "\"\ncert = \"" + path("cert.pem") + "\"\n[auth]\nusers_file = \"" + path("users") +
               "\"\n" + extra;
    }
    LoadResult load_checked(const std::string& text) const {
        return load_string(text, "signpost.toml", dir_);
    }

    fs::path dir_;
};

TEST_F(ConfigFiles, PrivateSecretsAndPublicCertPass) {
    auto r = load_checked(config_text());
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_TRUE(validate_files(*r.config).empty());
}

TEST_F(ConfigFiles, WorldReadableKeyIsRefusedAtItsKey) {
    ASSERT_EQ(::chmod(path("key.pem").c_str(), 0644), 0);
    auto r = load_checked(config_text());
    ASSERT_EQ(r.errors.size(), 1u) << dump(r);
    EXPECT_FALSE(r.config);
    const std::string key = path("key.pem");
    EXPECT_EQ(r.errors[0].to_string(), "signpost.toml:4:7: tls.key: " + key +
                                           " is readable by group/others (mode 0644); run chmod 600 " +
                                           key);
}

TEST_F(ConfigFiles, GroupReadableUsersFileIsRefused) {
    ASSERT_EQ(::chmod(path("users").c_str(), 0640), 0);
    auto r = load_checked(config_text());
    ASSERT_EQ(r.errors.size(), 1u) << dump(r);
    EXPECT_EQ(r.errors[0].line, 7u);
    EXPECT_EQ(r.errors[0].column, 14u);
    EXPECT_EQ(r.errors[0].key, "auth.users_file");
    EXPECT_EQ(r.errors[0].message, path("users") + " is readable by group/others (mode 0640); run chmod 600 " +
                                       path("users"));
}

TEST_F(ConfigFiles, EveryGroupOrOtherBitCounts) {
    for (mode_t mode : {0604, 0620, 0602, 0601, 0610, 0700 | 0004}) {
        ASSERT_EQ(::chmod(path("key.pem").c_str(), mode), 0);
        auto r = load_checked(config_text());
        ASSERT_EQ(r.errors.size(), 1u) << std::oct << mode << "\n" << dump(r);
        EXPECT_THAT(r.errors[0].message, HasSubstr("is readable by group/others"));
    }
    for (mode_t mode : {0400, 0600, 0700}) {
        ASSERT_EQ(::chmod(path("key.pem").c_str(), mode), 0);
        auto r = load_checked(config_text());
        EXPECT_TRUE(r.ok()) << std::oct << mode << "\n" << dump(r);
    }
}

TEST_F(ConfigFiles, BothSecretsOpenGiveTwoErrorsInLineOrder) {
    ASSERT_EQ(::chmod(path("key.pem").c_str(), 0644), 0);
    ASSERT_EQ(::chmod(path("users").c_str(), 0666), 0);
    auto r = load_checked(config_text());
    ASSERT_EQ(r.errors.size(), 2u) << dump(r);
    EXPECT_EQ(r.errors[0].key, "tls.key");
    EXPECT_EQ(r.errors[1].key, "auth.users_file");
    EXPECT_THAT(r.errors[1].message, HasSubstr("(mode 0666)"));
}

TEST_F(ConfigFiles, MissingFilesAreErrorsAtTheirKeys) {
    fs::remove(dir_ / "key.pem");
    fs::remove(dir_ / "cert.pem");
    auto r = load_checked(config_text());
    ASSERT_EQ(r.errors.size(), 2u) << dump(r);
    EXPECT_EQ(r.errors[0].to_string(), "signpost.toml:4:7: tls.key: " + path("key.pem") + ": file not found");
    EXPECT_EQ(r.errors[1].to_string(), "signpost.toml:5:8: tls.cert: " + path("cert.pem") + ": file not found");
}

TEST_F(ConfigFiles, ADirectoryIsNotAKey) {
    fs::remove(dir_ / "key.pem");
    fs::create_directory(dir_ / "key.pem");
    auto r = load_checked(config_text());
    ASSERT_EQ(r.errors.size(), 1u) << dump(r);
    EXPECT_EQ(r.errors[0].key, "tls.key");
    EXPECT_EQ(r.errors[0].message, path("key.pem") + " is not a regular file");
}

TEST_F(ConfigFiles, OptionalFilesAreCheckedWhenSet) {
    write(dir_ / "creds", "user:pass\n", 0644);
    auto r = load_checked(config_text(
        "[delivery]\nsmarthost_credentials_file = \"creds\"\nextra_ca_file = \"ca.pem\"\n"
        "[dns]\ndnssec = true\ntrust_anchor_file = \"root.key\"\n"));
    ASSERT_EQ(r.errors.size(), 3u) << dump(r);
    EXPECT_EQ(r.errors[0].line, 9u);
    EXPECT_EQ(r.errors[0].key, "delivery.smarthost_credentials_file");
    EXPECT_EQ(r.errors[0].message, path("creds") + " is readable by group/others (mode 0644); run chmod 600 " +
                                       path("creds"));
    EXPECT_EQ(r.errors[1].line, 10u);
    EXPECT_EQ(r.errors[1].key, "delivery.extra_ca_file");
    EXPECT_EQ(r.errors[1].message, path("ca.pem") + ": file not found");
    EXPECT_EQ(r.errors[2].line, 13u);
    EXPECT_EQ(r.errors[2].key, "dns.trust_anchor_file");

    write(dir_ / "ca.pem", "CA\n", 0644);  // public: any mode
    write(dir_ / "root.key", "ANCHOR\n", 0644);
    ASSERT_EQ(::chmod(path("creds").c_str(), 0600), 0);
    auto ok = load_checked(config_text(
        "[delivery]\nsmarthost_credentials_file = \"creds\"\nextra_ca_file = \"ca.pem\"\n"
        "[dns]\ndnssec = true\ntrust_anchor_file = \"root.key\"\n"));
    EXPECT_TRUE(ok.ok()) << dump(ok);
}

// An MX listener and an [[inbound]] on lines 8-15: recipients_file (line 13, value at column
// 19) must be a readable file, deliver_credentials_file (line 15, column 28) is a secret.
std::string inbound_text() {
    return "[[listener]]\naddress = \"127.0.0.1:2525\"\nkind = \"mx\"\n"
           "[[inbound]]\ndomain = \"example.org\"\nrecipients_file = \"recipients\"\n"
           "deliver_to = \"home.example\"\ndeliver_credentials_file = \"inbound-creds\"\n";
}

TEST_F(ConfigFiles, InboundFilesAreCheckedWhenSet) {
    write(dir_ / "inbound-creds", "user:pass\n", 0640);
    auto r = load_checked(config_text(inbound_text()));
    ASSERT_EQ(r.errors.size(), 2u) << dump(r);
    EXPECT_EQ(r.errors[0].to_string(),
              "signpost.toml:13:19: inbound[0].recipients_file: " + path("recipients") + ": file not found");
    EXPECT_EQ(r.errors[1].to_string(), "signpost.toml:15:28: inbound[0].deliver_credentials_file: " +
                                           path("inbound-creds") +
                                           " is readable by group/others (mode 0640); run chmod 600 " +
                                           path("inbound-creds"));

    fs::create_directory(dir_ / "recipients");
    ASSERT_EQ(::chmod(path("inbound-creds").c_str(), 0600), 0);
    auto dir = load_checked(config_text(inbound_text()));
    ASSERT_EQ(dir.errors.size(), 1u) << dump(dir);
    EXPECT_EQ(dir.errors[0].key, "inbound[0].recipients_file");
    EXPECT_EQ(dir.errors[0].message, path("recipients") + " is not a regular file");

    fs::remove(dir_ / "recipients");
    write(dir_ / "recipients", "alice\n", 0644);  // not a secret: any mode
    auto ok = load_checked(config_text(inbound_text()));
    ASSERT_TRUE(ok.ok()) << dump(ok);
    EXPECT_TRUE(validate_files(*ok.config).empty());

    ASSERT_EQ(::chmod(path("inbound-creds").c_str(), 0604), 0);
    auto errors = validate_files(*ok.config);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].to_string(), "signpost.toml: inbound[0].deliver_credentials_file: " +
                                         path("inbound-creds") +
                                         " is readable by group/others (mode 0604); run chmod 600 " +
                                         path("inbound-creds"));
}

TEST_F(ConfigFiles, CheckFilesOffSkipsTheChecks) {
    fs::remove(dir_ / "key.pem");
    ASSERT_EQ(::chmod(path("users").c_str(), 0644), 0);
    EXPECT_TRUE(load_string(config_text(), "signpost.toml", dir_, test::no_file_checks()).ok());
    EXPECT_FALSE(load_string(config_text(), "signpost.toml", dir_).ok());
}

TEST_F(ConfigFiles, ValidateFilesAloneHasKeysButNoLines) {
    auto r = load_string(config_text(), "signpost.toml", dir_, test::no_file_checks());
    ASSERT_TRUE(r.ok()) << dump(r);
    ASSERT_EQ(::chmod(path("key.pem").c_str(), 0604), 0);
    auto errors = validate_files(*r.config);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].to_string(), "signpost.toml: tls.key: " + path("key.pem") +
                                         " is readable by group/others (mode 0604); run chmod 600 " +
                                         path("key.pem"));
}

// ---- load_file ---------------------------------------------------------------------------------

TEST_F(ConfigFiles, LoadFileResolvesRelativePathsAgainstItsDirectory) {
    fs::create_directory(dir_ / "etc");
    write(dir_ / "etc/signpost.toml",
          "[[listener]]\naddress = \"127.0.0.1:2587\"\n[tls]\ncert = \"../cert.pem\"\n"
          "key = \"../key.pem\"\n[auth]\nusers_file = \"./../users\"\n[queue]\ndir = \"spool\"\n",
          0644);
    auto r = load_file(dir_ / "etc/signpost.toml");
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->source, dir_ / "etc/signpost.toml");
    EXPECT_EQ(r.config->tls.cert, dir_ / "cert.pem");
    EXPECT_EQ(r.config->tls.key, dir_ / "key.pem");
    EXPECT_EQ(r.config->auth.users_file, dir_ / "users");
    EXPECT_EQ(r.config->queue.dir, dir_ / "etc/spool");
    EXPECT_EQ(r.config->mta_sts.cache_dir, dir_ / "etc/spool/mta-sts");
}

TEST_F(ConfigFiles, MissingConfigFile) {
    const std::string p = path("nope.toml");
    auto r = load_file(p);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_FALSE(r.config);
    EXPECT_EQ(r.errors[0].file, p);
    EXPECT_EQ(r.errors[0].line, 0u);
    EXPECT_EQ(r.errors[0].to_string(), p + ": cannot read config file: No such file or directory");
}

TEST_F(ConfigFiles, ConfigFileIsADirectory) {
    auto r = load_file(dir_);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].to_string(), dir_.string() + ": cannot read config file: " + std::strerror(EISDIR));
}

// Unreadable even for root: a path through a regular file.
TEST_F(ConfigFiles, ConfigFileUnderARegularFile) {
    const std::string p = path("cert.pem") + "/signpost.toml";
    auto r = load_file(p);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].to_string(), p + ": cannot read config file: " + std::strerror(ENOTDIR));
}

TEST_F(ConfigFiles, ConfigFileWithoutReadPermission) {
    write(dir_ / "locked.toml", "", 0000);
    if (::geteuid() == 0)
        GTEST_SKIP() << "root reads mode 000 files; ConfigFileUnderARegularFile covers an "
                        "unreadable path instead";
    auto r = load_file(dir_ / "locked.toml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].to_string(),
              path("locked.toml") + ": cannot read config file: " + std::strerror(EACCES));
}

TEST(ConfigLoadFile, SyntaxErrorIsLocated) {
    const std::string p = SIGNPOST_TEST_DATA_DIR "/config/syntax-error.toml";
    auto r = load_file(p, test::no_file_checks());
    ASSERT_EQ(r.errors.size(), 1u) << dump(r);
    EXPECT_EQ(r.errors[0].file, p);
    EXPECT_EQ(r.errors[0].line, 8u);
    EXPECT_EQ(r.errors[0].column, 29u);
    EXPECT_EQ(r.errors[0].key, "");
    EXPECT_THAT(r.errors[0].message, HasSubstr("TOML syntax error: "));
}

TEST(ConfigLoadFile, CommittedRelativeConfig) {
    const std::string dir = SIGNPOST_TEST_DATA_DIR "/config/relative";
    auto r = load_file(dir + "/signpost.toml", test::no_file_checks());
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->tls.cert, fs::path(dir) / "tls/cert.pem");
    EXPECT_EQ(r.config->tls.key, fs::path(dir) / "tls/key.pem");
    EXPECT_EQ(r.config->auth.users_file, fs::path(SIGNPOST_TEST_DATA_DIR "/config/users"));
    EXPECT_EQ(r.config->keys.dir, "/var/lib/signpost/keys");  // absolute: unchanged
    EXPECT_EQ(r.config->delivery.capture_dir, fs::path(dir) / "outbox");
}

}  // namespace
}  // namespace signpost::config
