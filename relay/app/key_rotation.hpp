// relay/app/key_rotation.hpp — runs the DKIM key schedule inside the daemon.
//
// A background thread that, every `[keys] check_interval` and whenever trigger() is called
// (SIGHUP), runs one keys::KeyStore::rotate() step per configured domain, logs what
// happened in words an operator can act on (the record to publish, why an activation is
// blocked, which record may be removed), reloads the signing snapshot, and updates the key
// metrics. DNS lookups block, so they run on this thread, never on an I/O thread.
//
// Metrics (declared in key_rotation.cpp):
//   signpost_dkim_key_state{domain,selector,algorithm,state}   1 per key in the store
//   signpost_dkim_key_age_seconds{domain,selector,algorithm}   since the key was created
//   signpost_dkim_rotation_blocked{domain,algorithm}           1 while a due key's record
//                                                               is missing or wrong
//   signpost_dkim_active_keys{domain}                          keys signing now
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <set>
#include <vector>
#include <mutex>
#include <thread>

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "config/config.hpp"
#include "keys/store.hpp"
#include "relay/log/log.hpp"

namespace signpost::app {

struct KeyMetricFamilies;

class KeyRotation {
public:
    KeyRotation(std::shared_ptr<const config::Config> config, std::shared_ptr<keys::KeyStore> store,
                keys::TxtLookup lookup, log::Logger logger, prometheus::Registry& registry);
    ~KeyRotation();  // stops the thread

    // Runs one round now, on the calling thread (also used at start-up).
    void run_once();
    void start();
    void trigger();
    // A config reload: the next round (trigger() it) uses `config`'s domains.
    void set_config(std::shared_ptr<const config::Config> config);
    void stop();

private:
    void loop();
    void log_event(const std::string& domain, const keys::Event& e);
    void update_metrics(const config::Config& cfg);
    std::shared_ptr<const config::Config> config();  // under mutex_

    std::shared_ptr<const config::Config> config_;
    std::shared_ptr<keys::KeyStore> store_;
    keys::TxtLookup lookup_;
    log::Logger logger_;
    std::unique_ptr<KeyMetricFamilies> families_;
    std::vector<std::pair<prometheus::Family<prometheus::Gauge>*, prometheus::Gauge*>> series_;

    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    bool triggered_ = false;
    std::thread thread_;
    std::map<std::string, std::set<config::DkimAlgorithm>> blocked_;  // by the last round
};

}  // namespace signpost::app
