// relay/log/log.hpp — logging setup: spdlog to stdout, as text or JSON lines.
//
// Every line carries an `id` field: the session id ("s-..."), the queue id of a message,
// or "-" for the daemon itself. Modules receive a `Logger` from their owner and derive
// per-session loggers with `with_id`; nothing reads a global logger.
//
// Text:  2026-11-23T11:00:00.123Z info  [s-1a2b3c] message
// JSON:  {"ts":"2026-11-23T11:00:00.123Z","level":"info","id":"s-1a2b3c","msg":"message"}
//
// Untrusted input: message text may contain peer-supplied bytes; the JSON formatter escapes
// control characters, quotes, backslashes and invalid UTF-8, so one event is always one line.
// Threading: loggers are thread-safe (spdlog _mt sinks).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "config/config.hpp"

namespace signpost::log {

using Logger = std::shared_ptr<spdlog::logger>;

// A logger writing to stdout with the given format and level; its id is "-".
Logger make_root(config::LogFormat format, config::LogLevel level);

// The same, writing to `sink` (tests capture output this way).
Logger make_root(spdlog::sink_ptr sink, config::LogFormat format, config::LogLevel level);

// A logger sharing `parent`'s sinks and level, whose lines carry `id`.
Logger with_id(const Logger& parent, std::string id);

// Appends `text` to `out` as the body of a JSON string (no surrounding quotes).
void append_json_escaped(std::string& out, std::string_view text);

spdlog::level::level_enum to_spdlog(config::LogLevel level);

}  // namespace signpost::log
