// Unit tests for relay/auth/authenticator: snapshot reloads, the verification cache (hit,
// miss, expiry with a fake clock, invalidation, size cap), refusal of unsafe or malformed
// files with the old snapshot kept, reload_if_changed, and the unknown-user path.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include "relay/auth/authenticator.hpp"

using namespace signpost::auth;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// "u3", "pw3": appended, since `"literal" + std::string` draws GCC 12's false -Wrestrict at -O3.
std::string numbered(const char* prefix, int i) {
    std::string out = prefix;
    out += std::to_string(i);
    return out;
}

// Hashes are slow on purpose (argon2id); make each one once for the whole binary.
const std::string& hash_of(const std::string& password) {
    static std::map<std::string, std::string> cache;
    auto it = cache.find(password);
    if (it == cache.end()) it = cache.emplace(password, hash_password(password)).first;
    return it->second;
}

struct FakeClock {
    std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
    SteadyClock fn() {
        return [this] { return now; };
    }
};

class AuthenticatorTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "signpost-auth-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        dir_ = tmpl;
        path_ = dir_ / "users";
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Replaces the file the way `signpost users` does: new inode, renamed into place.
    void write_users(const std::string& text, fs::perms mode = fs::perms::owner_read | fs::perms::owner_write) {
        fs::path tmp = dir_ / ".users.tmp";
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            out << text;
        }
        fs::permissions(tmp, mode);
        fs::rename(tmp, path_);
    }

    static std::string line(const std::string& name, const std::string& password, const std::string& allow) {
        return name + ":" + hash_of(password) + ":" + allow + "\n";
    }

    fs::path dir_;
    fs::path path_;
    FakeClock clock_;
};

TEST_F(AuthenticatorTest, EmptyUntilLoaded) {
    Authenticator auth(path_, 300s, clock_.fn());
    EXPECT_TRUE(auth.users()->users.empty());
    write_users(line("alice", "pw-alice", "example.com"));
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::bad_credentials);
    std::string error;
    ASSERT_TRUE(auth.reload(error)) << error;
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
}

TEST_F(AuthenticatorTest, CacheHitMissAndExpiry) {
    write_users(line("alice", "pw-alice", "example.com"));
    Authenticator auth(path_, 300s, clock_.fn());
    std::string error;
    ASSERT_TRUE(auth.reload(error)) << error;

    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
    EXPECT_EQ(auth.stats().cache_misses, 1u);
    EXPECT_EQ(auth.stats().cache_hits, 0u);
    EXPECT_EQ(auth.stats().cache_entries, 1u);

    clock_.now += 299s;
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
    EXPECT_EQ(auth.stats().cache_hits, 1u);

    // A hit does not extend the entry: 300 s after the check that made it, it is gone.
    clock_.now += 1s;
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
    EXPECT_EQ(auth.stats().cache_hits, 1u);
    EXPECT_EQ(auth.stats().cache_misses, 2u);
    EXPECT_EQ(auth.stats().cache_entries, 1u);  // the fresh check made a new entry
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
    EXPECT_EQ(auth.stats().cache_hits, 2u);
}

// remembered(): a cache probe only (no argon2id), true for a pair verified within the TTL.
TEST_F(AuthenticatorTest, RememberedIsACacheProbeOnly) {
    write_users(line("alice", "pw-alice", "example.com"));
    Authenticator auth(path_, 300s, clock_.fn());
    std::string error;
    ASSERT_TRUE(auth.reload(error)) << error;
    EXPECT_FALSE(auth.remembered("alice", "pw-alice"));  // never verified yet
    EXPECT_EQ(auth.stats().cache_misses, 0u);            // and no argon2id was run for it
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
    EXPECT_TRUE(auth.remembered("alice", "pw-alice"));
    EXPECT_FALSE(auth.remembered("alice", "pw-wrong"));
    EXPECT_FALSE(auth.remembered("bob", "pw-alice"));
    clock_.now += 300s;
    EXPECT_FALSE(auth.remembered("alice", "pw-alice"));  // expired
}

// verify_cached(): answers only from the cache (never argon2id), counts a hit as verify()
// would, and counts nothing when it cannot answer.
TEST_F(AuthenticatorTest, VerifyCachedAnswersOnlyFromTheCache) {
    write_users(line("alice", "pw-alice", "example.com"));
    Authenticator auth(path_, 300s, clock_.fn());
    std::string error;
    ASSERT_TRUE(auth.reload(error)) << error;
    EXPECT_FALSE(auth.verify_cached("alice", "pw-alice"));  // not verified yet
    EXPECT_EQ(auth.stats().cache_misses, 0u);
    EXPECT_EQ(auth.stats().cache_hits, 0u);
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
    EXPECT_TRUE(auth.verify_cached("alice", "pw-alice"));
    EXPECT_EQ(auth.stats().cache_hits, 1u);
    EXPECT_FALSE(auth.verify_cached("alice", "pw-wrong"));
    EXPECT_FALSE(auth.verify_cached("nobody", "pw-alice"));
    EXPECT_EQ(auth.stats().cache_hits, 1u);
    EXPECT_EQ(auth.stats().cache_misses, 1u);
    clock_.now += 300s;
    EXPECT_FALSE(auth.verify_cached("alice", "pw-alice"));  // expired
    EXPECT_EQ(auth.stats().cache_hits, 1u);
}

TEST_F(AuthenticatorTest, WrongPasswordsAreNeverCached) {
    write_users(line("alice", "pw-alice", "example.com"));
    Authenticator auth(path_, 300s, clock_.fn());
    std::string error;
    ASSERT_TRUE(auth.reload(error)) << error;
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(auth.verify("alice", "wrong"), AuthResult::bad_credentials);
    EXPECT_EQ(auth.verify("alice", "pw-alicE"), AuthResult::bad_credentials);
    EXPECT_EQ(auth.verify("alice", ""), AuthResult::bad_credentials);
    EXPECT_EQ(auth.verify("Alice", "pw-alice"), AuthResult::bad_credentials);  // names are exact
    auto s = auth.stats();
    EXPECT_EQ(s.cache_hits, 0u);
    EXPECT_EQ(s.cache_misses, 7u);
    EXPECT_EQ(s.cache_entries, 1u);
}

TEST_F(AuthenticatorTest, ZeroTtlMeansNoCache) {
    write_users(line("alice", "pw-alice", "example.com"));
    Authenticator auth(path_, 0s, clock_.fn());
    std::string error;
    ASSERT_TRUE(auth.reload(error)) << error;
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
    EXPECT_EQ(auth.stats().cache_hits, 0u);
    EXPECT_EQ(auth.stats().cache_misses, 2u);
    EXPECT_EQ(auth.stats().cache_entries, 0u);
}

TEST_F(AuthenticatorTest, PasswordChangeInvalidatesTheCache) {
    write_users(line("alice", "pw-alice", "example.com") + line("bob", "pw-bob", "example.org"));
    Authenticator auth(path_, 300s, clock_.fn());
    std::string error;
    ASSERT_TRUE(auth.reload(error)) << error;
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
    EXPECT_EQ(auth.verify("bob", "pw-bob"), AuthResult::ok);
    ASSERT_EQ(auth.stats().cache_entries, 2u);

    write_users(line("alice", "pw-alice-2", "example.com") + line("bob", "pw-bob", "example.org"));
    ASSERT_TRUE(auth.reload(error)) << error;
    EXPECT_EQ(auth.stats().cache_entries, 1u);  // alice's entry dropped, bob's kept
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::bad_credentials);
    EXPECT_EQ(auth.verify("alice", "pw-alice-2"), AuthResult::ok);
    auto before = auth.stats().cache_hits;
    EXPECT_EQ(auth.verify("bob", "pw-bob"), AuthResult::ok);
    EXPECT_EQ(auth.stats().cache_hits, before + 1);  // an unchanged user keeps their entry
}

TEST_F(AuthenticatorTest, RemovalInvalidatesTheCache) {
    write_users(line("alice", "pw-alice", "example.com") + line("bob", "pw-bob", "example.org"));
    Authenticator auth(path_, 300s, clock_.fn());
    std::string error;
    ASSERT_TRUE(auth.reload(error)) << error;
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
    write_users(line("bob", "pw-bob", "example.org"));
    ASSERT_TRUE(auth.reload(error)) << error;
    EXPECT_EQ(auth.stats().cache_entries, 0u);
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::bad_credentials);
    EXPECT_FALSE(auth.may_send_as("alice", "alice@example.com"));

    // Added back with the same hash: a fresh check, not a resurrected entry.
    write_users(line("alice", "pw-alice", "example.com") + line("bob", "pw-bob", "example.org"));
    ASSERT_TRUE(auth.reload(error)) << error;
    auto misses = auth.stats().cache_misses;
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
    EXPECT_EQ(auth.stats().cache_misses, misses + 1);
}

TEST_F(AuthenticatorTest, AllowListChangeDropsEntriesAndTakesEffect) {
    write_users(line("alice", "pw-alice", "example.com") + line("bob", "pw-bob", "example.org"));
    Authenticator auth(path_, 300s, clock_.fn());
    std::string error;
    ASSERT_TRUE(auth.reload(error)) << error;
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
    EXPECT_EQ(auth.verify("bob", "pw-bob"), AuthResult::ok);
    EXPECT_TRUE(auth.may_send_as("alice", "x@example.com"));
    EXPECT_FALSE(auth.may_send_as("alice", "alice@example.net"));

    write_users(line("alice", "pw-alice", "alice@example.net") + line("bob", "pw-bob", "example.org"));
    ASSERT_TRUE(auth.reload(error)) << error;
    EXPECT_EQ(auth.stats().cache_entries, 1u);
    EXPECT_FALSE(auth.may_send_as("alice", "x@example.com"));
    EXPECT_TRUE(auth.may_send_as("alice", "alice@example.net"));
    auto misses = auth.stats().cache_misses;
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
    EXPECT_EQ(auth.stats().cache_misses, misses + 1);
}

TEST_F(AuthenticatorTest, GroupOrWorldReadableFileIsRefusedAndOldSnapshotKept) {
    write_users(line("alice", "pw-alice", "example.com"));
    Authenticator auth(path_, 300s, clock_.fn());
    std::string error;
    ASSERT_TRUE(auth.reload(error)) << error;

    write_users(line("mallory", "pw-m", "example.com"),
                fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
    EXPECT_FALSE(auth.reload(error));
    EXPECT_NE(error.find(path_.string()), std::string::npos) << error;
    EXPECT_NE(error.find("mode 0644"), std::string::npos) << error;
    EXPECT_NE(error.find("chmod 600"), std::string::npos) << error;
    EXPECT_NE(auth.users()->find("alice"), nullptr);
    EXPECT_EQ(auth.users()->find("mallory"), nullptr);
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);

    fs::permissions(path_, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    EXPECT_FALSE(auth.reload(error));
    EXPECT_NE(error.find("mode 0640"), std::string::npos) << error;

    fs::permissions(path_, fs::perms::owner_read);
    ASSERT_TRUE(auth.reload(error)) << error;  // 0400 is fine
    EXPECT_NE(auth.users()->find("mallory"), nullptr);
}

TEST_F(AuthenticatorTest, MalformedOrMissingFileKeepsOldSnapshotAndNamesFileAndLine) {
    write_users(line("alice", "pw-alice", "example.com"));
    Authenticator auth(path_, 300s, clock_.fn());
    std::string error;
    ASSERT_TRUE(auth.reload(error)) << error;

    write_users("# comment\nbob:plaintext:example.org\ncarol:x\n");
    EXPECT_FALSE(auth.reload(error));
    EXPECT_EQ(error.rfind(path_.string() + ":2: ", 0), 0u) << error;
    EXPECT_NE(error.find("and 1 more"), std::string::npos) << error;
    EXPECT_NE(auth.users()->find("alice"), nullptr);

    fs::remove(path_);
    EXPECT_FALSE(auth.reload(error));
    EXPECT_EQ(error, path_.string() + ": file not found");
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);

    fs::create_directory(path_);
    EXPECT_FALSE(auth.reload(error));
    EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
    EXPECT_NE(auth.users()->find("alice"), nullptr);
}

TEST_F(AuthenticatorTest, ReloadIfChangedReloadsOnlyOnChangeAndReportsAFailureOnce) {
    write_users(line("alice", "pw-alice", "example.com"));
    Authenticator auth(path_, 300s, clock_.fn());
    std::string error;
    EXPECT_EQ(auth.reload_if_changed(error), ReloadOutcome::reloaded) << error;  // first look
    EXPECT_EQ(auth.reload_if_changed(error), ReloadOutcome::unchanged);
    auto first = auth.users();
    EXPECT_EQ(auth.reload_if_changed(error), ReloadOutcome::unchanged);
    EXPECT_EQ(auth.users(), first);  // the same snapshot object: nothing was re-read

    // Replaced by rename (what `signpost users` does).
    write_users(line("alice", "pw-alice", "example.com") + line("bob", "pw-bob", "example.org"));
    EXPECT_EQ(auth.reload_if_changed(error), ReloadOutcome::reloaded) << error;
    EXPECT_NE(auth.users()->find("bob"), nullptr);

    // Edited in place (same inode, different size).
    {
        std::ofstream out(path_, std::ios::binary | std::ios::app);
        out << line("carol", "pw-carol", "example.net");
    }
    EXPECT_EQ(auth.reload_if_changed(error), ReloadOutcome::reloaded) << error;
    EXPECT_NE(auth.users()->find("carol"), nullptr);

    // A broken change is reported once; the old snapshot stays.
    write_users("broken\n");
    EXPECT_EQ(auth.reload_if_changed(error), ReloadOutcome::failed);
    EXPECT_NE(error.find(path_.string() + ":1: "), std::string::npos) << error;
    EXPECT_EQ(auth.reload_if_changed(error), ReloadOutcome::unchanged);
    EXPECT_NE(auth.users()->find("carol"), nullptr);

    // chmod alone changes ctime and mode: noticed, refused, reported once.
    write_users(line("alice", "pw-alice", "example.com"));
    EXPECT_EQ(auth.reload_if_changed(error), ReloadOutcome::reloaded) << error;
    fs::permissions(path_, fs::perms::others_read, fs::perm_options::add);
    EXPECT_EQ(auth.reload_if_changed(error), ReloadOutcome::failed);
    EXPECT_NE(error.find("readable by group/others"), std::string::npos) << error;
    EXPECT_EQ(auth.reload_if_changed(error), ReloadOutcome::unchanged);
    fs::permissions(path_, fs::perms::others_read, fs::perm_options::remove);
    EXPECT_EQ(auth.reload_if_changed(error), ReloadOutcome::reloaded) << error;

    // Deleted: reported once, old snapshot kept; back again: reloaded.
    fs::remove(path_);
    EXPECT_EQ(auth.reload_if_changed(error), ReloadOutcome::failed);
    EXPECT_NE(error.find("file not found"), std::string::npos) << error;
    EXPECT_EQ(auth.reload_if_changed(error), ReloadOutcome::unchanged);
    EXPECT_NE(auth.users()->find("alice"), nullptr);
    write_users(line("bob", "pw-bob", "example.org"));
    EXPECT_EQ(auth.reload_if_changed(error), ReloadOutcome::reloaded) << error;
    EXPECT_EQ(auth.users()->find("alice"), nullptr);
}

TEST_F(AuthenticatorTest, UnknownUserCostsAnArgon2Check) {
    write_users(line("alice", "pw-alice", "example.com"));
    Authenticator auth(path_, 300s, clock_.fn());
    std::string error;
    ASSERT_TRUE(auth.reload(error)) << error;
    EXPECT_EQ(auth.verify("nobody", "x"), AuthResult::bad_credentials);  // makes the dummy hash

    using std::chrono::steady_clock;
    auto t0 = steady_clock::now();
    EXPECT_EQ(auth.verify("nobody", "pw-alice"), AuthResult::bad_credentials);
    auto unknown = steady_clock::now() - t0;
    t0 = steady_clock::now();
    EXPECT_EQ(auth.verify("alice", "wrong"), AuthResult::bad_credentials);
    auto known = steady_clock::now() - t0;
    // Both ran one argon2id verification (m = 19 MiB: milliseconds, not microseconds).
    EXPECT_GE(unknown, 3ms);
    EXPECT_GE(known, 3ms);
    EXPECT_EQ(auth.stats().cache_misses, 3u);
    EXPECT_EQ(auth.stats().cache_entries, 0u);
    EXPECT_FALSE(auth.may_send_as("nobody", "x@example.com"));
}

TEST_F(AuthenticatorTest, CacheSizeIsCappedOldestFirst) {
    std::string text;
    for (int i = 1; i <= 5; ++i) text += line(numbered("u", i), numbered("pw", i), "example.com");
    write_users(text);
    Authenticator auth(path_, 300s, clock_.fn(), 3);
    std::string error;
    ASSERT_TRUE(auth.reload(error)) << error;
    for (int i = 1; i <= 5; ++i) {
        clock_.now += 1s;
        ASSERT_EQ(auth.verify(numbered("u", i), numbered("pw", i)), AuthResult::ok);
    }
    EXPECT_EQ(auth.stats().cache_entries, 3u);
    for (int i = 3; i <= 5; ++i)
        EXPECT_EQ(auth.verify(numbered("u", i), numbered("pw", i)), AuthResult::ok);
    EXPECT_EQ(auth.stats().cache_hits, 3u);
    EXPECT_EQ(auth.verify("u1", "pw1"), AuthResult::ok);  // evicted: checked again
    EXPECT_EQ(auth.stats().cache_hits, 3u);
    EXPECT_EQ(auth.stats().cache_misses, 6u);
    EXPECT_EQ(auth.stats().cache_entries, 3u);
    EXPECT_EQ(auth.verify("u3", "pw3"), AuthResult::ok);  // u1 pushed out u3, the oldest
    EXPECT_EQ(auth.stats().cache_misses, 7u);
}

TEST_F(AuthenticatorTest, ExpiredEntriesAreSweptWhenNewOnesArrive) {
    write_users(line("alice", "pw-alice", "example.com") + line("bob", "pw-bob", "example.org"));
    Authenticator auth(path_, 60s, clock_.fn());
    std::string error;
    ASSERT_TRUE(auth.reload(error)) << error;
    EXPECT_EQ(auth.verify("alice", "pw-alice"), AuthResult::ok);
    clock_.now += 61s;
    EXPECT_EQ(auth.verify("bob", "pw-bob"), AuthResult::ok);
    EXPECT_EQ(auth.stats().cache_entries, 1u);
}

TEST_F(AuthenticatorTest, ConcurrentVerifyAndReload) {
    write_users(line("alice", "pw-alice", "example.com") + line("bob", "pw-bob", "example.org"));
    Authenticator auth(path_, 300s);  // the real clock
    std::string error;
    ASSERT_TRUE(auth.reload(error)) << error;
    std::atomic<int> wrong{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 15; ++i) {
                bool alice = (i + t) % 2 == 0;
                auto r = auth.verify(alice ? "alice" : "bob", alice ? "pw-alice" : "pw-bob");
                if (r != AuthResult::ok) ++wrong;
                if (!auth.may_send_as("bob", "x@example.org")) ++wrong;
            }
        });
    std::thread reloader([&] {
        std::string e;
        while (!stop) {
            if (!auth.reload(e)) ++wrong;
            std::this_thread::sleep_for(1ms);
        }
    });
    for (auto& t : threads) t.join();
    stop = true;
    reloader.join();
    EXPECT_EQ(wrong, 0);
    EXPECT_GE(auth.stats().cache_hits + auth.stats().cache_misses, 45u);
}

}  // namespace
