// relay/app/cli_queue.cpp — the `signpost queue` commands (see cli_queue.hpp).
#include "relay/app/cli_queue.hpp"

#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "config/config.hpp"
#include "relay/log/log.hpp"
#include "relay/queue/control.hpp"
#include "relay/queue/spool.hpp"

namespace signpost::app {
namespace {

struct QueueOptions {
    std::string config_path = "/etc/signpost/signpost.toml";
    std::string id;
    bool json = false;
};

std::shared_ptr<const config::Config> load(const std::string& path) {
    auto loaded = config::load_file(path);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
        return nullptr;
    }
    return loaded.config;
}

// Through the daemon's control socket when it runs, else on the files (see
// relay/queue/control.hpp for the mechanism).
int run_request(const QueueOptions& o, const std::string& command, bool with_id) {
    auto cfg = load(o.config_path);
    if (!cfg) return 1;
    queue::ControlRequest r;
    r.command = command;
    r.json = o.json;
    if (with_id) {
        if (!queue::Spool::valid_id(o.id)) {
            std::cerr << "signpost queue " << command << ": '" << o.id << "' is not a queue id\n";
            return 1;
        }
        r.id = o.id;
    }
    const auto& dir = cfg->queue.dir;
    queue::ControlAnswer a = queue::send_control(dir / "control.sock", r);
    if (!a.reached) {
        const bool read_only = command == "list" || command == "show";
        std::string error;
        auto lock = queue::SpoolLock::acquire(dir, error);
        if (!lock && !read_only) {
            std::cerr << "signpost queue " << command << ": the daemon does not answer on "
                      << (dir / "control.sock").string() << " (" << a.text << ") and " << error
                      << "; nothing changed\n";
            return 1;
        }
        queue::Spool spool(dir);
        a = queue::run_offline(spool, r, std::chrono::system_clock::now());
    }
    if (!a.ok) {
        std::cerr << "signpost queue " << command << ": " << a.text << "\n";
        return 1;
    }
    std::cout << a.text;
    return 0;
}

int cmd_cat(const QueueOptions& o) {
    auto cfg = load(o.config_path);
    if (!cfg) return 1;
    queue::Spool spool(cfg->queue.dir);
    std::string why;
    auto env = spool.load(o.id, &why);
    auto bytes = env ? spool.read_message(o.id) : std::nullopt;
    if (!env || !bytes) {
        std::cerr << "signpost queue cat: " << o.id << ": " << (env ? "cannot read the message" : why) << "\n";
        return 1;
    }
    std::cout << env->prepend << *bytes;
    return 0;
}

}  // namespace

void add_queue_commands(CLI::App& app, int& exit_code) {
    auto* q = app.add_subcommand("queue", "Look into and act on the queue (through the running daemon, or on the files)");
    q->require_subcommand(1);
    auto o = std::make_shared<QueueOptions>();
    auto add = [&](const char* name, const char* help, bool id, bool id_optional) {
        auto* c = q->add_subcommand(name, help);
        c->add_option("-c,--config", o->config_path, "Configuration file")->capture_default_str();
        if (id) {
            auto* opt = c->add_option("id", o->id, "Queue id");
            if (!id_optional) opt->required();
        }
        return c;
    };
    auto* list = add("list", "Queued messages: id, age, size, state, next attempt, sender, recipients and last replies", false, false);
    list->add_flag("--json", o->json, "JSON output");
    list->callback([o, &exit_code] { exit_code = run_request(*o, "list", false); });
    add("show", "One message: envelope, per-recipient state, added and original headers", true, false)
        ->callback([o, &exit_code] { exit_code = run_request(*o, "show", true); });
    add("flush", "Try now: one message, or every message that is not held", true, true)
        ->callback([o, &exit_code] { exit_code = run_request(*o, "flush", !o->id.empty()); });
    add("delete", "Remove a message without a bounce", true, false)
        ->callback([o, &exit_code] { exit_code = run_request(*o, "delete", true); });
    add("hold", "Keep a message from being delivered until released", true, false)
        ->callback([o, &exit_code] { exit_code = run_request(*o, "hold", true); });
    add("release", "Let a held message be delivered again", true, false)
        ->callback([o, &exit_code] { exit_code = run_request(*o, "release", true); });
    add("bounce", "Return a message to its sender now (failure DSN for every pending recipient)", true, false)
        ->callback([o, &exit_code] { exit_code = run_request(*o, "bounce", true); });
    add("cat", "A message as it will be delivered (added headers, then the message)", true, false)
        ->callback([o, &exit_code] { exit_code = cmd_cat(*o); });
}

}  // namespace signpost::app
