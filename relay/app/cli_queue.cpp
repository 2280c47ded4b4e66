// relay/app/cli_queue.cpp — the `signpost queue` commands (see cli_queue.hpp).
#include "relay/app/cli_queue.hpp"

#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "config/config.hpp"
#include "relay/log/log.hpp"
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

std::string json_string(std::string_view s) {
    std::string out = "\"";
    log::append_json_escaped(out, s);
    return out + "\"";
}

int cmd_list(const QueueOptions& o) {
    auto cfg = load(o.config_path);
    if (!cfg) return 1;
    queue::Spool spool(cfg->queue.dir);
    auto now = std::chrono::system_clock::now();
    bool first = true;
    if (o.json) std::cout << "[";
    for (const auto& id : spool.list()) {
        auto env = spool.read_envelope(id);
        if (!env) {
            std::cerr << "signpost queue: " << id << ": damaged envelope\n";
            continue;
        }
        auto age = std::chrono::duration_cast<std::chrono::seconds>(now - env->arrival).count();
        if (o.json) {
            std::cout << (first ? "" : ",") << "\n  {\"id\":" << json_string(id) << ",\"age_seconds\":" << age
                      << ",\"from\":" << json_string(env->mail_from) << ",\"user\":" << json_string(env->user)
                      << ",\"size\":" << env->size << ",\"rcpt\":[";
            for (std::size_t i = 0; i < env->rcpt_to.size(); ++i)
                std::cout << (i ? "," : "") << json_string(env->rcpt_to[i]);
            std::cout << "]}";
        } else {
            std::cout << id << "  " << age << "s  <" << env->mail_from << ">  " << env->size << " bytes\n";
            for (const auto& r : env->rcpt_to) std::cout << "    -> <" << r << ">\n";
        }
        first = false;
    }
    if (o.json) std::cout << (first ? "]\n" : "\n]\n");
    return 0;
}

int cmd_cat(const QueueOptions& o) {
    auto cfg = load(o.config_path);
    if (!cfg) return 1;
    queue::Spool spool(cfg->queue.dir);
    auto env = spool.read_envelope(o.id);
    if (!env) {
        std::cerr << "signpost queue cat: no committed message " << o.id << " in " << (cfg->queue.dir / "queue").string() << "\n";
        return 1;
    }
    std::ifstream in(spool.message_path(o.id), std::ios::binary);
    if (!in) {
        std::cerr << "signpost queue cat: cannot read " << spool.message_path(o.id).string() << "\n";
        return 1;
    }
    std::cout << env->prepend << in.rdbuf();
    return 0;
}

}  // namespace

void add_queue_commands(CLI::App& app, int& exit_code) {
    auto* q = app.add_subcommand("queue", "Look into the spool");
    q->require_subcommand(1);
    auto o = std::make_shared<QueueOptions>();
    auto* list = q->add_subcommand("list", "Committed messages");
    list->add_option("-c,--config", o->config_path, "Configuration file")->capture_default_str();
    list->add_flag("--json", o->json, "JSON output");
    list->callback([o, &exit_code] { exit_code = cmd_list(*o); });
    auto* cat = q->add_subcommand("cat", "A message as it will be delivered");
    cat->add_option("-c,--config", o->config_path, "Configuration file")->capture_default_str();
    cat->add_option("id", o->id, "Queue id")->required();
    cat->callback([o, &exit_code] { exit_code = cmd_cat(*o); });
}

}  // namespace signpost::app
