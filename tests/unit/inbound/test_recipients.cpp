// tests/unit/inbound/test_recipients.cpp — RecipientDirectory: listed local parts and
// addresses, sub-addressing, case, "any recipient", foreign domains, recipients files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "relay/inbound/recipients.hpp"

namespace {

using signpost::config::InboundConfig;
using signpost::inbound::RecipientDirectory;
using signpost::inbound::RecipientVerdict;

InboundConfig entry(std::string domain, std::vector<std::string> recipients, bool any = false) {
    InboundConfig e;
    e.domain = std::move(domain);
    e.recipients = std::move(recipients);
    e.any_recipient = any;
    return e;
}

TEST(InboundRecipients, ListedLocalPartsAndAddresses) {
    RecipientDirectory d({entry("home.example", {"alice", "bob@home.example"})});
    EXPECT_EQ(d.check("alice@home.example"), RecipientVerdict::accepted);
    EXPECT_EQ(d.check("bob@home.example"), RecipientVerdict::accepted);
    EXPECT_EQ(d.check("ALICE@Home.Example"), RecipientVerdict::accepted);
    EXPECT_EQ(d.check("carol@home.example"), RecipientVerdict::unknown_user);
    EXPECT_EQ(d.check("alice@other.example"), RecipientVerdict::foreign_domain);
    EXPECT_EQ(d.check("alice@sub.home.example"), RecipientVerdict::foreign_domain);  // exact domain only
    EXPECT_EQ(d.check("postmaster"), RecipientVerdict::foreign_domain);
    EXPECT_EQ(d.domain_of("carol@HOME.example"), "home.example");
    EXPECT_EQ(d.domain_of("alice@other.example"), "");
}

TEST(InboundRecipients, SubAddressing) {
    RecipientDirectory d({entry("home.example", {"alice"})});
    EXPECT_EQ(d.check("alice+lists@home.example"), RecipientVerdict::accepted);
    EXPECT_EQ(d.check("alice+@home.example"), RecipientVerdict::accepted);
    EXPECT_EQ(d.check("+alice@home.example"), RecipientVerdict::unknown_user);
    EXPECT_EQ(d.check("alicex+y@home.example"), RecipientVerdict::unknown_user);
}

TEST(InboundRecipients, AnyRecipientAndSeveralDomains) {
    RecipientDirectory d({entry("home.example", {"alice"}), entry("family.example", {}, true)});
    EXPECT_EQ(d.check("whoever@family.example"), RecipientVerdict::accepted);
    EXPECT_EQ(d.check("whoever@home.example"), RecipientVerdict::unknown_user);
}

TEST(InboundRecipients, FileText) {
    RecipientDirectory d({entry("home.example", {})});
    EXPECT_EQ(d.add_file_text("home.example", "# family\nalice\n\n  Bob@home.example  # Bob\r\ncarol\n"), "");
    EXPECT_EQ(d.check("alice@home.example"), RecipientVerdict::accepted);
    EXPECT_EQ(d.check("bob@home.example"), RecipientVerdict::accepted);
    EXPECT_EQ(d.check("carol@home.example"), RecipientVerdict::accepted);
    EXPECT_EQ(d.check("dave@home.example"), RecipientVerdict::unknown_user);
    EXPECT_EQ(d.add_file_text("home.example", "dave\nerin@elsewhere.example\n"),
              "2: \"erin@elsewhere.example\" is not a local part or an address at home.example");
    EXPECT_EQ(d.add_file_text("home.example", "a b\n"), "1: \"a b\" is not a local part or an address at home.example");
}

TEST(InboundRecipients, LoadReadsFilesAndNamesTheBadLine) {
    const auto dir = std::filesystem::temp_directory_path() / ("sp-inbound-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    signpost::config::Config config;
    config.inbound.push_back(entry("home.example", {"alice"}));
    config.inbound[0].recipients_file = dir / "users";
    std::ofstream(dir / "users") << "bob\n";
    std::string error;
    auto d = RecipientDirectory::load(config, error);
    ASSERT_TRUE(d) << error;
    EXPECT_EQ(d->check("alice@home.example"), RecipientVerdict::accepted);
    EXPECT_EQ(d->check("bob@home.example"), RecipientVerdict::accepted);

    std::ofstream(dir / "users") << "bob\n<mallory>\n";
    EXPECT_FALSE(RecipientDirectory::load(config, error));
    EXPECT_EQ(error, (dir / "users").string() + ":2: \"<mallory>\" is not a local part or an address at home.example");

    std::filesystem::remove(dir / "users");
    EXPECT_FALSE(RecipientDirectory::load(config, error));
    EXPECT_EQ(error, (dir / "users").string() + ": cannot be read");
    std::filesystem::remove_all(dir);
}

}  // namespace
