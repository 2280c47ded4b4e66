// relay/app/key_rotation.cpp — the daemon's key schedule (see key_rotation.hpp).
#include "relay/app/key_rotation.hpp"

#include <prometheus/gauge.h>

namespace signpost::app {

// Metric families, declared where they are counted.
struct KeyMetricFamilies {
    explicit KeyMetricFamilies(prometheus::Registry& r)
        : state(prometheus::BuildGauge()
                    .Name("signpost_dkim_key_state")
                    .Help("DKIM keys in the store: 1 for the state each key is in, 0 for the others")
                    .Register(r)),
          age(prometheus::BuildGauge()
                  .Name("signpost_dkim_key_age_seconds")
                  .Help("Seconds since each DKIM key was created")
                  .Register(r)),
          blocked(prometheus::BuildGauge()
                      .Name("signpost_dkim_rotation_blocked")
                      .Help("1 while a due DKIM key cannot activate because its DNS record is not published (or differs)")
                      .Register(r)),
          active(prometheus::BuildGauge()
                     .Name("signpost_dkim_active_keys")
                     .Help("DKIM keys signing now, per domain")
                     .Register(r)) {}
    prometheus::Family<prometheus::Gauge>& state;
    prometheus::Family<prometheus::Gauge>& age;
    prometheus::Family<prometheus::Gauge>& blocked;
    prometheus::Family<prometheus::Gauge>& active;
};

namespace {

keys::Time now_seconds() { return std::chrono::floor<std::chrono::seconds>(keys::Clock::now()); }

}  // namespace

KeyRotation::KeyRotation(std::shared_ptr<const config::Config> config, std::shared_ptr<keys::KeyStore> store,
                         keys::TxtLookup lookup, log::Logger logger, prometheus::Registry& registry)
    : config_(std::move(config)), store_(std::move(store)), lookup_(std::move(lookup)),
      logger_(std::move(logger)), families_(std::make_unique<KeyMetricFamilies>(registry)) {}

KeyRotation::~KeyRotation() {
    stop();
    for (auto [family, gauge] : series_) family->Remove(gauge);
}

void KeyRotation::log_event(const std::string& domain, const keys::Event& e) {
    std::string name = keys::record_name(e.selector, domain);
    std::string alg(config::to_string(e.algorithm));
    switch (e.kind) {
        case keys::EventKind::generated: {
            keys::DomainView view;
            keys::StoreIssue issue;
            std::string value = "(see `signpost keys dns`)";
            if (store_->read(domain, view, issue))
                if (const keys::KeyEntry* k = view.state.find(e.selector))
                    if (auto key = store_->load_key(domain, *k, issue)) value = key->dns_record();
            logger_->warn("dkim {}: new {} key {} is pending; publish TXT {} \"{}\"", domain, alg, e.selector, name, value);
            break;
        }
        case keys::EventKind::activated:
            logger_->info("dkim {}: {} key {} is now active (its record {} is published)", domain, alg, e.selector, name);
            break;
        case keys::EventKind::retiring:
            logger_->info("dkim {}: {} key {} stopped signing; keep its record {} published", domain, alg, e.selector, name);
            break;
        case keys::EventKind::retired:
            logger_->info("dkim {}: {} key {} is retired; its record {} may now be removed", domain, alg, e.selector, name);
            break;
        case keys::EventKind::dropped:
            logger_->info("dkim {}: pending {} key {} dropped ({} is no longer configured)", domain, alg, e.selector, alg);
            break;
        case keys::EventKind::blocked:
            logger_->warn("dkim {}: rotation blocked: {} key {} cannot activate, its record {} is {} "
                          "(`signpost keys dns --domain {}` prints it)",
                          domain, alg, e.selector, name, keys::to_string(e.dns), domain);
            break;
    }
}

void KeyRotation::set_config(std::shared_ptr<const config::Config> config) {
    std::lock_guard lock(mutex_);
    config_ = std::move(config);
}

std::shared_ptr<const config::Config> KeyRotation::config() {
    std::lock_guard lock(mutex_);
    return config_;
}

void KeyRotation::run_once() {
    const auto cfg = config();
    auto now = now_seconds();
    blocked_.clear();
    for (const auto& d : cfg->domains) {
        std::vector<keys::Event> events;
        keys::StoreIssue issue;
        if (!store_->rotate(d, now, lookup_, events, issue)) {
            logger_->error("dkim {}: {}", d.name, issue.to_string());
            continue;
        }
        for (const auto& e : events) {
            log_event(d.name, e);
            if (e.kind == keys::EventKind::blocked) blocked_[d.name].insert(e.algorithm);
        }
    }
    for (const auto& issue : store_->reload(cfg->domains))
        logger_->error("dkim: {} (signing continues with the keys already loaded)", issue.to_string());
    for (const auto& d : cfg->domains) {
        if (!store_->signing_keys(d.name))
            logger_->warn("dkim {}: no active key yet: mail from this domain is refused with 451 until "
                          "its record is published (`signpost keys dns --domain {}`)", d.name, d.name);
    }
    update_metrics(*cfg);
}

void KeyRotation::update_metrics(const config::Config& cfg) {
    auto now = now_seconds();
    auto& f = *families_;
    // Rebuilt each round: keys come and go, and a retired key's series must disappear.
    for (auto [family, gauge] : series_) family->Remove(gauge);
    series_.clear();
    auto set = [&](prometheus::Family<prometheus::Gauge>& family, const prometheus::Labels& labels, double v) {
        auto& g = family.Add(labels);
        g.Set(v);
        series_.emplace_back(&family, &g);
    };
    for (const auto& d : cfg.domains) {
        keys::DomainView view;
        keys::StoreIssue issue;
        if (!store_->read(d.name, view, issue)) continue;
        for (const auto& k : view.state.keys) {
            std::string alg(config::to_string(k.algorithm));
            for (auto s : {keys::KeyState::pending, keys::KeyState::active, keys::KeyState::retiring, keys::KeyState::retired})
                set(f.state, {{"domain", d.name}, {"selector", k.selector}, {"algorithm", alg}, {"state", std::string(keys::to_string(s))}},
                    k.state == s ? 1 : 0);
            set(f.age, {{"domain", d.name}, {"selector", k.selector}, {"algorithm", alg}},
                static_cast<double>((now - k.created).count()));
        }
        for (auto alg : d.algorithms)
            set(f.blocked, {{"domain", d.name}, {"algorithm", std::string(config::to_string(alg))}},
                blocked_.count(d.name) && blocked_[d.name].count(alg) ? 1 : 0);
        auto keys_now = store_->signing_keys(d.name);
        set(f.active, {{"domain", d.name}}, keys_now ? static_cast<double>(keys_now->keys.size()) : 0);
    }
}

void KeyRotation::start() {
    thread_ = std::thread([this] { loop(); });
}

void KeyRotation::trigger() {
    std::lock_guard lock(mutex_);
    triggered_ = true;
    wake_.notify_all();
}

void KeyRotation::stop() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
        wake_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
}

void KeyRotation::loop() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
        wake_.wait_for(lock, config_->keys.check_interval, [this] { return stop_ || triggered_; });
        if (stop_) break;
        triggered_ = false;
        lock.unlock();
        try {
            run_once();
        } catch (const std::exception& e) {
            logger_->error("dkim: key rotation round failed: {}", e.what());
        }
        lock.lock();
    }
}

}  // namespace signpost::app
