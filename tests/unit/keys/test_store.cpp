// Unit tests for keys/store: files on disk, permissions, damaged state, the active-key
// snapshot, and crash-safety of every rotation step (a crash between any two steps is
// resumed correctly by a fresh store).
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include <botan/auto_rng.h>

#include "keys/keygen.hpp"
#include "keys/store.hpp"
#include "signer/key.hpp"

using namespace signpost;
using namespace signpost::keys;
using config::DkimAlgorithm;
using std::chrono::days;
namespace fs = std::filesystem;

namespace {

const Time kT0 = Time{std::chrono::seconds{1763856000}};

struct Crash {
    int step;
};

class StoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("sp-store-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        domain_.name = "example.com";
        domain_.algorithms = {DkimAlgorithm::ed25519};
        domain_.rotate_every = days(90);
        domain_.publish_lead = days(7);
        domain_.retire_after = days(12);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // DNS that serves the exact record of every key whose selector is in `published`.
    TxtLookup dns() {
        return [this](const std::string& name) {
            TxtLookupResult r;
            std::string selector = name.substr(0, name.find("._domainkey."));
            if (!published_.count(selector)) {
                r.status = TxtLookupResult::Status::not_found;
                return r;
            }
            KeyStore reader(dir_);
            StoreIssue issue;
            DomainView view;
            reader.read("example.com", view, issue);
            auto key = reader.load_key("example.com", *view.state.find(selector), issue);
            r.status = TxtLookupResult::Status::found;
            r.records.push_back(key->dns_record());
            return r;
        };
    }

    DomainKeys state() {
        KeyStore s(dir_);
        DomainView view;
        StoreIssue issue;
        EXPECT_TRUE(s.read("example.com", view, issue)) << issue.to_string();
        return view.state;
    }

    // Every non-retired key in the state has its key file; no retired key has one (a crash
    // between writing the state and deleting the file may leave one, removed next time).
    void expect_consistent(bool retired_files_allowed = false) {
        KeyStore s(dir_);
        for (const auto& k : state().keys) {
            bool exists = fs::exists(s.key_file("example.com", k.selector));
            if (k.state == KeyState::retired) EXPECT_TRUE(retired_files_allowed || !exists) << k.selector;
            else EXPECT_TRUE(exists) << k.selector;
        }
    }

    fs::path dir_;
    config::DomainConfig domain_;
    std::set<std::string> published_;
};

TEST_F(StoreTest, FirstKeyThenActivationOnceDnsShowsIt) {
    KeyStore store(dir_);
    std::vector<Event> events;
    StoreIssue issue;
    ASSERT_TRUE(store.rotate(domain_, kT0, dns(), events, issue)) << issue.to_string();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kind, EventKind::generated);
    std::string sel = events[0].selector;
    struct stat st {};
    ASSERT_EQ(::stat(store.key_file("example.com", sel).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_TRUE(store.reload({domain_}).empty());
    EXPECT_EQ(store.signing_keys("example.com"), nullptr);  // pending keys never sign

    events.clear();
    ASSERT_TRUE(store.rotate(domain_, kT0 + days(1), dns(), events, issue));
    EXPECT_EQ(events.at(0).kind, EventKind::blocked);
    EXPECT_EQ(events.at(0).dns, DnsStatus::missing);

    EXPECT_EQ(store.no_active_key_reason("example.com"),
              "No DKIM key for example.com is active yet: publish the TXT record " + sel +
                  "._domainkey.example.com (signpost keys dns); try again later");

    published_.insert(sel);
    events.clear();
    ASSERT_TRUE(store.rotate(domain_, kT0 + days(2), dns(), events, issue));
    EXPECT_EQ(events.at(0).kind, EventKind::activated);
    EXPECT_TRUE(store.reload({domain_}).empty());
    auto set = store.signing_keys("example.com");
    ASSERT_NE(set, nullptr);
    ASSERT_EQ(set->keys.size(), 1u);
    EXPECT_EQ(set->keys[0].s, sel);
    EXPECT_EQ(set->keys[0].key.type(), signer::KeyType::ed25519);
}

TEST_F(StoreTest, MismatchedRecordBlocksActivation) {
    KeyStore store(dir_);
    std::vector<Event> events;
    StoreIssue issue;
    ASSERT_TRUE(store.rotate(domain_, kT0, dns(), events, issue));
    std::string sel = events[0].selector;
    // DNS holds some other key's record at this name.
    Botan::AutoSeeded_RNG rng;
    std::string other = signer::generate_ed25519_key(rng)->dns_record();
    TxtLookup wrong = [&](const std::string&) {
        return TxtLookupResult{TxtLookupResult::Status::found, {other}};
    };
    events.clear();
    ASSERT_TRUE(store.rotate(domain_, kT0 + days(1), wrong, events, issue));
    EXPECT_EQ(events.at(0).kind, EventKind::blocked);
    EXPECT_EQ(events.at(0).dns, DnsStatus::mismatch);
    EXPECT_EQ(state().keys.at(0).state, KeyState::pending);
}

TEST_F(StoreTest, WorldReadableKeyIsRefusedAndNamed) {
    KeyStore store(dir_);
    std::vector<Event> events;
    StoreIssue issue;
    ASSERT_TRUE(store.rotate(domain_, kT0, dns(), events, issue));
    std::string sel = events[0].selector;
    fs::path file = store.key_file("example.com", sel);
    ::chmod(file.c_str(), 0644);
    auto key = store.load_key("example.com", state().keys[0], issue);
    EXPECT_FALSE(key);
    EXPECT_EQ(issue.file, file);
    EXPECT_NE(issue.message.find("readable by group/others (mode 0644)"), std::string::npos) << issue.message;
}

// Issue 15: a key owned by another user (not us, not root) could be replaced by that user.
TEST_F(StoreTest, KeyOwnedByAnotherUserIsRefusedAndNamed) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another user";
    KeyStore store(dir_);
    std::vector<Event> events;
    StoreIssue issue;
    ASSERT_TRUE(store.rotate(domain_, kT0, dns(), events, issue));
    fs::path file = store.key_file("example.com", events[0].selector);
    ASSERT_EQ(::chown(file.c_str(), 65534, static_cast<gid_t>(-1)), 0);  // nobody
    auto key = store.load_key("example.com", state().keys[0], issue);
    EXPECT_FALSE(key);
    EXPECT_EQ(issue.file, file);
    EXPECT_NE(issue.message.find("owned by uid 65534"), std::string::npos) << issue.message;
}

TEST_F(StoreTest, KeyOfTheWrongTypeOrCorruptIsRefused) {
    KeyStore store(dir_);
    fs::create_directories(dir_ / "example.com");
    DomainKeys s{"example.com", {{"sel1", DkimAlgorithm::rsa2048, KeyState::active, kT0, kT0, {}, {}, false}}};
    ASSERT_FALSE(write_file_atomic(store.state_file("example.com"), serialize_state(s), 0600));
    ASSERT_FALSE(write_file_atomic(store.key_file("example.com", "sel1"),
                                   generate_private_key_pem(DkimAlgorithm::ed25519), 0600));
    StoreIssue issue;
    EXPECT_FALSE(store.load_key("example.com", s.keys[0], issue));
    EXPECT_NE(issue.message.find("state file says rsa2048"), std::string::npos) << issue.message;

    std::string pem = generate_private_key_pem(DkimAlgorithm::rsa2048);
    ASSERT_FALSE(write_file_atomic(store.key_file("example.com", "sel1"), pem.substr(0, pem.size() / 2), 0600));
    EXPECT_FALSE(store.load_key("example.com", s.keys[0], issue));
    EXPECT_NE(issue.message.find("not a usable private key"), std::string::npos) << issue.message;
}

TEST_F(StoreTest, DamagedStateKeepsTheKeysAlreadyLoaded) {
    KeyStore store(dir_);
    std::vector<Event> events;
    StoreIssue issue;
    ASSERT_TRUE(store.rotate(domain_, kT0, dns(), events, issue));
    published_.insert(events[0].selector);
    ASSERT_TRUE(store.rotate(domain_, kT0 + days(1), dns(), events, issue));
    ASSERT_TRUE(store.reload({domain_}).empty());
    ASSERT_NE(store.signing_keys("example.com"), nullptr);

    // Truncate the state file: reload reports it and keeps signing with what it had.
    std::string text = serialize_state(state());
    ASSERT_FALSE(write_file_atomic(store.state_file("example.com"), text.substr(0, text.size() - 4), 0600));
    auto issues = store.reload({domain_});
    ASSERT_EQ(issues.size(), 1u);
    EXPECT_EQ(issues[0].file, store.state_file("example.com"));
    EXPECT_NE(issues[0].message.find("truncated"), std::string::npos) << issues[0].message;
    ASSERT_NE(store.signing_keys("example.com"), nullptr);
    EXPECT_EQ(store.signing_keys("example.com")->keys.size(), 1u);
    // And rotation refuses to act on a damaged file.
    EXPECT_FALSE(store.rotate(domain_, kT0 + days(2), dns(), events, issue));
    EXPECT_EQ(issue.file, store.state_file("example.com"));
}

TEST_F(StoreTest, SnapshotHeldByASignerSurvivesASwap) {
    KeyStore store(dir_);
    std::vector<Event> events;
    StoreIssue issue;
    ASSERT_TRUE(store.rotate(domain_, kT0, dns(), events, issue));
    published_.insert(events[0].selector);
    ASSERT_TRUE(store.rotate(domain_, kT0 + days(1), dns(), events, issue));
    store.reload({domain_});
    auto held = store.signing_keys("example.com");
    ASSERT_TRUE(store.rotate(domain_, kT0 + days(85), dns(), events, issue));
    published_.insert(events.back().selector);
    ASSERT_TRUE(store.rotate(domain_, kT0 + days(91), dns(), events, issue));
    store.reload({domain_});
    auto now = store.signing_keys("example.com");
    ASSERT_NE(held, nullptr);
    ASSERT_NE(now, nullptr);
    EXPECT_NE(held->keys[0].s, now->keys[0].s);
    EXPECT_EQ(held->keys[0].key.type(), signer::KeyType::ed25519);  // still usable
}

TEST_F(StoreTest, ImportExistingKeyAndRefuseSelectorClash) {
    KeyStore store(dir_);
    StoreIssue issue;
    std::string pem = generate_private_key_pem(DkimAlgorithm::rsa2048);
    ASSERT_TRUE(store.import_key("example.com", "mail", pem, DkimAlgorithm::rsa2048, kT0, issue)) << issue.to_string();
    DomainKeys s = state();
    ASSERT_EQ(s.keys.size(), 1u);
    EXPECT_EQ(s.keys[0].state, KeyState::pending);
    EXPECT_TRUE(s.keys[0].asap);
    EXPECT_FALSE(store.import_key("example.com", "mail", pem, DkimAlgorithm::rsa2048, kT0, issue));
    EXPECT_NE(issue.message.find("already used"), std::string::npos);
    EXPECT_FALSE(store.import_key("example.com", "other", pem, DkimAlgorithm::ed25519, kT0, issue));
    EXPECT_NE(issue.message.find("not ed25519"), std::string::npos) << issue.message;
    EXPECT_FALSE(store.import_key("example.com", "x", "garbage", DkimAlgorithm::ed25519, kT0, issue));
}

TEST_F(StoreTest, MissingOrUnwritableKeysDirIsReported) {
    fs::path file = dir_ / "not-a-dir";
    std::ofstream(file) << "x";
    KeyStore store(file);
    std::vector<Event> events;
    StoreIssue issue;
    EXPECT_FALSE(store.rotate(domain_, kT0, dns(), events, issue));
    EXPECT_NE(issue.file.string().find("not-a-dir"), std::string::npos) << issue.to_string();
}

// Kill the process (here: throw) after step 1 and after step 2 of each kind of transition,
// then let a fresh store resume. The result must equal an uninterrupted run's, with every
// referenced key file present and no selector reused.
TEST_F(StoreTest, CrashBetweenAnyTwoStepsIsResumed) {
    struct Transition {
        const char* name;
        Time at;
    };
    // generated (first key), activated, generated (next), activated+retiring, retired
    std::vector<Transition> transitions = {
        {"first key", kT0}, {"activate", kT0 + days(1)}, {"next key", kT0 + days(85)},
        {"rotate", kT0 + days(91)}, {"retire", kT0 + days(104)}};
    for (int crash_step : {1, 2}) {
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        published_.clear();
        for (const auto& tr : transitions) {
            SCOPED_TRACE(std::string(tr.name) + ", crash after step " + std::to_string(crash_step));
            {
                KeyStore doomed(dir_);
                doomed.after_step = [&](int step) {
                    if (step == crash_step) throw Crash{step};
                };
                std::vector<Event> events;
                StoreIssue issue;
                EXPECT_THROW(doomed.rotate(domain_, tr.at, dns(), events, issue), Crash);
            }
            expect_consistent(true);  // whatever a crash left is a state a restart accepts
            KeyStore restarted(dir_);
            std::vector<Event> events;
            StoreIssue issue;
            ASSERT_TRUE(restarted.rotate(domain_, tr.at, dns(), events, issue)) << issue.to_string();
            expect_consistent();
            // The operator publishes what `keys dns` lists: every pending key in the state.
            for (const auto& k : state().keys)
                if (k.state == KeyState::pending) published_.insert(k.selector);
            // A selector orphaned by a crash is never given to another key.
            DomainView view;
            ASSERT_TRUE(restarted.read("example.com", view, issue));
            for (const auto& orphan : view.unreferenced) EXPECT_EQ(view.state.find(orphan), nullptr) << orphan;
            // After the crash and restart, exactly one ed25519 key signs from "activate" on.
            if (tr.at >= kT0 + days(1)) {
                ASSERT_TRUE(restarted.reload({domain_}).empty());
                ASSERT_NE(restarted.signing_keys("example.com"), nullptr);
                EXPECT_EQ(restarted.signing_keys("example.com")->keys.size(), 1u);
            }
        }
        // The end state matches an uninterrupted history: one retired, one active key,
        // plus any key orphaned by a crash after step 1 (never referenced, never reused).
        DomainKeys s = state();
        int active = 0, retired = 0;
        for (const auto& k : s.keys) {
            active += k.state == KeyState::active;
            retired += k.state == KeyState::retired;
        }
        EXPECT_EQ(active, 1);
        EXPECT_EQ(retired, 1);
        KeyStore check(dir_);
        DomainView view;
        StoreIssue issue;
        ASSERT_TRUE(check.read("example.com", view, issue));
        if (crash_step == 1) EXPECT_EQ(view.unreferenced.size(), 2u);  // two generations crashed
        else EXPECT_TRUE(view.unreferenced.empty());
    }
}

TEST(ZoneFile, LongValuesAreSplitInto255ByteStrings) {
    std::string value = "v=DKIM1; k=rsa; p=" + std::string(400, 'A');
    std::string z = zone_file_record("sel", "example.com", value);
    EXPECT_EQ(z, "sel._domainkey.example.com. IN TXT ( \"" + value.substr(0, 255) + "\" \"" +
                     value.substr(255) + "\" )");
}

}  // namespace
