// tests/unit/delivery/test_capture.cpp — CaptureDeliverer writes exactly the wire bytes
// before dot-stuffing and the envelope, atomically; file errors are temporary; and the
// factory picks the Deliverer per [delivery] mode.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <future>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "fake_server.hpp"
#include "relay/delivery/capture.hpp"
#include "relay/delivery/mx.hpp"
#include "relay/delivery/factory.hpp"
#include "relay/delivery/smarthost.hpp"

namespace {

namespace asio = boost::asio;
using namespace signpost;
using namespace signpost::delivery;
using namespace signpost::delivery::test;
using namespace std::chrono_literals;

std::vector<RecipientResult> deliver_and_wait(Deliverer& d, Job job) {
    std::promise<std::vector<RecipientResult>> promise;
    auto future = promise.get_future();
    int calls = 0;
    d.deliver(std::move(job), [&](std::vector<RecipientResult> r) {
        ++calls;
        promise.set_value(std::move(r));
    });
    EXPECT_EQ(future.wait_for(10s), std::future_status::ready);
    auto r = future.get();
    EXPECT_EQ(calls, 1);
    return r;
}

std::vector<std::string> names_in(const std::filesystem::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

TEST(delivery_Capture, WritesExactBytesAndEnvelope) {
    TempDir dir;
    const auto capture = dir.path() / "nested" / "capture";  // created, parents too
    const std::string message = "From: a@example.test\r\nSubject: x\r\n\r\n.dot line\r\nno final CRLF";
    const std::string prepend = "DKIM-Signature: v=1; d=example.test\r\n";
    Job job = make_job(dir.path(), message, {"b@example.org", "c@example.org"}, prepend, "0123ABCD");
    job.mail_from = "alice@example.test";

    asio::thread_pool pool(1);
    CaptureDeliverer d(capture, pool.get_executor());
    auto results = deliver_and_wait(d, job);
    ASSERT_EQ(results.size(), 2u);
    for (const auto& r : results) {
        EXPECT_EQ(r.outcome, Outcome::delivered) << r.text;
        EXPECT_EQ(r.code, 250);
        EXPECT_EQ(r.enhanced, "2.0.0");
    }
    EXPECT_EQ(results[0].address, "b@example.org");
    EXPECT_EQ(read_file(capture / "0123ABCD.eml"), prepend + message);  // not stuffed, nothing past size
    EXPECT_EQ(read_file(capture / "0123ABCD.envelope"),
              "MAIL FROM:<alice@example.test>\nRCPT TO:<b@example.org>\nRCPT TO:<c@example.org>\n");
    EXPECT_EQ(names_in(capture), (std::vector<std::string>{"0123ABCD.eml", "0123ABCD.envelope"}));  // no temp files
    struct stat st {};
    ASSERT_EQ(::stat(capture.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    pool.join();
}

TEST(delivery_Capture, NullSenderAndLargeMessage) {
    TempDir dir;
    std::string message;
    for (int i = 0; i < 20000; ++i) message += "line " + std::to_string(i) + " of a message over several blocks\r\n";
    Job job = make_job(dir.path(), message, {"b@example.org"}, "", "BIG1");
    job.mail_from = "";
    auto results = capture_job(dir.path() / "cap", job);
    EXPECT_EQ(results.at(0).outcome, Outcome::delivered);
    EXPECT_EQ(read_file(dir.path() / "cap" / "BIG1.eml"), message);
    EXPECT_EQ(read_file(dir.path() / "cap" / "BIG1.envelope"), "MAIL FROM:<>\nRCPT TO:<b@example.org>\n");
}

TEST(delivery_Capture, FileErrorsAreTemporaryForEveryRecipient) {
    TempDir dir;
    write_file(dir.path() / "a-file", "x");
    struct Row {
        std::string name;
        std::filesystem::path capture_dir;
        std::function<void(Job&)> change;
        std::string text_has;
    };
    const std::vector<Row> rows = {
        {"capture dir is a file", dir.path() / "a-file", [](Job&) {}, "a-file"},
        {"capture dir under a file", dir.path() / "a-file" / "sub", [](Job&) {}, "a-file"},
        {"message file missing", dir.path() / "cap1", [](Job& j) { std::filesystem::remove(j.message_file); },
         "No such file"},
        {"message file shorter than size", dir.path() / "cap2", [](Job& j) { j.size += 1000000; }, "shorter"},
        {"queue id is a path", dir.path() / "cap3", [](Job& j) { j.queue_id = "../escape"; }, "invalid queue id"},
    };
    for (const auto& row : rows) {
        Job job = make_job(dir.path(), "Subject: x\r\n\r\nbody\r\n", {"b@example.org", "c@example.org"});
        row.change(job);
        auto results = capture_job(row.capture_dir, job);
        ASSERT_EQ(results.size(), 2u) << row.name;
        for (const auto& r : results) {
            EXPECT_EQ(r.outcome, Outcome::temporary) << row.name;
            EXPECT_EQ(r.code, 0) << row.name;
            EXPECT_EQ(r.enhanced, "4.3.0") << row.name;
            EXPECT_NE(r.text.find(row.text_has), std::string::npos) << row.name << ": " << r.text;
        }
        // Nothing half-written is left behind under a final name.
        std::error_code ec;
        if (std::filesystem::is_directory(row.capture_dir, ec)) {
            for (const auto& name : names_in(row.capture_dir))
                EXPECT_EQ(name.find(".eml"), std::string::npos) << row.name << ": " << name;
        }
    }
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "escape.eml"));
}

TEST(delivery_Capture, SecondDeliveryReplacesTheFiles) {
    TempDir dir;
    auto first = make_job(dir.path(), "Subject: 1\r\n\r\n", {"b@example.org", "c@example.org"}, "", "SAME");
    EXPECT_EQ(capture_job(dir.path() / "cap", first).at(0).outcome, Outcome::delivered);
    auto second = make_job(dir.path(), "Subject: 2\r\n\r\n", {"c@example.org"}, "", "SAME");
    EXPECT_EQ(capture_job(dir.path() / "cap", second).at(0).outcome, Outcome::delivered);
    EXPECT_EQ(read_file(dir.path() / "cap" / "SAME.eml"), "Subject: 2\r\n\r\n");
    EXPECT_EQ(read_file(dir.path() / "cap" / "SAME.envelope"), "MAIL FROM:<alice@example.test>\nRCPT TO:<c@example.org>\n");
}

TEST(delivery_Capture, StopAnswersTemporary) {
    TempDir dir;
    asio::thread_pool pool(1);
    CaptureDeliverer d(dir.path() / "cap", pool.get_executor());
    d.stop();
    auto results = deliver_and_wait(d, make_job(dir.path(), "Subject: x\r\n\r\n", {"b@example.org"}));
    EXPECT_EQ(results.at(0).outcome, Outcome::temporary);
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "cap" / "Q1.eml"));
    pool.join();
}

TEST(delivery_Factory, PicksTheDelivererPerMode) {
    TempDir dir;
    asio::io_context io;
    asio::thread_pool pool(1);
    auto logger = log::make_root(config::LogFormat::text, config::LogLevel::off);

    config::Config c;
    c.server.hostname = "relay.example.net";
    std::string error;

    c.delivery.mode = config::DeliveryMode::mx;
    c.queue.dir = dir.path() / "spool";  // the MTA-STS cache goes under it
    c.dns.forwarders = {config::Endpoint{"127.0.0.1", 9}};  // never asked here
    auto mx = make_deliverer(c, io.get_executor(), pool.get_executor(), logger, error);
    ASSERT_NE(mx, nullptr) << error;
    EXPECT_NE(dynamic_cast<MxDeliverer*>(mx.get()), nullptr);
    EXPECT_TRUE(std::filesystem::is_directory(dir.path() / "spool" / "mta-sts"));

    error.clear();
    c.delivery.mode = config::DeliveryMode::capture;
    c.delivery.capture_dir = dir.path() / "cap";
    auto capture = make_deliverer(c, io.get_executor(), pool.get_executor(), logger, error);
    ASSERT_NE(capture, nullptr) << error;
    EXPECT_NE(dynamic_cast<CaptureDeliverer*>(capture.get()), nullptr);

    c.delivery.mode = config::DeliveryMode::smarthost;
    c.delivery.smarthost = config::Endpoint{"127.0.0.1", 587};
    auto smarthost = make_deliverer(c, io.get_executor(), pool.get_executor(), logger, error);
    ASSERT_NE(smarthost, nullptr) << error;
    EXPECT_NE(dynamic_cast<SmarthostDeliverer*>(smarthost.get()), nullptr);

    c.delivery.smarthost_credentials_file = dir.path() / "missing-credentials";
    EXPECT_EQ(make_deliverer(c, io.get_executor(), pool.get_executor(), logger, error), nullptr);
    EXPECT_NE(error.find("smarthost_credentials_file"), std::string::npos) << error;
    pool.join();
}

}  // namespace
