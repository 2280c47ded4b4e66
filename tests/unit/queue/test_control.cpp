// Unit tests for relay/queue/control: the request line, the list/show views, the spool lock
// and the offline commands (the daemon is not running: they edit the state files).
#include <gtest/gtest.h>

#include <unistd.h>

#include "relay/queue/control.hpp"

using namespace signpost::queue;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

TEST(ControlLine, ParsesEveryCommandAndRefusesTheRest) {
    std::string error;
    auto r = parse_control_line("list json\n", error);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->command, "list");
    EXPECT_TRUE(r->json);
    EXPECT_FALSE(r->id);
    r = parse_control_line("hold 00HOFGO6F3U700NNAOVB\n", error);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->command, "hold");
    EXPECT_EQ(*r->id, "00HOFGO6F3U700NNAOVB");
    r = parse_control_line("flush\n", error);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->id);
    EXPECT_EQ(format_control_line(*parse_control_line("show 00HOFGO6F3U700NNAOVB json", error)),
              "show 00HOFGO6F3U700NNAOVB json\n");

    struct Bad {
        const char* line;
        const char* error;
    } bad[] = {
        {"", "no command"},
        {"rm -rf /\n", "unknown command"},
        {"hold\n", "needs a queue id"},
        {"delete ../../etc/passwd\n", "is not a queue id"},
        {"show 00hofgo6f3u700nnaovb\n", "is not a queue id"},
        {"list 00HOFGO6F3U700NNAOVB\n", "too many arguments"},
        {"bounce 00HOFGO6F3U700NNAOVB 00HOFGO6F3U700NNAOVC\n", "too many arguments"},
    };
    for (const auto& b : bad) {
        error.clear();
        EXPECT_FALSE(parse_control_line(b.line, error)) << b.line;
        EXPECT_NE(error.find(b.error), std::string::npos) << b.line << " -> " << error;
    }
}

Envelope deferred_sample(Clock::time_point now) {
    Envelope e;
    e.id = "00HOFGO6F3U700NNAOVB";
    e.mail_from = "alice@example.test";
    e.set_recipients({"bob@example.org", "carol@example.net"});
    e.user = "dev";
    e.arrival = now - 3700s;
    e.size = 4321;
    e.recipients[0].state = RcptState::delivered;
    e.recipients[0].attempts = 1;
    e.recipients[0].reply_code = 250;
    e.recipients[1].attempts = 2;
    e.recipients[1].last_attempt = now - 60s;
    e.recipients[1].next_attempt = now + 540s;
    e.recipients[1].reply_code = 451;
    e.recipients[1].enhanced = "4.7.1";
    e.recipients[1].reply_text = "greylisted \"try\" later";
    e.recipients[1].remote_host = "mx.example.net[127.0.0.12]:25";
    return e;
}

TEST(ControlView, ListShowsStateNextAttemptAndLastReply) {
    auto now = Clock::now();
    Envelope e = deferred_sample(now);
    std::string text = render_list({e}, {}, now, false);
    EXPECT_NE(text.find("00HOFGO6F3U700NNAOVB"), std::string::npos) << text;
    EXPECT_NE(text.find("1h1m"), std::string::npos) << text;     // age
    EXPECT_NE(text.find("deferred"), std::string::npos) << text;
    EXPECT_NE(text.find("in 9m"), std::string::npos) << text;    // next attempt
    EXPECT_NE(text.find("<carol@example.net> pending, 2 attempts: 451 4.7.1 greylisted"), std::string::npos) << text;
    EXPECT_NE(text.find("(mx.example.net[127.0.0.12]:25)"), std::string::npos) << text;
    EXPECT_NE(text.find("1 message"), std::string::npos);
    EXPECT_NE(render_list({e}, {e.id}, now, false).find("active"), std::string::npos);
    e.held = true;
    EXPECT_NE(render_list({e}, {}, now, false).find("held"), std::string::npos);

    e.held = false;
    std::string json = render_list({e}, {}, now, true);
    EXPECT_NE(json.find("\"id\":\"00HOFGO6F3U700NNAOVB\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"state\":\"deferred\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"last_error\":\"451 4.7.1 greylisted \\\"try\\\" later\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"attempts\":2"), std::string::npos) << json;
    EXPECT_EQ(render_list({}, {}, now, true), "[]\n");
    EXPECT_EQ(render_list({}, {}, now, false), "The queue is empty.\n");

    std::string show = render_show(e, "Subject: hi\r\n\r\n", false, now);
    EXPECT_NE(show.find("Subject: hi\n"), std::string::npos) << show;
    EXPECT_NE(show.find("reply: 451 4.7.1"), std::string::npos) << show;
}

class OfflineTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("sp-ctl-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        spool_ = std::make_unique<Spool>(dir_);
        std::string detail;
        ASSERT_FALSE(spool_->open(detail)) << detail;
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string commit() {
        Envelope e;
        e.mail_from = "alice@example.test";
        e.set_recipients({"bob@example.org"});
        e.arrival = Clock::now();
        EXPECT_FALSE(spool_->commit_message(e, "Subject: x\r\n\r\nbody\r\n"));
        return e.id;
    }

    ControlAnswer run(std::string command, std::optional<std::string> id = std::nullopt) {
        ControlRequest r;
        r.command = std::move(command);
        r.id = std::move(id);
        return run_offline(*spool_, r, Clock::now());
    }

    fs::path dir_;
    std::unique_ptr<Spool> spool_;
};

TEST_F(OfflineTest, CommandsEditTheStateFiles) {
    std::string a = commit(), b = commit();
    EXPECT_TRUE(run("hold", a).ok);
    EXPECT_TRUE(spool_->load(a)->held);
    EXPECT_TRUE(run("release", a).ok);
    EXPECT_FALSE(spool_->load(a)->held);
    EXPECT_TRUE(run("bounce", a).ok);
    auto bounced = spool_->load(a);
    EXPECT_EQ(bounced->recipients[0].state, RcptState::failed);
    EXPECT_FALSE(bounced->recipients[0].reported);  // the daemon queues the DSN at start
    EXPECT_EQ(bounced->recipients[0].enhanced, "5.0.0");
    EXPECT_TRUE(run("delete", b).ok);
    EXPECT_EQ(spool_->list(), std::vector<std::string>{a});
    auto missing = run("hold", "00HOFGO6F3U700000000");
    EXPECT_FALSE(missing.ok);
    EXPECT_NE(missing.text.find("no message"), std::string::npos);
    auto listed = run("list");
    EXPECT_TRUE(listed.ok);
    EXPECT_NE(listed.text.find(a), std::string::npos);
    EXPECT_NE(run("show", a).text.find("Subject: x"), std::string::npos);
}

TEST_F(OfflineTest, TheLockIsExclusive) {
    std::string error;
    auto first = SpoolLock::acquire(dir_, error);
    ASSERT_TRUE(first) << error;
    // flock locks belong to the open file description: a second open in this process
    // conflicts just as another process would.
    auto second = SpoolLock::acquire(dir_, error);
    EXPECT_FALSE(second);
    EXPECT_NE(error.find("held by a running signpost"), std::string::npos) << error;
    first.reset();
    EXPECT_TRUE(SpoolLock::acquire(dir_, error));
}

}  // namespace
