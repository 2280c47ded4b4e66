// Unit tests for relay/submission/ingest: From parsing, fix-ups, the refusal rules, and
// that what is committed verifies — however the bytes were chunked on the way in.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <unistd.h>

#include "keys/store.hpp"
#include "relay/submission/ingest.hpp"
#include "signer/verify.hpp"

using namespace signpost;
using namespace signpost::submission;
namespace fs = std::filesystem;

namespace {

TEST(SingleMailbox, Forms) {
    struct Case {
        std::string value;
        std::string want;  // "" = refused
        std::string problem;
    };
    std::vector<Case> cases = {
        {" alice@example.test", "alice@example.test", ""},
        {" Alice <alice@example.test>", "alice@example.test", ""},
        {" \"Smith, Alice\" <alice@example.test>", "alice@example.test", ""},
        {" alice@example.test (Alice, at work)", "alice@example.test", ""},
        {" =?UTF-8?B?w6lsaXNl?= <elise@example.test>", "elise@example.test", ""},
        {"\r\n <folded@example.test>", "folded@example.test", ""},
        {" \"odd@quoted\"@example.test", "\"odd@quoted\"@example.test", ""},
        {" a@example.test, b@example.test", "", "2 addresses"},
        {" Team: a@example.test, b@example.test;", "", "2 addresses"},
        {" undisclosed-recipients:;", "", "empty group"},
        {" ", "", "no address"},
        {" Alice", "", "cannot be read"},
        {" <alice@example.test", "", "cannot be read"},
        // Forms that parsers read differently ("Composition Kills", USENIX Security 2020):
        {" x@other.test <dev@example.test>", "", "cannot be read"},
        {" <dev@example.test>x@other.test", "", "cannot be read"},
        {" <dev@example.test> x@other.test", "", "cannot be read"},
        {" <dev@example.test>\r\n\tx@other.test", "", "cannot be read"},
        {" x@other.test dev@example.test", "", "cannot be read"},
        {" dev@example.test@other.test", "", "cannot be read"},
        {" <dev@example.test> (comment after is fine)", "dev@example.test", ""},
        {" \"x@other.test\" <dev@example.test>", "dev@example.test", ""},
        {" dev@[192.0.2.1]", "dev@[192.0.2.1]", ""},
        {" A. B. Name <a.b@example.test>", "a.b@example.test", ""},
        {" alice@", "", "cannot be read"},
    };
    for (const auto& c : cases) {
        std::string problem;
        auto got = single_mailbox(c.value, problem);
        if (c.want.empty()) {
            EXPECT_FALSE(got) << c.value;
            EXPECT_NE(problem.find(c.problem), std::string::npos) << c.value << " -> " << problem;
        } else {
            ASSERT_TRUE(got) << c.value << " -> " << problem;
            EXPECT_EQ(*got, c.want);
        }
    }
}

class IngestTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("sp-ingest-" + std::to_string(::getpid()) + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        make_config(true);
        keys_ = std::make_shared<keys::KeyStore>(dir_ / "keys");
        spool_ = std::make_shared<queue::Spool>(dir_ / "spool");
        std::string detail;
        ASSERT_FALSE(spool_->open(detail)) << detail;
    }
    void TearDown() override { fs::remove_all(dir_); }

    void make_config(bool received_client) {
        std::string text = "[server]\nhostname = \"relay.example.test\"\nreceived_client = " +
                           std::string(received_client ? "true" : "false") +
                           "\n[[listener]]\naddress = \"127.0.0.1:2587\"\n[tls]\ncert = \"c\"\nkey = \"k\"\n"
                           "[auth]\nusers_file = \"u\"\n[[domain]]\nname = \"example.test\"\nalgorithms = [\"ed25519\"]\n"
                           "[[domain]]\nname = \"parent.test\"\nalgorithms = [\"ed25519\"]\nsign_subdomains = true\n";
        config::LoadOptions opts;
        opts.check_files = false;
        auto loaded = config::load_string(text, "test.toml", {}, opts);
        ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
        config_ = loaded.config;
    }

    // An active Ed25519 key for `domain`, as `keys activate --now` leaves it.
    void activate(const std::string& domain) {
        const config::DomainConfig* d = config_->find_domain(domain);
        std::vector<keys::Event> events;
        keys::StoreIssue issue;
        auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
        ASSERT_TRUE(keys_->update(domain, [&](const keys::DomainView& v, keys::StoreIssue&) {
            return keys::add_pending_key(v.state, keys::RotationPolicy::from(*d), config::DkimAlgorithm::ed25519, now, {});
        }, events, issue)) << issue.to_string();
        ASSERT_TRUE(keys_->update(domain, [&](const keys::DomainView& v, keys::StoreIssue&) {
            return keys::activate_now(v.state, v.state.pending(config::DkimAlgorithm::ed25519)->selector, now);
        }, events, issue));
        ASSERT_TRUE(keys_->reload(config_->domains).empty());
    }

    std::unique_ptr<Ingest> make_ingest(std::string user = "dev", bool inbound = false) {
        std::unique_ptr<queue::IncomingMessage> file;
        EXPECT_FALSE(spool_->begin(file));
        IngestContext ctx;
        ctx.user = std::move(user);
        ctx.client_address = "192.0.2.7";
        ctx.client_name = "nas.lan";
        ctx.tls = "TLSv1.3 TLS_AES_128_GCM_SHA256";
        ctx.envelope = envelope_;
        ctx.inbound = inbound;
        SenderCheck allow = [](const std::string& u, const std::string& a) {
            return u == "dev" && (a.ends_with("example.test") || a.ends_with("parent.test"));
        };
        return std::make_unique<Ingest>(config_, keys_, allow, std::move(file), std::move(ctx));
    }

    IngestResult run(const std::string& message, std::size_t chunk = 0, std::string user = "dev") {
        auto ingest = make_ingest(std::move(user));
        if (chunk == 0) {
            ingest->write(message);
        } else {
            for (std::size_t i = 0; i < message.size(); i += chunk) ingest->write(std::string_view(message).substr(i, chunk));
        }
        return ingest->finish(std::chrono::system_clock::time_point(std::chrono::seconds(1795437654)));
    }

    std::string delivered(const std::string& id) {
        auto env = spool_->load(id);
        return env->prepend + spool_->read_message(id).value();
    }

    std::vector<signer::SignatureResult> verify(const std::string& message) {
        auto lookup = [this](std::string_view selector, std::string_view domain) {
            keys::DomainView view;
            keys::StoreIssue issue;
            keys_->read(domain, view, issue);
            const keys::KeyEntry* k = view.state.find(selector);
            if (!k) return signer::LookupResult::not_found();
            return signer::LookupResult::found(keys_->load_key(domain, *k, issue)->dns_record());
        };
        auto r = signer::verify(message, lookup, std::chrono::system_clock::time_point(std::chrono::seconds(1795437654)));
        return r ? *r : std::vector<signer::SignatureResult>{};
    }

    smtp::Envelope envelope_{"alice@example.test", {"bob@example.org"}, std::nullopt, false, false};
    fs::path dir_;
    std::shared_ptr<const config::Config> config_;
    std::shared_ptr<keys::KeyStore> keys_;
    std::shared_ptr<queue::Spool> spool_;
};

const std::string kMessage =
    "From: Alice <alice@example.test>\r\nTo: bob@example.org\r\nSubject: hello\r\n\r\n"
    "Line one\r\n  spaced   line  \r\n\r\n\r\n";

TEST_F(IngestTest, CommitsWithFixupsAndAVerifyingSignatureForAnyChunking) {
    activate("example.test");
    std::string first_bh;
    for (std::size_t chunk : {0, 1, 2, 3, 7, 64}) {
        SCOPED_TRACE("chunk " + std::to_string(chunk));
        IngestResult r = run(kMessage, chunk);
        ASSERT_EQ(r.reply.code, 250) << r.reply.wire();
        EXPECT_EQ(r.reply.enhanced, "2.0.0");
        EXPECT_EQ(r.reply.lines.at(0), "Ok: queued as " + r.queue_id);
        EXPECT_EQ(r.signed_domain, "example.test");
        std::string text = delivered(r.queue_id);
        EXPECT_EQ(text.rfind("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.test;", 0), 0u) << text;
        EXPECT_NE(text.find("Received: from nas.lan ([192.0.2.7])\r\n\tby relay.example.test (Signpost) with ESMTPSA id " +
                            r.queue_id + "\r\n\t(TLSv1.3 TLS_AES_128_GCM_SHA256);\r\n\tMon, 23 Nov 2026 12:40:54 +0000\r\n"),
                  std::string::npos) << text;
        EXPECT_NE(text.find("Date: Mon, 23 Nov 2026 12:40:54 +0000\r\n"), std::string::npos);
        EXPECT_NE(text.find("Message-ID: <" + r.queue_id + "@relay.example.test>\r\n"), std::string::npos);
        EXPECT_NE(text.find(kMessage), std::string::npos);  // the message itself is untouched
        auto results = verify(text);
        ASSERT_EQ(results.size(), 1u);
        EXPECT_TRUE(results[0].passed()) << signer::to_string(results[0].reason) << " " << results[0].detail;
        std::string bh = text.substr(text.find("bh="), 47);
        if (first_bh.empty()) first_bh = bh;
        EXPECT_EQ(bh, first_bh);
    }
}

TEST_F(IngestTest, ExistingDateAndMessageIdAreKeptAndPrivacyHidesTheClient) {
    make_config(false);
    activate("example.test");
    std::string msg = "Date: Sun, 1 Nov 2026 10:00:00 +0100\r\nMessage-ID: <x@nas>\r\n" + kMessage;
    IngestResult r = run(msg);
    ASSERT_EQ(r.reply.code, 250);
    std::string text = delivered(r.queue_id);
    EXPECT_EQ(text.find("Date: Mon"), std::string::npos);
    EXPECT_EQ(text.find("Message-ID: <" + r.queue_id), std::string::npos);
    EXPECT_NE(text.find("Received: by relay.example.test (Signpost) with ESMTPSA id " + r.queue_id + ";"), std::string::npos);
    EXPECT_EQ(text.find("192.0.2.7"), std::string::npos);
    EXPECT_EQ(text.find("nas.lan"), std::string::npos);
    EXPECT_TRUE(verify(text).at(0).passed());
}

TEST_F(IngestTest, SubdomainSignsWithTheParentsKey) {
    activate("parent.test");
    IngestResult r = run("From: x@news.parent.test\r\nSubject: s\r\n\r\nbody\r\n");
    ASSERT_EQ(r.reply.code, 250) << r.reply.wire();
    EXPECT_EQ(r.signed_domain, "parent.test");
    EXPECT_TRUE(verify(delivered(r.queue_id)).at(0).passed());
}

TEST_F(IngestTest, RefusalsHaveExactCodesAndQueueNothing) {
    activate("example.test");
    struct Case {
        std::string message;
        std::string user;
        int code;
        std::string enhanced;
        std::string text;
    };
    std::vector<Case> cases = {
        {"From: mallory@other.test\r\n\r\nx\r\n", "dev", 550, "5.7.1", "may not send as From: <mallory@other.test>"},
        {"From: alice@example.test\r\n\r\nx\r\n", "eve", 550, "5.7.1", "User eve may not send"},
        {"From: a@example.test\r\nFrom: b@example.test\r\n\r\nx\r\n", "dev", 550, "5.6.0", "2 From fields"},
        {"From: a@example.test, b@example.test\r\n\r\nx\r\n", "dev", 550, "5.6.0", "2 addresses"},
        {"Subject: no from\r\n\r\nx\r\n", "dev", 550, "5.6.0", "no From field"},
        {"From: a@parent.test\r\n\r\nx\r\n", "dev", 451, "4.7.0", "No DKIM key for parent.test is active yet"},
        {"From: x@unlisted.example.test\r\n\r\nx\r\n", "dev", 550, "5.7.1", "does not sign for unlisted.example.test"},
        {"From: a@example.test\r\nX: " + std::string(kMaxHeaderBytes, 'x') + "\r\n\r\nbody\r\n", "dev", 552, "5.3.4",
         "header section is larger"},
        {"From a@example.test\r\n\r\nx\r\n", "dev", 550, "5.6.0", "malformed"},
    };
    for (const auto& c : cases) {
        IngestResult r = run(c.message, 5, c.user);
        EXPECT_EQ(r.reply.code, c.code) << c.message.substr(0, 60) << " -> " << r.reply.wire();
        EXPECT_EQ(r.reply.enhanced, c.enhanced) << r.reply.wire();
        EXPECT_NE(r.reply.lines.at(0).find(c.text), std::string::npos) << r.reply.wire();
        EXPECT_TRUE(r.queue_id.empty());
    }
    EXPECT_TRUE(spool_->list().empty());
    EXPECT_TRUE(fs::is_empty(dir_ / "spool" / "tmp"));
}

TEST_F(IngestTest, HeaderOnlyMessageIsSignedWithAnEmptyBody) {
    activate("example.test");
    IngestResult r = run("From: alice@example.test\r\nSubject: no body\r\n");
    ASSERT_EQ(r.reply.code, 250) << r.reply.wire();
    EXPECT_TRUE(verify(delivered(r.queue_id)).at(0).passed());
}

TEST(TlsRequiredNo, OneFieldSayingNo) {
    // RFC 8689 §3: "TLS-Required: No"; any case, white space and folding ignored.
    EXPECT_TRUE(tls_required_no("From: a@example.test\r\nTLS-Required: No\r\nSubject: x\r\n"));
    EXPECT_TRUE(tls_required_no("tls-required:no\r\n"));
    EXPECT_TRUE(tls_required_no("Subject: x\r\nTLS-Required:\r\n  NO \r\n"));
    EXPECT_FALSE(tls_required_no("From: a@example.test\r\nSubject: x\r\n"));
    EXPECT_FALSE(tls_required_no("TLS-Required: Yes\r\n"));
    EXPECT_FALSE(tls_required_no("TLS-Required: No thanks\r\n"));
    EXPECT_FALSE(tls_required_no("TLS-Required: No\r\nTLS-Required: No\r\n"));  // two fields: not honoured
    EXPECT_FALSE(tls_required_no("Subject: TLS-Required: No\r\n"));
    EXPECT_FALSE(tls_required_no("X-TLS-Required: No\r\n"));
}

TEST(NeedsSmtputf8, OnlyAUtf8AddressOrHeaderInAnSmtputf8Transaction) {
    const std::string ascii_header = "From: a@example.test\r\nSubject: hi\r\n";
    const std::string utf8_header = "From: a@example.test\r\nSubject: gr\xC3\xBC\xC3\x9F\r\n";
    smtp::Envelope e{"a@example.test", {"b@example.org"}, std::nullopt, true, true};
    EXPECT_FALSE(needs_smtputf8(e, ascii_header));  // Go's net/smtp: the flag on plain ASCII mail
    EXPECT_TRUE(needs_smtputf8(e, utf8_header));
    e.rcpt_to.push_back("s\xC3\xB6ren@example.org");
    EXPECT_TRUE(needs_smtputf8(e, ascii_header));
    e.rcpt_to.pop_back();
    e.mail_from = "j\xC3\xB8rn@example.test";
    EXPECT_TRUE(needs_smtputf8(e, ascii_header));
    e.smtputf8 = false;  // legacy 8-bit header without SMTPUTF8: passed on as it came
    EXPECT_FALSE(needs_smtputf8(e, utf8_header));
}

TEST(ReceivedProtocol, Rfc3848AndRfc6531Keywords) {
    EXPECT_EQ(received_protocol(true, false, true, true), "ESMTPSA");
    EXPECT_EQ(received_protocol(true, false, false, true), "ESMTPA");
    EXPECT_EQ(received_protocol(false, false, false, false), "SMTP");
    EXPECT_EQ(received_protocol(true, true, true, true), "UTF8SMTPSA");
    EXPECT_EQ(received_protocol(true, true, false, false), "UTF8SMTP");
}

TEST_F(IngestTest, TheEnvelopeAsksSmtputf8OnlyOfMessagesThatNeedIt) {
    activate("example.test");
    envelope_.smtputf8 = true;
    IngestResult plain = run(kMessage);
    ASSERT_EQ(plain.reply.code, 250) << plain.reply.wire();
    EXPECT_FALSE(spool_->load(plain.queue_id)->smtputf8);
    EXPECT_NE(delivered(plain.queue_id).find(" with UTF8SMTPSA id "), std::string::npos);
    IngestResult utf8 = run("From: alice@example.test\r\nSubject: \xC3\xA9t\xC3\xA9\r\n\r\nbody\r\n");
    ASSERT_EQ(utf8.reply.code, 250) << utf8.reply.wire();
    EXPECT_TRUE(spool_->load(utf8.queue_id)->smtputf8);
}

}  // namespace

// Mail received on the MX listener: stored exactly as it came (no From rule, no fix-ups,
// no signature, even for a [[domain]] we sign for), with a Received field naming the
// client and the one recipient.
TEST_F(IngestTest, InboundMessageIsStoredUnsignedWithAReceivedFieldOnly) {
    activate("example.test");
    const std::string message = "From: a@example.test\r\nFrom: b@elsewhere.example\r\nSubject: two Froms\r\n\r\nbody\r\n";
    envelope_ = smtp::Envelope{"", {"alice@home.example"}, std::nullopt, false, false};
    for (std::size_t chunk : {0, 1, 5}) {
        SCOPED_TRACE("chunk " + std::to_string(chunk));
        auto ingest = make_ingest("", true);
        if (chunk == 0) ingest->write(message);
        else
            for (std::size_t i = 0; i < message.size(); i += chunk) ingest->write(std::string_view(message).substr(i, chunk));
        IngestResult r = ingest->finish(std::chrono::system_clock::time_point(std::chrono::seconds(1795437654)));
        ASSERT_EQ(r.reply.code, 250) << r.reply.wire();
        EXPECT_TRUE(r.signed_domain.empty());
        EXPECT_TRUE(r.selectors.empty());
        EXPECT_EQ(r.envelope.user, "");
        EXPECT_EQ(r.envelope.mail_from, "");
        EXPECT_EQ(delivered(r.queue_id),
                  "Received: from nas.lan ([192.0.2.7])\r\n\tby relay.example.test (Signpost) with ESMTPS id " + r.queue_id +
                      "\r\n\t(TLSv1.3 TLS_AES_128_GCM_SHA256)\r\n\tfor <alice@home.example>;\r\n\tMon, 23 Nov 2026 12:40:54 +0000\r\n" +
                      message);
    }
    // Several recipients: no "for" (it would show each the others).
    envelope_.rcpt_to.push_back("bob@home.example");
    auto ingest = make_ingest("", true);
    ingest->write(message);
    IngestResult r = ingest->finish(std::chrono::system_clock::time_point(std::chrono::seconds(1795437654)));
    ASSERT_EQ(r.reply.code, 250);
    EXPECT_EQ(delivered(r.queue_id).find("for <"), std::string::npos);
    EXPECT_EQ(r.envelope.recipients.size(), 2u);
}

// RFC 8601 §5: an incoming Authentication-Results field naming our host name is forged and
// is dropped before the message is stored; others stay. The results we set go first.
TEST_F(IngestTest, InboundDropsForgedAuthenticationResultsAndStreamsDkim) {
    const std::string forged = "Authentication-Results: Relay.Example.Test;\r\n\tdkim=pass header.d=bank.example\r\n";
    const std::string theirs = "Authentication-Results: mx.elsewhere.example; spf=pass\r\n";
    const std::string rest = "From: Bank <alerts@bank.example>\r\nSubject: hi\r\n\r\nbody\r\n";
    envelope_ = smtp::Envelope{"x@sender.example", {"alice@home.example"}, std::nullopt, false, false};
    auto ingest = make_ingest("", true);
    ingest->write(forged + theirs);
    ingest->write(rest);
    EXPECT_EQ(ingest->forged_results_removed(), 1);
    EXPECT_EQ(ingest->from_domain(), "bank.example");
    ASSERT_NE(ingest->verifier(), nullptr);
    EXPECT_TRUE(ingest->verifier()->keys_needed().empty());  // no signatures
    ingest->set_authentication_results("Authentication-Results: relay.example.test;\r\n\tspf=none smtp.mailfrom=x@sender.example;\r\n\tdkim=none;\r\n\tdmarc=none\r\n");
    IngestResult r = ingest->finish(std::chrono::system_clock::time_point(std::chrono::seconds(1795437654)));
    ASSERT_EQ(r.reply.code, 250) << r.reply.wire();
    const std::string text = delivered(r.queue_id);
    EXPECT_EQ(text.rfind("Authentication-Results: relay.example.test;\r\n\tspf=none", 0), 0u) << text;
    EXPECT_EQ(text.find("bank.example\r\n"), std::string::npos) << text;  // the forged field is gone
    // The stored message is the received one without the forged field, and its size says so.
    EXPECT_EQ(text.substr(text.size() - (theirs + rest).size()), theirs + rest);
    EXPECT_EQ(r.envelope.size, (theirs + rest).size());
}
