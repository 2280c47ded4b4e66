// Unit tests for relay/queue/spool: envelope records round-trip exactly, damaged
// envelopes are refused, commit makes a complete file, abort and start-up leave no
// temporaries, ids are unique and sort by time, delivered files are reused in place and
// recovery tells them from messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <set>
#include <thread>
#include <sys/stat.h>
#include <unistd.h>

#include "relay/queue/spool.hpp"

using namespace signpost::queue;
namespace fs = std::filesystem;

namespace {

Envelope sample() {
    Envelope e;
    e.id = "00HOFGO6F3U700NNAOVB";
    e.mail_from = "alice@example.test";
    e.set_recipients({"bob@example.org", "carol@example.net"});
    e.user = "dev";
    e.client = "127.0.0.1";
    e.prepend = "DKIM-Signature: v=1; a=ed25519-sha256;\r\n\tb=abc\r\nReceived: by x;\r\n\tdate\r\n";
    e.arrival = std::chrono::system_clock::time_point(std::chrono::microseconds(1795437654123456));
    e.size = 4242;
    e.smtputf8 = true;
    return e;
}

TEST(Envelope, RoundTripsEveryFieldExactly) {
    Envelope e = sample();
    auto back = decode_envelope(encode_envelope(e));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->id, e.id);
    EXPECT_EQ(back->mail_from, e.mail_from);
    EXPECT_EQ(back->recipients, e.recipients);
    EXPECT_EQ(back->user, e.user);
    EXPECT_EQ(back->client, e.client);
    EXPECT_EQ(back->prepend, e.prepend);
    EXPECT_EQ(back->arrival, e.arrival);
    EXPECT_EQ(back->size, e.size);
    EXPECT_TRUE(back->smtputf8);
    EXPECT_FALSE(back->body_8bit);
    EXPECT_FALSE(back->requiretls);
    EXPECT_FALSE(back->tls_required_no);
}

TEST(Envelope, RequireTlsFlagsRoundTrip) {
    Envelope e = sample();
    e.requiretls = true;
    auto back = decode_envelope(encode_envelope(e));
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->requiretls);
    EXPECT_FALSE(back->tls_required_no);
    e.requiretls = false;
    e.tls_required_no = true;
    back = decode_envelope(encode_envelope(e));
    ASSERT_TRUE(back);
    EXPECT_FALSE(back->requiretls);
    EXPECT_TRUE(back->tls_required_no);
}

TEST(Envelope, DamagedOrTornRecordsAreRefused) {
    std::string good = encode_envelope(sample());
    for (std::size_t cut = 0; cut < good.size(); cut += 7)
        EXPECT_FALSE(decode_envelope(good.substr(0, cut))) << "cut at " << cut;
    std::string bad_len = good;
    bad_len.replace(bad_len.find("from 18"), 7, "from 99");
    EXPECT_FALSE(decode_envelope(bad_len));
    EXPECT_FALSE(decode_envelope("signpost-envelope 2\n" + good.substr(20)));
    Envelope no_rcpt = sample();
    no_rcpt.recipients.clear();
    EXPECT_FALSE(decode_envelope(encode_envelope(no_rcpt)));
}

class SpoolTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("sp-spool-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST_F(SpoolTest, CommitWritesOneFileAndAbortLeavesNothing) {
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    std::unique_ptr<IncomingMessage> m;
    ASSERT_FALSE(spool.begin(m));
    ASSERT_FALSE(m->write("Subject: x\r\n\r\n"));
    ASSERT_FALSE(m->write(std::string(200000, 'a')));
    Envelope e = sample();
    ASSERT_FALSE(m->commit(e));
    EXPECT_EQ(e.id, m->id());
    EXPECT_EQ(spool.list(), std::vector<std::string>{e.id});
    EXPECT_EQ(spool.read_message(e.id)->size(), 14u + 200000u);
    auto back = spool.load(e.id);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->recipients, e.recipients);

    std::unique_ptr<IncomingMessage> gone;
    ASSERT_FALSE(spool.begin(gone));
    ASSERT_FALSE(gone->write("partial"));
    gone->abort();
    EXPECT_TRUE(fs::is_empty(dir_ / "tmp"));
    EXPECT_EQ(spool.list().size(), 1u);
}

TEST_F(SpoolTest, StartUpRemovesTemporariesAndUncommittedMessages) {
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail));
    std::ofstream(dir_ / "tmp" / "00HOFGO6F3U700NNAOVB") << "half";
    ASSERT_FALSE(Spool(dir_).open(detail));
    EXPECT_TRUE(fs::is_empty(dir_ / "tmp"));
}

TEST_F(SpoolTest, UnusableDirectoryIsReportedByName) {
    fs::create_directories(dir_);
    std::ofstream(dir_ / "file") << "x";
    Spool spool(dir_ / "file" / "spool");
    std::string detail;
    EXPECT_TRUE(spool.open(detail));
    EXPECT_NE(detail.find("file/spool"), std::string::npos) << detail;
}

TEST(Envelope, RecipientStateRoundTrips) {
    Envelope e = sample();
    e.held = true;
    e.warned = true;
    Recipient& bob = e.recipients[0];
    bob.state = RcptState::pending;
    bob.attempts = 3;
    bob.last_attempt = std::chrono::system_clock::time_point(std::chrono::microseconds(1795437700000001));
    bob.next_attempt = std::chrono::system_clock::time_point(std::chrono::microseconds(1795438000000002));
    bob.reply_code = 451;
    bob.enhanced = "4.7.1";
    bob.reply_text = "Greylisted, come back in 5 minutes";
    bob.remote_host = "mx.example.org[127.0.0.11]:25";
    Recipient& carol = e.recipients[1];
    carol.state = RcptState::failed;
    carol.attempts = 1;
    carol.reply_code = 550;
    carol.reply_text = "no such user";  // no enhanced status
    carol.reported = true;
    auto back = decode_envelope(encode_envelope(e));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->recipients, e.recipients);
    EXPECT_TRUE(back->held);
    EXPECT_TRUE(back->warned);
    EXPECT_FALSE(back->all_final());
    back->recipients[0].state = RcptState::delivered;
    EXPECT_TRUE(back->all_final());
}

TEST(Envelope, StateWithoutARecipientOrWithUnknownWordsIsDamage) {
    std::string good = encode_envelope(sample());
    std::string orphan = good;
    orphan.insert(orphan.find("from "), "rstate 17\npending 1 0 0 0 xx\n");
    EXPECT_FALSE(decode_envelope(orphan));
    Envelope e = sample();
    e.recipients[0].attempts = 1;
    std::string text = encode_envelope(e);
    auto pos = text.find("pending 1");
    ASSERT_NE(pos, std::string::npos);
    text.replace(pos, 7, "pendinX");
    EXPECT_FALSE(decode_envelope(text));
}

TEST_F(SpoolTest, SavedStateIsWhatLoadReturnsAndRemoveTakesBoth) {
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    Envelope e = sample();
    ASSERT_FALSE(spool.commit_message(e, "Subject: s\r\n\r\nbody\r\n"));
    e.recipients[0].state = RcptState::delivered;
    e.recipients[1].attempts = 2;
    ASSERT_FALSE(spool.save_state(e));
    auto back = spool.load(e.id);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->recipients, e.recipients);
    EXPECT_EQ(spool.read_message(e.id).value(), "Subject: s\r\n\r\nbody\r\n");
    EXPECT_EQ(spool.read_headers(e.id).value(), "Subject: s\r\n\r\n");
    EXPECT_TRUE(fs::is_empty(dir_ / "tmp"));

    // A damaged .state is ignored: the committed envelope is used (retried, not lost).
    std::ofstream(dir_ / "queue" / (e.id + ".state"), std::ios::trunc) << "signpost-envelope 1\nid 3\nxyz";
    back = spool.load(e.id);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->recipients[0].state, RcptState::pending);

    ASSERT_FALSE(spool.remove(e.id));
    EXPECT_TRUE(spool.list().empty());
    EXPECT_FALSE(fs::exists(dir_ / "queue" / (e.id + ".state")));
    EXPECT_FALSE(spool.remove(e.id));  // already gone: not an error
}

TEST_F(SpoolTest, RecoveryMovesDamagedFilesAsideAndKeepsTheRest) {
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        Envelope e = sample();
        ASSERT_FALSE(spool.commit_message(e, "Subject: " + std::to_string(i) + "\r\n\r\nbody\r\n"));
        ids.push_back(e.id);
    }
    // 1: truncated (the trailer is gone); 2: one byte of the envelope flipped (checksum);
    // 3: emptied. 0 and 4 are intact; 4 also has a state file. A state file whose message
    // is gone is left-over and removed.
    fs::resize_file(spool.message_path(ids[1]), fs::file_size(spool.message_path(ids[1])) - 10);
    {
        std::fstream f(spool.message_path(ids[2]), std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(25);  // inside the envelope: the message is 20 octets
        f.put('#');
    }
    fs::resize_file(spool.message_path(ids[3]), 0);
    Envelope s = *spool.load(ids[4]);
    s.recipients[1].attempts = 7;
    ASSERT_FALSE(spool.save_state(s));
    std::ofstream(dir_ / "queue" / "00HOFGO6F3U7ZZZZZZZZ.state") << "left over";

    Spool again(dir_);
    ASSERT_FALSE(again.open(detail));
    Recovered r = again.recover();
    ASSERT_EQ(r.messages.size(), 2u);
    EXPECT_EQ(r.messages[0].id, ids[0]);
    EXPECT_EQ(r.messages[1].id, ids[4]);
    EXPECT_EQ(r.messages[1].recipients[1].attempts, 7u);
    ASSERT_EQ(r.corrupt.size(), 3u);
    for (const auto& [id, why] : r.corrupt) {
        EXPECT_TRUE(fs::exists(dir_ / "corrupt" / id)) << id;
        EXPECT_FALSE(why.empty());
    }
    EXPECT_NE(r.corrupt[1].second.find("checksum"), std::string::npos) << r.corrupt[1].second;
    EXPECT_EQ(r.orphans_removed, 1u);
    EXPECT_EQ(again.list(), (std::vector<std::string>{ids[0], ids[4]}));
}

// Found by fuzz_spool_envelope: a file whose (intact) envelope names another queue id was
// recovered under that id, so its state, delivery and removal missed the file (delivered
// again at every start). It is damage: moved to corrupt/ and reported.
TEST_F(SpoolTest, RecoveryMovesAsideAFileWhoseEnvelopeNamesAnotherId) {
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    Envelope e = sample();
    ASSERT_FALSE(spool.commit_message(e, "Subject: s\r\n\r\nbody\r\n"));
    const std::string other = "00HOFGO6F3U7ZZZZZZZZ";
    fs::rename(spool.message_path(e.id), spool.message_path(other));
    std::string why;
    EXPECT_FALSE(spool.load(other, &why));
    EXPECT_NE(why.find("another queue id"), std::string::npos) << why;

    Recovered r = spool.recover();
    EXPECT_TRUE(r.messages.empty());
    ASSERT_EQ(r.corrupt.size(), 1u);
    EXPECT_EQ(r.corrupt[0].first, other);
    EXPECT_TRUE(fs::exists(dir_ / "corrupt" / other));
    EXPECT_TRUE(spool.list().empty());
}

TEST_F(SpoolTest, BelowMinimumFreeSpaceNewMailIsRefusedWithoutFiles) {
    Spool probe(dir_);
    std::string detail;
    ASSERT_FALSE(probe.open(detail));
    auto free = probe.free_space();
    ASSERT_TRUE(free);
    Spool spool(dir_, SpoolOptions{.min_free_space = *free + (1ull << 40)});
    ASSERT_FALSE(spool.open(detail)) << "a full disk must not stop the start";
    std::unique_ptr<IncomingMessage> m;
    EXPECT_EQ(spool.begin(m), std::errc::no_space_on_device);
    EXPECT_FALSE(m);
    EXPECT_TRUE(fs::is_empty(dir_ / "tmp"));
    Spool roomy(dir_, SpoolOptions{.min_free_space = 1});
    EXPECT_FALSE(roomy.begin(m));
}

TEST(QueueId, UniqueSortableAndFileSafe) {
    std::set<std::string> seen;
    std::string prev;
    for (int i = 0; i < 2000; ++i) {
        bool after_pause = i > 0 && i % 500 == 0;
        if (after_pause) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        std::string id = Spool::new_id();
        ASSERT_EQ(id.size(), 20u);
        for (char c : id) ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) << id;
        ASSERT_TRUE(seen.insert(id).second) << id;
        // Ids made later sort later: the first 12 characters are the time.
        if (after_pause) {
            EXPECT_LT(prev.substr(0, 12), id.substr(0, 12));
        }
        prev = id;
    }
}

}  // namespace

// Issue 15, at-least-once gaps: a DSN committed just before a crash, whose message's state
// was not saved after it, must not be followed by a second report for the same recipient.
TEST_F(SpoolTest, RecoveryAppliesADsnCommittedBeforeTheStateWasSaved) {
    Envelope original = sample();
    {
        Spool spool(dir_);
        std::string detail;
        ASSERT_FALSE(spool.open(detail)) << detail;
        ASSERT_FALSE(spool.commit_message(original, "Subject: s\r\n\r\nbody\r\n"));
        // bob failed and was reported in a DSN; the process died before save_state().
        Envelope dsn;
        dsn.mail_from = "";
        dsn.set_recipients({original.mail_from});
        dsn.dsn_of = original.id;
        dsn.dsn_kind = "failure";
        dsn.dsn_rcpts = {"bob@example.org"};
        ASSERT_FALSE(spool.commit_message(dsn, "Subject: failure\r\n\r\nreport\r\n"));
        auto back = decode_envelope(encode_envelope(dsn));
        ASSERT_TRUE(back);
        EXPECT_EQ(back->dsn_of, original.id);
        EXPECT_EQ(back->dsn_kind, "failure");
        EXPECT_EQ(back->dsn_rcpts, dsn.dsn_rcpts);
    }
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    Recovered r = spool.recover();
    EXPECT_EQ(r.reconciled, 1u);
    ASSERT_EQ(r.messages.size(), 2u);
    const Envelope& o = r.messages[0].id == original.id ? r.messages[0] : r.messages[1];
    ASSERT_EQ(o.id, original.id);
    EXPECT_EQ(o.recipients[0].state, RcptState::failed);
    EXPECT_TRUE(o.recipients[0].reported);
    EXPECT_EQ(o.recipients[1].state, RcptState::pending);  // carol is still to be tried
    // ...and that is on disk now: a second recovery has nothing left to apply.
    EXPECT_EQ(spool.load(original.id)->recipients[0].state, RcptState::failed);
    EXPECT_EQ(spool.recover().reconciled, 0u);
}

TEST_F(SpoolTest, RecoveryFinishesAMessageWhoseLastRecipientsWereReported) {
    Envelope original = sample();
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    ASSERT_FALSE(spool.commit_message(original, "Subject: s\r\n\r\nbody\r\n"));
    original.recipients[1].state = RcptState::delivered;
    ASSERT_FALSE(spool.save_state(original));
    Envelope dsn;
    dsn.set_recipients({original.mail_from});
    dsn.dsn_of = original.id;
    dsn.dsn_kind = "failure";
    dsn.dsn_rcpts = {"bob@example.org", "carol@example.net"};  // carol: delivered, left alone
    ASSERT_FALSE(spool.commit_message(dsn, "Subject: failure\r\n\r\nreport\r\n"));
    Envelope delay;
    delay.set_recipients({original.mail_from});
    delay.dsn_of = "00HOFGO6F3U700NNAOVX";  // a message that is gone: nothing to apply
    delay.dsn_kind = "delay";
    delay.dsn_rcpts = {"bob@example.org"};
    ASSERT_FALSE(spool.commit_message(delay, "Subject: delay\r\n\r\nreport\r\n"));

    Recovered r = spool.recover();
    EXPECT_EQ(r.reconciled, 1u);
    ASSERT_EQ(r.messages.size(), 2u);  // the original is finished and removed
    for (const auto& m : r.messages) EXPECT_NE(m.id, original.id);
    EXPECT_FALSE(fs::exists(spool.message_path(original.id)));
}

// Found with fuzz_spool_envelope (its check that the decoded values fit in the text): a
// record length near SIZE_MAX wrapped the bounds check around, so the record's value was
// taken to be the rest of the text and the records after it were read again (a damaged
// .state, which has no checksum, was accepted with a made-up sender).
TEST(Envelope, RecordLengthThatWrapsAroundIsDamage) {
    const std::string good = encode_envelope(sample());
    const std::string from = "from 18\nalice@example.test\n";
    ASSERT_NE(good.find(from), std::string::npos);
    for (const char* len : {"18446744073709551615", "18446744073709551614", "18446744073709551597"}) {
        std::string text = good;
        text.replace(text.find(from), from.size(), std::string("from ") + len + "\n");
        EXPECT_FALSE(decode_envelope(text)) << len;
    }
}

// Found by fuzz_spool_envelope: a time past what system_clock holds (nanosecond ticks, so
// beyond the year 2262) overflowed converting the microseconds (undefined behaviour; UBSan
// stopped recovery). Such a record is damage.
TEST(Envelope, TimesSystemClockCannotHoldAreDamage) {
    auto record = [](const std::string& name, const std::string& value) {
        return name + " " + std::to_string(value.size()) + "\n" + value + "\n";
    };
    Envelope e = sample();
    e.recipients[0].attempts = 1;
    const std::string good = encode_envelope(e);
    ASSERT_TRUE(decode_envelope(good));
    const std::string arrival = record("arrival", "1795437654123456");
    const std::string rstate = record("rstate", "pending 1 0 0");
    ASSERT_NE(good.find(arrival), std::string::npos);
    ASSERT_NE(good.find(rstate), std::string::npos);
    for (const std::string us : {"9795437654123456", "-9795437654123456", "9223372036854775807"}) {
        std::string text = good;
        text.replace(text.find(arrival), arrival.size(), record("arrival", us));
        EXPECT_FALSE(decode_envelope(text)) << us;
        text = good;
        text.replace(text.find(rstate), rstate.size(), record("rstate", "pending 1 " + us + " 0"));
        EXPECT_FALSE(decode_envelope(text)) << us;
        text = good;
        text.replace(text.find(rstate), rstate.size(), record("rstate", "pending 1 0 " + us));
        EXPECT_FALSE(decode_envelope(text)) << us;
    }
    // The latest time that fits still reads back exactly.
    e.arrival = std::chrono::system_clock::time_point(std::chrono::microseconds(9223372036854775));
    auto back = decode_envelope(encode_envelope(e));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->arrival, e.arrival);
}

// Found by fuzz_spool_envelope: dsn-kind / dsn-rcpt records without a dsn-of were read but
// not written back, so a saved state silently lost them (decode(encode(e)) != e).
TEST(Envelope, DsnRecordsWithoutDsnOfRoundTrip) {
    Envelope e = sample();
    e.dsn_kind = "failure";
    e.dsn_rcpts = {"bob@example.org"};
    auto back = decode_envelope(encode_envelope(e));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->dsn_of, "");
    EXPECT_EQ(back->dsn_kind, "failure");
    EXPECT_EQ(back->dsn_rcpts, e.dsn_rcpts);
    EXPECT_EQ(encode_envelope(*back), encode_envelope(e));
}

TEST(Envelope, DelayDsnRecordSetsWarnedOnce) {
    Envelope original = sample();
    Envelope dsn;
    dsn.dsn_of = original.id;
    dsn.dsn_kind = "delay";
    dsn.dsn_rcpts = {"bob@example.org"};
    EXPECT_TRUE(apply_dsn_record(original, dsn));
    EXPECT_TRUE(original.warned);
    EXPECT_EQ(original.recipients[0].state, RcptState::pending);
    EXPECT_FALSE(apply_dsn_record(original, dsn));
    dsn.dsn_of = "00HOFGO6F3U700NNAOVX";
    dsn.dsn_kind = "failure";
    EXPECT_FALSE(apply_dsn_record(original, dsn));  // about another message
}

// Issue 15: removing a delivered message is durable (queue/ is fsynced after the unlink),
// and removals running at the same time share fsyncs.
TEST_F(SpoolTest, RemoveSyncsTheQueueDirectoryAndConcurrentRemovesShareIt) {
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    std::vector<std::string> ids;
    for (int i = 0; i < 64; ++i) {
        Envelope e = sample();
        ASSERT_FALSE(spool.commit_message(e, "Subject: x\r\n\r\nbody\r\n"));
        ids.push_back(e.id);
    }
    ASSERT_FALSE(spool.remove(ids[0]));
    EXPECT_EQ(spool.removal_syncs(), 1u);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (std::size_t i = 1 + static_cast<std::size_t>(t); i < ids.size(); i += 8) EXPECT_FALSE(spool.remove(ids[i]));
        });
    for (auto& th : threads) th.join();
    EXPECT_TRUE(spool.list().empty());
    EXPECT_GE(spool.removal_syncs(), 2u);
    EXPECT_LE(spool.removal_syncs(), 64u);
}

// Issue 15: no other local user can list or read the spool.
TEST_F(SpoolTest, OpenMakesTheSpoolPrivate) {
    fs::create_directories(dir_ / "queue");
    fs::permissions(dir_, fs::perms::all);
    fs::permissions(dir_ / "queue", fs::perms::all);
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    for (const fs::path& d : {dir_, dir_ / "queue", dir_ / "tmp", dir_ / "corrupt", dir_ / "spare"})
        EXPECT_EQ(fs::status(d).permissions() & fs::perms::all, fs::perms::owner_all) << d;
    Envelope e = sample();
    ASSERT_FALSE(spool.commit_message(e, "Subject: x\r\n\r\nbody\r\n"));
    EXPECT_EQ(fs::status(spool.message_path(e.id)).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
}

// Free files: a delivered message's file gets the free marker and a new name in queue/,
// and the next message is written into it in place (same inode, same size, no rename); only
// small files are kept. Recovery tells free files from messages by their last octets, also
// in the shapes a power loss can leave.
namespace {
ino_t inode_of(const fs::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

void overwrite(const fs::path& p, std::uint64_t at, std::string_view bytes) {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(at));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The one file in queue/ that is not a .state.
std::vector<std::string> queue_files(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& f : fs::directory_iterator(dir / "queue"))
        if (f.path().extension() != ".state") out.push_back(f.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

constexpr std::string_view kFree = "signpost-free   ";
}  // namespace

TEST_F(SpoolTest, RemovedFileIsReusedInPlace) {
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    Envelope big = sample();
    ASSERT_FALSE(spool.commit_message(big, "Subject: long\r\n\r\n" + std::string(100000, 'x') + "\r\n"));
    const ino_t inode = inode_of(spool.message_path(big.id));
    const auto size = fs::file_size(spool.message_path(big.id));
    ASSERT_NE(inode, 0u);
    ASSERT_FALSE(spool.remove(big.id));
    EXPECT_FALSE(fs::exists(spool.message_path(big.id)));
    EXPECT_EQ(spool.spare_files(), 1u);
    EXPECT_TRUE(spool.list().empty());
    const auto free_name = queue_files(dir_);
    ASSERT_EQ(free_name.size(), 1u);
    EXPECT_NE(free_name[0], big.id);  // a queue id is never used twice
    EXPECT_EQ(read_file(dir_ / "queue" / free_name[0]).substr(size - 84, kFree.size()), kFree);
    std::string why;
    EXPECT_FALSE(spool.load(free_name[0], &why));
    EXPECT_EQ(why, "no message (a free file)");

    Envelope small = sample();
    ASSERT_FALSE(spool.commit_message(small, "Subject: short\r\n\r\nhi\r\n"));
    EXPECT_EQ(small.id, free_name[0]);
    EXPECT_EQ(spool.spare_files(), 0u);
    EXPECT_EQ(inode_of(spool.message_path(small.id)), inode);  // the same file, not a new one
    EXPECT_EQ(fs::file_size(spool.message_path(small.id)), size);  // written in place
    EXPECT_EQ(spool.read_message(small.id).value_or(""), "Subject: short\r\n\r\nhi\r\n");
    EXPECT_EQ(spool.list(), std::vector<std::string>{small.id});
    // It reads back after a restart too: its trailer is at the end of the file.
    Spool again(dir_);
    ASSERT_FALSE(again.open(detail)) << detail;
    auto rec = again.recover();
    ASSERT_EQ(rec.messages.size(), 1u);
    EXPECT_EQ(rec.messages[0].id, small.id);
    EXPECT_TRUE(rec.corrupt.empty());
}

TEST_F(SpoolTest, MessageLargerThanTheFreeFileGrowsIt) {
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    Envelope first = sample();
    ASSERT_FALSE(spool.commit_message(first, "Subject: x\r\n\r\nshort\r\n"));
    ASSERT_FALSE(spool.remove(first.id));
    ASSERT_EQ(spool.spare_files(), 1u);
    // Written in pieces larger than the file: it grows ahead of the bytes.
    std::unique_ptr<IncomingMessage> m;
    ASSERT_FALSE(spool.begin(m));
    std::string want = "Subject: long\r\n\r\n";
    ASSERT_FALSE(m->write(want));
    for (int i = 0; i < 20; ++i) {
        std::string piece(9000, static_cast<char>('a' + i));
        want += piece;
        ASSERT_FALSE(m->write(piece));
    }
    Envelope e = sample();
    ASSERT_FALSE(m->commit(e));
    EXPECT_EQ(spool.read_message(e.id).value_or(""), want);
    Spool again(dir_);
    ASSERT_FALSE(again.open(detail)) << detail;
    auto rec = again.recover();
    ASSERT_EQ(rec.messages.size(), 1u);
    EXPECT_EQ(rec.messages[0].size, want.size());
    EXPECT_TRUE(rec.corrupt.empty());
}

TEST_F(SpoolTest, AbortedMessageGivesItsFileBackAndLargeFilesAreNotKept) {
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    // No free file yet: a new one in spare/, removed on abort.
    std::unique_ptr<IncomingMessage> m;
    ASSERT_FALSE(spool.begin(m));
    ASSERT_FALSE(m->write("partial"));
    m->abort();
    EXPECT_TRUE(fs::is_empty(dir_ / "spare"));
    EXPECT_EQ(spool.spare_files(), 0u);
    // A free file, half overwritten and then aborted: free again, never listed.
    Envelope e = sample();
    ASSERT_FALSE(spool.commit_message(e, "Subject: x\r\n\r\n" + std::string(5000, 'q')));
    ASSERT_FALSE(spool.remove(e.id));
    ASSERT_EQ(spool.spare_files(), 1u);
    ASSERT_FALSE(spool.begin(m));
    ASSERT_FALSE(m->write(std::string(70000, 'p')));  // past the old envelope: flushed
    EXPECT_TRUE(spool.list().empty());
    m->abort();
    EXPECT_EQ(spool.spare_files(), 1u);
    EXPECT_TRUE(spool.list().empty());
    Spool offline(dir_);  // a CLI reading the files: no recover(), still not a message
    EXPECT_TRUE(offline.list().empty());

    Envelope huge = sample();
    ASSERT_FALSE(spool.commit_message(huge, "Subject: x\r\n\r\n" + std::string(kMaxSpareSize + 1, 'y')));
    EXPECT_EQ(spool.spare_files(), 0u);  // it took the free file
    ASSERT_FALSE(spool.remove(huge.id));
    EXPECT_EQ(spool.spare_files(), 0u);  // too large to keep
    EXPECT_TRUE(queue_files(dir_).empty());
}

TEST_F(SpoolTest, StartUpRemovesNewFilesThatWereNeverCommitted) {
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    // A message half written into a new file when the process died, and a stray file.
    std::ofstream(dir_ / "spare" / "00HOFGO6F3U700NNAOVB") << "Subject: half\r\n\r\nhal";
    std::ofstream(dir_ / "spare" / "not-an-id") << "x";
    Spool again(dir_);
    ASSERT_FALSE(again.open(detail)) << detail;
    EXPECT_TRUE(fs::is_empty(dir_ / "spare"));
    EXPECT_TRUE(again.recover().messages.empty());
    EXPECT_EQ(again.spare_files(), 0u);
}

// What a crash or a power loss can leave in queue/, one shape each (the spool's writes are
// replayed here by hand, as the disk could have kept them).
TEST_F(SpoolTest, RecoveryTellsFreeFilesFromMessagesAfterACrash) {
    std::string detail;
    std::vector<std::string> ids;
    {
        Spool spool(dir_);
        ASSERT_FALSE(spool.open(detail)) << detail;
        for (int i = 0; i < 4; ++i) {
            Envelope e = sample();
            ASSERT_FALSE(spool.commit_message(e, "Subject: " + std::to_string(i) + "\r\n\r\n" + std::string(3000, 'm')));
            ids.push_back(e.id);
        }
        // Free files for the next messages, then three messages written in place.
        ASSERT_FALSE(spool.remove_all(ids)[0]);
        ids.clear();
        for (int i = 0; i < 3; ++i) {
            Envelope e = sample();
            ASSERT_FALSE(spool.commit_message(e, "Subject: in place " + std::to_string(i) + "\r\n\r\nbody\r\n"));
            ids.push_back(e.id);
        }
        ASSERT_EQ(spool.spare_files(), 1u);
    }
    const auto files = queue_files(dir_);
    ASSERT_EQ(files.size(), 4u);
    std::string free_file;
    for (const auto& f : files)
        if (std::find(ids.begin(), ids.end(), f) == ids.end()) free_file = f;
    ASSERT_FALSE(free_file.empty());
    // (1) ids[0] was removed and renamed for reuse, but the free marker never reached the
    //     disk: its end is still the message's trailer, naming ids[0].
    const std::string renamed = "00HOFGO6F3U7ZZZZZZZ1";
    fs::rename(dir_ / "queue" / ids[0], dir_ / "queue" / renamed);
    // (2) ids[1]'s in-place write was cut short: its trailer reached the disk, a page of
    //     its bytes did not (never acknowledged).
    overwrite(dir_ / "queue" / ids[1], 0, "Subject: old!");
    // (3) the free file holds part of a message being written: its end is the free marker.
    overwrite(dir_ / "queue" / free_file, 0, "Subject: half written");

    Spool spool(dir_);
    ASSERT_FALSE(spool.open(detail)) << detail;
    auto rec = spool.recover();
    ASSERT_EQ(rec.messages.size(), 1u);
    EXPECT_EQ(rec.messages[0].id, ids[2]);
    ASSERT_EQ(rec.corrupt.size(), 1u);
    EXPECT_EQ(rec.corrupt[0].first, ids[1]);
    EXPECT_EQ(rec.corrupt[0].second, "message checksum mismatch (a write cut short)");
    EXPECT_EQ(spool.list(), std::vector<std::string>{ids[2]});
    EXPECT_EQ(spool.spare_files(), 2u);  // (1) and (3), both ending in the free marker now
    const auto size = fs::file_size(dir_ / "queue" / renamed);
    EXPECT_EQ(read_file(dir_ / "queue" / renamed).substr(size - 84, kFree.size()), kFree);
    // Both are reused, and what is written there reads back.
    for (int i = 0; i < 2; ++i) {
        Envelope e = sample();
        ASSERT_FALSE(spool.commit_message(e, "Subject: again\r\n\r\nok\r\n"));
        EXPECT_TRUE(e.id == renamed || e.id == free_file) << e.id;
        EXPECT_EQ(spool.read_message(e.id).value_or(""), "Subject: again\r\n\r\nok\r\n");
    }
    EXPECT_EQ(spool.spare_files(), 0u);
}

TEST_F(SpoolTest, RemoveAllTakesOneDirectorySyncForTheWholeBatch) {
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        Envelope e = sample();
        ASSERT_FALSE(spool.commit_message(e, "Subject: x\r\n\r\nbody\r\n"));
        ids.push_back(e.id);
    }
    ids.push_back("00HOFGO6F3U700NNAOVB");  // not queued: missing is not an error
    ids.push_back("../escape");            // not a queue id
    const auto syncs = spool.removal_syncs();
    auto results = spool.remove_all(ids);
    ASSERT_EQ(results.size(), ids.size());
    for (std::size_t i = 0; i + 1 < ids.size(); ++i) EXPECT_FALSE(results[i]) << ids[i] << ": " << results[i].message();
    EXPECT_EQ(results.back(), std::errc::invalid_argument);
    EXPECT_EQ(spool.removal_syncs(), syncs + 1);
    EXPECT_TRUE(spool.list().empty());
    EXPECT_EQ(spool.spare_files(), 5u);
}

TEST_F(SpoolTest, SpareFilesAreCappedInBytesAndNoneAreKeptWhenSpaceIsShort) {
    {
        Spool spool(dir_);
        std::string detail;
        ASSERT_FALSE(spool.open(detail)) << detail;
        std::vector<std::string> ids;
        const std::string body(250 * 1024, 'b');  // under kMaxSpareSize each
        for (int i = 0; i < 40; ++i) {
            Envelope e = sample();
            ASSERT_FALSE(spool.commit_message(e, "Subject: x\r\n\r\n" + body));
            ids.push_back(e.id);
        }
        for (const auto& r : spool.remove_all(ids)) EXPECT_FALSE(r) << r.message();
        EXPECT_GT(spool.spare_files(), 0u);
        EXPECT_LE(spool.spare_files(), static_cast<std::size_t>(kMaxSpareBytes / (250 * 1024)));
        std::uintmax_t bytes = 0;
        for (const auto& f : fs::directory_iterator(dir_ / "queue")) bytes += f.file_size();
        EXPECT_EQ(queue_files(dir_).size(), spool.spare_files());
        EXPECT_LE(bytes, kMaxSpareBytes);
    }
    fs::remove_all(dir_);
    std::string detail;
    Envelope e = sample();
    {
        Spool spool(dir_);
        ASSERT_FALSE(spool.open(detail)) << detail;
        ASSERT_FALSE(spool.commit_message(e, "Subject: x\r\n\r\nbody\r\n"));
    }
    // The same spool, now below its free-space floor: the delivered file is removed.
    SpoolOptions short_of_space;
    short_of_space.min_free_space = std::numeric_limits<std::uint64_t>::max();
    Spool spool(dir_, short_of_space);
    ASSERT_FALSE(spool.open(detail)) << detail;
    ASSERT_FALSE(spool.remove(e.id));
    EXPECT_EQ(spool.spare_files(), 0u);
    EXPECT_TRUE(fs::is_empty(dir_ / "queue"));
}
