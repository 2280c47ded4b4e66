// Unit tests for the spool's group commit (relay/queue/spool): many sessions committing at
// once each end with a complete, correct file in queue/ and nothing in tmp/; batches share
// one fsync of queue/; errors reach every commit() they concern and leave nothing queued;
// with group commit off every message gets its own fsync of queue/.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unistd.h>

#include "relay/queue/spool.hpp"

using namespace signpost::queue;
namespace fs = std::filesystem;

namespace {

Envelope envelope_for(const std::string& who) {
    Envelope e;
    e.mail_from = who + "@example.test";
    e.set_recipients({"bob@example.org"});
    e.user = who;
    e.client = "127.0.0.1";
    return e;
}

class GroupCommitTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("sp-gc-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove(dir_ / "queue", ec);  // a file planted by a test, if any
        fs::remove_all(dir_, ec);
    }

    // `threads` threads each commit `per_thread` messages; returns id -> body committed.
    std::map<std::string, std::string> commit_concurrently(Spool& spool, int threads, int per_thread) {
        std::map<std::string, std::string> committed;
        std::mutex mu;
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) {
            pool.emplace_back([&, t] {
                for (int i = 0; i < per_thread; ++i) {
                    std::string body = "Subject: t" + std::to_string(t) + " m" + std::to_string(i) + "\r\n\r\n" +
                                       std::string(static_cast<std::size_t>(100 + 37 * i + t), 'a' + t % 26);
                    std::unique_ptr<IncomingMessage> m;
                    ASSERT_FALSE(spool.begin(m));
                    ASSERT_FALSE(m->write(body));
                    Envelope e = envelope_for("t" + std::to_string(t));
                    e.size = body.size();
                    ASSERT_FALSE(m->commit(e));
                    ASSERT_EQ(e.id, m->id());
                    std::lock_guard lk(mu);
                    committed.emplace(e.id, body);
                }
            });
        }
        for (auto& th : pool) th.join();
        return committed;
    }

    void expect_complete(const Spool& spool, const std::map<std::string, std::string>& committed) {
        std::vector<std::string> want;
        for (const auto& [id, body] : committed) want.push_back(id);
        EXPECT_EQ(spool.list(), want);
        for (const auto& [id, body] : committed) {
            EXPECT_EQ(spool.read_message(id).value_or(""), body) << id;
            auto env = spool.load(id);
            ASSERT_TRUE(env) << id;
            EXPECT_EQ(env->id, id);
            EXPECT_EQ(env->size, body.size());
        }
        EXPECT_TRUE(fs::is_empty(dir_ / "tmp"));
        std::size_t files = 0;
        for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir_ / "queue")) ++files;
        EXPECT_EQ(files, committed.size());
    }

    fs::path dir_;
};

TEST_F(GroupCommitTest, ConcurrentCommitsAreCompleteAndShareDirectorySyncs) {
    Spool spool(dir_);  // group commit is the default
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    auto committed = commit_concurrently(spool, 8, 50);
    ASSERT_EQ(committed.size(), 400u);
    expect_complete(spool, committed);
    EXPECT_EQ(spool.dir_syncs(), spool.batches());
    EXPECT_GE(spool.dir_syncs(), 1u);
    EXPECT_LT(spool.dir_syncs(), committed.size());
    // A restart keeps every committed message.
    Spool again(dir_);
    ASSERT_FALSE(again.open(detail)) << detail;
    expect_complete(again, committed);
}

TEST_F(GroupCommitTest, WithoutGroupCommitEachMessageSyncsTheDirectory) {
    Spool spool(dir_, SpoolOptions{.group_commit = false});
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    auto committed = commit_concurrently(spool, 4, 10);
    ASSERT_EQ(committed.size(), 40u);
    expect_complete(spool, committed);
    EXPECT_EQ(spool.dir_syncs(), 40u);
    EXPECT_EQ(spool.batches(), 40u);
}

TEST_F(GroupCommitTest, UnusableQueueDirectoryFailsEveryCommitAndLeavesNothing) {
    for (bool group : {true, false}) {
        SCOPED_TRACE(group ? "group commit" : "one fsync per message");
        fs::remove_all(dir_);
        Spool spool(dir_, SpoolOptions{.group_commit = group});
        std::string detail;
        ASSERT_FALSE(spool.open(detail)) << detail;
        constexpr int kMessages = 8;
        std::vector<std::unique_ptr<IncomingMessage>> msgs(kMessages);
        for (auto& m : msgs) {
            ASSERT_FALSE(spool.begin(m));
            ASSERT_FALSE(m->write("Subject: x\r\n\r\nbody\r\n"));
        }
        // queue/ replaced by a plain file before the batch: every rename into it fails.
        fs::rename(dir_ / "queue", dir_ / "queue.real");
        std::ofstream(dir_ / "queue") << "not a directory";
        std::vector<std::error_code> results(kMessages);
        std::vector<std::thread> pool;
        for (int i = 0; i < kMessages; ++i)
            pool.emplace_back([&, i] {
                Envelope e = envelope_for("u");
                results[static_cast<std::size_t>(i)] = msgs[static_cast<std::size_t>(i)]->commit(e);
            });
        for (auto& th : pool) th.join();
        for (const auto& ec : results) EXPECT_TRUE(ec);
        msgs.clear();  // the sessions give up: their temporaries go
        EXPECT_TRUE(fs::is_empty(dir_ / "tmp"));
        EXPECT_TRUE(fs::is_empty(dir_ / "queue.real"));
        fs::remove(dir_ / "queue");
        fs::rename(dir_ / "queue.real", dir_ / "queue");
        EXPECT_TRUE(spool.list().empty());
        // The spool works again once queue/ is back.
        std::unique_ptr<IncomingMessage> m;
        ASSERT_FALSE(spool.begin(m));
        ASSERT_FALSE(m->write("Subject: y\r\n\r\n"));
        Envelope e = envelope_for("u");
        ASSERT_FALSE(m->commit(e));
        EXPECT_EQ(spool.list(), std::vector<std::string>{e.id});
    }
}

TEST_F(GroupCommitTest, OneFailingMessageFailsAloneInItsBatch) {
    Spool spool(dir_);
    std::string detail;
    ASSERT_FALSE(spool.open(detail)) << detail;
    constexpr int kMessages = 16;
    std::vector<std::unique_ptr<IncomingMessage>> msgs(kMessages);
    for (auto& m : msgs) {
        ASSERT_FALSE(spool.begin(m));
        ASSERT_FALSE(m->write("Subject: x\r\n\r\n" + m->id() + "\r\n"));
    }
    // Every third message loses its file (spare/<id> for new files): its rename into
    // queue/ fails (ENOENT).
    std::set<std::string> broken;
    for (std::size_t i = 0; i < msgs.size(); i += 3) {
        broken.insert(msgs[i]->id());
        fs::remove(dir_ / "spare" / msgs[i]->id());
    }
    std::vector<std::error_code> results(kMessages);
    std::vector<std::string> ids(kMessages);
    std::vector<std::thread> pool;
    for (int i = 0; i < kMessages; ++i)
        pool.emplace_back([&, i] {
            auto k = static_cast<std::size_t>(i);
            Envelope e = envelope_for("u");
            results[k] = msgs[k]->commit(e);
            ids[k] = e.id;
        });
    for (auto& th : pool) th.join();
    std::vector<std::string> good;
    for (std::size_t k = 0; k < msgs.size(); ++k) {
        if (broken.count(ids[k])) {
            EXPECT_EQ(results[k], std::errc::no_such_file_or_directory) << ids[k];
        } else {
            EXPECT_FALSE(results[k]) << ids[k] << ": " << results[k].message();
            good.push_back(ids[k]);
        }
    }
    msgs.clear();
    std::sort(good.begin(), good.end());
    EXPECT_EQ(spool.list(), good);
    for (const auto& id : good) EXPECT_EQ(spool.read_message(id).value_or(""), "Subject: x\r\n\r\n" + id + "\r\n");
    for (const auto& id : broken) EXPECT_FALSE(fs::exists(dir_ / "queue" / id));
    EXPECT_TRUE(fs::is_empty(dir_ / "tmp"));
}

}  // namespace
