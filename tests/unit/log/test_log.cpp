// Unit tests for relay/log: one event is one line, JSON lines are valid and escaped.
#include <gtest/gtest.h>

#include <regex>
#include <spdlog/sinks/ostream_sink.h>
#include <sstream>

#include "relay/log/log.hpp"

using namespace signpost;

namespace {

TEST(JsonEscape, EscapesQuotesControlsAndInvalidUtf8) {
    std::string out;
    log::append_json_escaped(out, std::string("a\"b\\c\nd\r\x01\x7f \xc3\xa9 \xff", 15));
    EXPECT_EQ(out, "a\\\"b\\\\c\\nd\\r\\u0001\\u007f \xc3\xa9 \\ufffd");
}

TEST(Logger, JsonLineCarriesIdAndEscapedMessage) {
    std::ostringstream captured;
    auto root = log::make_root(std::make_shared<spdlog::sinks::ostream_sink_mt>(captured),
                               config::LogFormat::json, config::LogLevel::info);
    auto session = log::with_id(root, "s-42");
    session->info("peer said \"{}\"", "hi\r\nMAIL FROM:<x>");
    std::string line = captured.str();
    EXPECT_TRUE(std::regex_match(line, std::regex(
        R"(\{"ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","level":"info","id":"s-42","msg":"peer said \\"hi\\r\\nMAIL FROM:<x>\\""\}\n)")))
        << line;
}

TEST(Logger, TextLineIsOneLineAndRespectsLevel) {
    std::ostringstream captured;
    auto root = log::make_root(std::make_shared<spdlog::sinks::ostream_sink_mt>(captured),
                               config::LogFormat::text, config::LogLevel::warn);
    root->info("dropped");
    root->warn("two\nlines");
    std::string line = captured.str();
    EXPECT_TRUE(std::regex_match(line, std::regex(R"(\S+Z warning \[-\] two\\nlines\n)"))) << line;
}

}  // namespace
