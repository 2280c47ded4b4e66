// relay/log/log.cpp — spdlog formatters for text and JSON lines (see log.hpp).
#include "relay/log/log.hpp"

#include <chrono>
#include <ctime>

#include <spdlog/sinks/stdout_sinks.h>

namespace signpost::log {
namespace {

void append_timestamp(std::string& out, spdlog::log_clock::time_point tp) {
    using namespace std::chrono;
    auto secs = time_point_cast<seconds>(tp);
    auto millis = duration_cast<milliseconds>(tp - secs).count();
    std::time_t t = system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    out.append(buf, n);
    char ms[8];
    std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(millis));
    out += ms;
}

// The logger's name is its id field; the root logger is named "-".
class LineFormatter final : public spdlog::formatter {
public:
    explicit LineFormatter(config::LogFormat format) : format_(format) {}

    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        std::string line;
        line.reserve(96 + msg.payload.size());
        auto level_sv = spdlog::level::to_string_view(msg.level);
        std::string_view level(level_sv.data(), level_sv.size());
        std::string_view payload(msg.payload.data(), msg.payload.size());
        std::string_view id(msg.logger_name.data(), msg.logger_name.size());
        if (format_ == config::LogFormat::json) {
            line += "{\"ts\":\"";
            append_timestamp(line, msg.time);
            line += "\",\"level\":\"";
            line += level;
            line += "\",\"id\":\"";
            append_json_escaped(line, id);
            line += "\",\"msg\":\"";
            append_json_escaped(line, payload);
            line += "\"}\n";
        } else {
            append_timestamp(line, msg.time);
            line += ' ';
            line += level;
            line.append(level.size() < 5 ? 5 - level.size() : 0, ' ');
            line += " [";
            line += id;
            line += "] ";
            // Text lines also stay one line: control characters are shown escaped.
            for (unsigned char c : payload) {
                if (c == '\n') line += "\\n";
                else if (c == '\r') line += "\\r";
                else if (c < 0x20 && c != '\t') line += '?';
                else line += static_cast<char>(c);
            }
            line += '\n';
        }
        dest.append(line.data(), line.data() + line.size());
    }

    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<LineFormatter>(format_);
    }

private:
    config::LogFormat format_;
};

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k)
        if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
    return n;
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < text.size(); ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20 || c == 0x7F) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 15];
                } else if (c < 0x80) {
                    out += static_cast<char>(c);
                } else if (std::size_t n = utf8_sequence(text, i); n != 0) {
                    out.append(text.substr(i, n));
                    i += n - 1;
                } else {
                    out += "\\ufffd";  // an invalid byte; JSON text must be valid UTF-8
                }
        }
    }
}

spdlog::level::level_enum to_spdlog(config::LogLevel level) {
    switch (level) {
        case config::LogLevel::trace: return spdlog::level::trace;
        case config::LogLevel::debug: return spdlog::level::debug;
        case config::LogLevel::info: return spdlog::level::info;
        case config::LogLevel::warn: return spdlog::level::warn;
        case config::LogLevel::error: return spdlog::level::err;
        case config::LogLevel::critical: return spdlog::level::critical;
        case config::LogLevel::off: return spdlog::level::off;
    }
    return spdlog::level::info;
}

Logger make_root(config::LogFormat format, config::LogLevel level) {
    return make_root(std::make_shared<spdlog::sinks::stdout_sink_mt>(), format, level);
}

Logger make_root(spdlog::sink_ptr sink, config::LogFormat format, config::LogLevel level) {
    sink->set_formatter(std::make_unique<LineFormatter>(format));
    auto logger = std::make_shared<spdlog::logger>("-", std::move(sink));
    logger->set_level(to_spdlog(level));
    logger->flush_on(spdlog::level::trace);
    return logger;
}

Logger with_id(const Logger& parent, std::string id) {
    return parent->clone(std::move(id));
}

}  // namespace signpost::log
