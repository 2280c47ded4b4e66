// relay/app/serve.cpp — the daemon's wiring (see serve.hpp).
#include "relay/app/serve.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <malloc.h>
#include <optional>
#include <functional>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <iostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "config/config.hpp"
#include "keys/store.hpp"
#include "relay/app/dns_lookup.hpp"
#include "relay/app/key_rotation.hpp"
#include "relay/app/doctor_task.hpp"
#include "relay/app/inbound_backlog.hpp"
#include "relay/app/tls_reports.hpp"
#include "relay/app/version.hpp"
#include "relay/auth/authenticator.hpp"
#include "relay/auth/failures.hpp"
#include "relay/log/log.hpp"
#include "relay/metrics/metrics.hpp"
#include "relay/delivery/factory.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/inbound/policy_server.hpp"
#include "relay/queue/control.hpp"
#include "relay/queue/manager.hpp"
#include "relay/queue/spool.hpp"
#include "relay/submission/server.hpp"
#include "signer/spare_thread.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <thread>

namespace signpost::app {

int serve(const std::filesystem::path& config_path) {
    config::LoadResult loaded = config::load_file(config_path);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
        std::cerr << "signpost: not started: " << loaded.errors.size() << " configuration error"
                  << (loaded.errors.size() == 1 ? "" : "s") << "\n";
        return 1;
    }
    std::shared_ptr<const config::Config> cfg = loaded.config;
    log::Logger logger = log::make_root(cfg->log.format, cfg->log.level);

    logger->info("signpost starting: config {}, hostname {}", cfg->source.string(),
                 cfg->server.hostname);
    for (const auto& l : cfg->listeners)
        logger->info("listener {}: {} ({})", l.name, l.address.to_string(), config::to_string(l.tls));
    for (const auto& d : cfg->domains)
        logger->info("signing domain {}", d.name);
    logger->info("delivery mode {}", config::to_string(cfg->delivery.mode));
    if (cfg->metrics.listen) logger->info("metrics on {}", cfg->metrics.listen->to_string());

    // One daemon per spool directory: the lock is held until exit.
    std::error_code dir_ec;
    std::filesystem::create_directories(cfg->queue.dir, dir_ec);
    std::string lock_error;
    auto spool_lock = queue::SpoolLock::acquire(cfg->queue.dir, lock_error);
    if (!spool_lock) {
        logger->critical("not started: {}", lock_error);
        return 1;
    }

    // TLS sessions write to their sockets through OpenSSL (submission/tls_stream.hpp): a
    // peer that has gone must give EPIPE there, not end the process.
    std::signal(SIGPIPE, SIG_IGN);

    boost::asio::io_context io;
    std::unique_ptr<metrics::MetricsServer> metrics;
    keys::TxtLookup lookup;
    try {
        metrics = std::make_unique<metrics::MetricsServer>(io, cfg->metrics.listen);
        lookup = make_txt_lookup(cfg->dns);
    } catch (const std::exception& e) {
        logger->critical("not started: {}", e.what());
        return 1;
    }

    // The process itself: when it started, and which build this is.
    prometheus::BuildGauge()
        .Name("signpost_process_start_time_seconds")
        .Help("When this signpost process started, in seconds since the Unix epoch")
        .Register(metrics->registry())
        .Add({})
        .Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    prometheus::BuildGauge()
        .Name("signpost_build_info")
        .Help("Always 1; the version label names the signpost release that is running")
        .Register(metrics->registry())
        .Add({{"version", kVersion}})
        .Set(1);

    // DKIM keys: load what is active, run one rotation round (first keys, due activations),
    // then keep the schedule on its own thread.
    auto store = std::make_shared<keys::KeyStore>(cfg->keys.dir);
    KeyRotation rotation(cfg, store, lookup, log::with_id(logger, "keys"), metrics->registry());
    rotation.run_once();
    rotation.start();

    // Users: loaded now, re-read when the file changes (checked every few seconds). A config
    // reload that names another file or cache time replaces the Authenticator.
    auto users_holder = std::make_shared<std::atomic<std::shared_ptr<auth::Authenticator>>>(
        std::make_shared<auth::Authenticator>(cfg->auth.users_file, cfg->auth.cache_ttl));
    if (std::string error; !users_holder->load()->reload(error)) {
        logger->critical("not started: {}", error);
        return 1;
    }
    auth::FailurePolicy failure_policy;
    failure_policy.max_failures = cfg->auth.max_failures;
    failure_policy.lockout = cfg->auth.lockout;
    auto failures = std::make_shared<auth::FailureTracker>(failure_policy);
    // Per user name (known users only): guessing one user's password from many addresses
    // locks that name after four times as many failures (user_failure_policy).
    auto user_failures = std::make_shared<auth::FailureTracker>(user_failure_policy(failure_policy));

    // The spool: recovery.
    auto spool = std::make_shared<queue::Spool>(cfg->queue.dir, queue::SpoolOptions{.min_free_space = cfg->queue.min_free_space});
    if (std::string detail; spool->open(detail)) {
        logger->critical("not started: spool {}", detail);
        return 1;
    }
    auto& corrupt_counter = prometheus::BuildCounter()
                                .Name("signpost_queue_corrupt_total")
                                .Help("Damaged queue files moved aside to corrupt/ at start-up")
                                .Register(metrics->registry())
                                .Add({});
    queue::Recovered recovered = spool->recover();
    for (const auto& [id, why] : recovered.corrupt) {
        logger->error("queue: {} is damaged ({}); moved to {}", id, why, (cfg->queue.dir / "corrupt" / id).string());
        corrupt_counter.Increment();
    }
    logger->info("queue: {} message(s) recovered from {}", recovered.messages.size(), cfg->queue.dir.string());
    if (recovered.reconciled)
        logger->info("queue: {} message(s) updated from a DSN queued just before the last stop", recovered.reconciled);

    // With a second core, a thread that takes half of an RSA signature when it is idle
    // (signer/key.hpp "Split RSA signatures"): a lightly loaded relay answers sooner.
    std::optional<signer::SpareThread> spare;
    if (std::thread::hardware_concurrency() >= 2) spare.emplace();
    // What became of the RSA signatures' halves offered to the spare thread, brought up to
    // date from its counts every 2 s (the users-file timer below).
    auto& split_family = prometheus::BuildCounter()
                             .Name("signpost_dkim_rsa_split_total")
                             .Help("RSA signatures split over two cores, by result: spare (the half mod q ran on the "
                                   "spare thread), taken_back (it had not started; the signing thread did both halves), "
                                   "failed (a step or the check failed; the signature was made whole instead)")
                             .Register(metrics->registry());
    struct SplitCounts {
        prometheus::Counter* counter;
        std::uint64_t seen = 0;
    };
    std::array<SplitCounts, 3> split_counts{SplitCounts{&split_family.Add({{"result", "spare"}})},
                                            SplitCounts{&split_family.Add({{"result", "taken_back"}})},
                                            SplitCounts{&split_family.Add({{"result", "failed"}})}};
    auto refresh_split_metrics = [&spare, &split_counts] {
        if (!spare) return;
        const std::array<std::uint64_t, 3> now{spare->ran(), spare->withdrawn(), spare->failed_splits()};
        for (std::size_t i = 0; i < now.size(); ++i) {
            if (now[i] > split_counts[i].seen) split_counts[i].counter->Increment(static_cast<double>(now[i] - split_counts[i].seen));
            split_counts[i].seen = now[i];
        }
    };
    // Password hashing (argon2id: CPU and memory, so no more threads than cores) and the
    // capture deliverer's file work run here, never on the I/O threads.
    boost::asio::thread_pool workers(std::max(2u, std::thread::hardware_concurrency()));
    // Signing and committing messages, and the queue's state files: threads that mostly
    // wait for fsync. Their number bounds how many commits share one directory fsync.
    boost::asio::thread_pool committers(32);

    // MX delivery attempts by TLS policy and result; MTA-STS testing-mode failures.
    auto& attempts = prometheus::BuildCounter()
                         .Name("signpost_delivery_sessions_total")
                         .Help("Outbound SMTP sessions to MX hosts, by the TLS policy that applied and the result")
                         .Register(metrics->registry());
    auto& testing_failures = prometheus::BuildCounter()
                                 .Name("signpost_mta_sts_testing_failures_total")
                                 .Help("Deliveries under an MTA-STS testing policy that enforce mode would have refused")
                                 .Register(metrics->registry())
                                 .Add({});
    // MTA-STS policy fetches by outcome, and how many domains' policies are held.
    auto& sts_fetches = prometheus::BuildCounter()
                            .Name("signpost_mta_sts_fetches_total")
                            .Help("MTA-STS policy fetches, by outcome (fetched, fetch_failed, invalid_policy)")
                            .Register(metrics->registry());
    auto& sts_cached = prometheus::BuildGauge()
                           .Name("signpost_mta_sts_policies_cached")
                           .Help("Domains whose MTA-STS policy is held (memory and the cache directory)")
                           .Register(metrics->registry())
                           .Add({});
    for (const char* outcome : {"fetched", "fetch_failed", "invalid_policy"}) sts_fetches.Add({{"outcome", outcome}});
    // MX hosts refused for DANE (RFC 7672), before or in the session, by reason.
    auto& dane_failures = prometheus::BuildCounter()
                              .Name("signpost_dane_failures_total")
                              .Help("MX hosts not used because DANE failed, by reason (dnssec-invalid, tlsa-lookup, "
                                    "dane-required, starttls-not-supported, no-match, name-mismatch, expired, "
                                    "chain-invalid, no-certificate)")
                              .Register(metrics->registry());
    // Whether DNSSEC validation works on the DNS path (mode mx, [dns] dnssec = true).
    auto& dnssec_validating = prometheus::BuildGauge()
                                  .Name("signpost_dnssec_validating")
                                  .Help("1 while the trust anchor's own zone validates (DNSSEC works on the DNS path), "
                                        "0 while it does not; absent with [dns] dnssec = false")
                                  .Register(metrics->registry());
    delivery::DeliveryEvents events;
    events.dnssec = [&dnssec_validating](const dns::DnssecProbe& p) {
        dnssec_validating.Add({}).Set(p.state == dns::DnssecProbe::State::validating ? 1 : 0);
    };
    events.session = [&attempts, &testing_failures, &dane_failures](const delivery::SessionAttempt& a) {
        attempts.Add({{"policy", a.policy}, {"result", a.result}}).Increment();
        if (a.testing_violation) testing_failures.Increment();
        if (*a.dane_failure) dane_failures.Add({{"reason", a.dane_failure}}).Increment();
    };
    // [[inbound]]: 1 while a domain's home server has been unreachable longer than its
    // unreachable_alert, 0 otherwise (one series per [[inbound]] domain, set at start).
    auto& inbound_unreachable = prometheus::BuildGauge()
                                    .Name("signpost_inbound_unreachable")
                                    .Help("1 while the home server (deliver_to) of an [[inbound]] domain has been "
                                          "unreachable longer than its unreachable_alert, else 0")
                                    .Register(metrics->registry());
    for (const auto& entry : cfg->inbound) inbound_unreachable.Add({{"domain", entry.domain}}).Set(0);
    events.inbound_unreachable = [&inbound_unreachable](const std::string& domain, bool unreachable) {
        inbound_unreachable.Add({{"domain", domain}}).Set(unreachable ? 1 : 0);
    };
    events.mta_sts.fetch = [&sts_fetches](const char* outcome) { sts_fetches.Add({{"outcome", outcome}}).Increment(); };
    events.mta_sts.cached = [&sts_cached](std::size_t n) { sts_cached.Set(static_cast<double>(n)); };
    // [tls_rpt]: what each MX session tells the recipient's TLS report, on disk.
    std::shared_ptr<tlsrpt::Store> tls_reports;
    if (cfg->tls_rpt.enabled) {
        try {
            tls_reports = std::make_shared<tlsrpt::Store>(cfg->tls_rpt.dir);
        } catch (const std::exception& e) {
            logger->critical("not started: [tls_rpt] dir: {}", e.what());
            rotation.stop();
            return 1;
        }
        events.tls_report = [tls_reports, logger](const tlsrpt::SessionEvent& e) {
            if (auto ec = tls_reports->record(e, std::chrono::system_clock::now()))
                logger->error("TLS report counts: cannot write to {}: {}", tls_reports->dir().string(), ec.message());
        };
    }
    std::string deliverer_error;
    std::shared_ptr<delivery::Deliverer> deliverer =
        delivery::make_deliverer(*cfg, io.get_executor(), workers.get_executor(), log::with_id(logger, "delivery"),
                                 deliverer_error, std::move(events));
    if (!deliverer) {
        logger->critical("not started: [delivery] mode = \"{}\": {}", config::to_string(cfg->delivery.mode), deliverer_error);
        rotation.stop();
        return 1;
    }
    queue::ManagerOptions qopts;
    qopts.retry.schedule.assign(cfg->queue.retry.begin(), cfg->queue.retry.end());
    qopts.retry.max_lifetime = cfg->queue.max_lifetime;
    qopts.warn_after = cfg->queue.warn_after;
    qopts.hostname = cfg->server.hostname;
    qopts.registry = &metrics->registry();
    // DSNs come From MAILER-DAEMON@<hostname>: signed when a [[domain]] covers the host name.
    qopts.sign_dsn = [cfg, store](std::string_view message, std::chrono::system_clock::time_point now) {
        return submission::sign_own_message(*cfg, *store, message, cfg->server.hostname, now);
    };
    auto manager = std::make_shared<queue::Manager>(io.get_executor(), committers.get_executor(), spool, deliverer,
                                                    qopts, log::with_id(logger, "queue"));
    manager->start(std::move(recovered.messages));
    std::shared_ptr<tlsrpt::Sender> tls_report_sender;
    if (tls_reports) {
        try {
            tls_report_sender = start_tls_report_sender(io.get_executor(), cfg, tls_reports, store, spool, manager,
                                                        log::with_id(logger, "tls-rpt"));
        } catch (const std::exception& e) {
            logger->critical("not started: {}", e.what());
            rotation.stop();
            return 1;
        }
    }
    // [doctor] interval: the DNS checks of `signpost doctor`, at start and then daily.
    std::shared_ptr<DoctorTask> doctor_task;
    if (cfg->doctor.interval.count() > 0) {
        try {
            doctor_task = std::make_shared<DoctorTask>(io.get_executor(), cfg, store, metrics->registry(),
                                                       log::with_id(logger, "doctor"));
        } catch (const std::exception& e) {
            logger->critical("not started: [dns] for the doctor checks: {}", e.what());
            rotation.stop();
            return 1;
        }
        doctor_task->start();
    }
    queue::ControlServer control(io, cfg->queue.dir / "control.sock", manager, spool, log::with_id(logger, "queue"));
    try {
        control.start();
    } catch (const std::exception& e) {
        logger->critical("not started: {}", e.what());
        rotation.stop();
        return 1;
    }

    submission::Services services;
    services.config = cfg;
    services.keys = store;
    services.spool = spool;
    services.queued = [manager](queue::Envelope e) { manager->enqueue(std::move(e)); };
    services.delivery_behind = [manager] { return manager->backlog() >= manager->max_in_flight(); };
    services.verify_password = [users_holder](const std::string& u, const std::string& p) {
        return users_holder->load()->verify(u, p) == auth::AuthResult::ok;
    };
    services.verify_cached = [users_holder](const std::string& u, const std::string& p) {
        return users_holder->load()->verify_cached(u, p);
    };
    services.may_send_as = [users_holder](const std::string& u, const std::string& a) {
        return users_holder->load()->may_send_as(u, a);
    };
    services.locked_out = [failures](const std::string& ip) { return failures->locked_out(ip); };
    services.user_locked_out = [user_failures](const std::string& user) { return user_failures->locked_out(user); };
    services.remembered = [users_holder](const std::string& u, const std::string& p) {
        return users_holder->load()->remembered(u, p);
    };
    services.failure_delay = [failures, user_failures](const std::string& ip, const std::string& user) {
        return std::max(failures->delay(ip), user.empty() ? std::chrono::milliseconds(0) : user_failures->delay(user));
    };
    services.record_auth = [failures, user_failures, users_holder](const std::string& ip, const std::string& user,
                                                                   bool ok) {
        const bool known = !user.empty() && users_holder->load()->users()->find(user) != nullptr;
        if (ok) {
            failures->record_success(ip);
            if (known) user_failures->record_success(user);
        } else {
            failures->record_failure(ip);
            if (known) user_failures->record_failure(user);
        }
    };
    services.failure_answered = [failures, user_failures](const std::string& ip, const std::string& user) {
        failures->touch(ip);
        if (!user.empty()) user_failures->touch(user);
    };
    services.workers = workers.get_executor();
    // The MX listeners' sender checks (SPF, DKIM keys, DMARC) resolve through [dns].
    if (std::any_of(cfg->listeners.begin(), cfg->listeners.end(),
                    [](const config::ListenerConfig& l) { return l.kind == config::ListenerKind::mx; }))
        services.resolver = dns::make_unbound_resolver(io.get_executor(), cfg->dns);
    services.committers = committers.get_executor();
    services.spare = spare ? &*spare : nullptr;
    services.inline_commits = std::thread::hardware_concurrency() >= 2;  // I/O threads: one per core
    services.logger = log::with_id(logger, "smtpd");
    services.metrics = std::make_shared<submission::SubmissionMetrics>(metrics->registry(), *cfg);
    submission::SubmissionServer server(io, services);
    try {
        server.start();
    } catch (const std::exception& e) {
        logger->critical("not started: {}", e.what());
        rotation.stop();
        return 1;
    }

    // [mta_sts_serve]: the [[inbound]] domains' MTA-STS policies over HTTPS. Its listen
    // address waits for a restart; the certificate and the policies follow reloads.
    std::unique_ptr<inbound::PolicyServer> policy_server;
    auto policy_tls = [](const config::Config& c) {
        return submission::make_tls_context(
            config::TlsConfig{c.mta_sts_serve.cert, c.mta_sts_serve.key, config::TlsVersion::tls1_2});
    };
    auto serve_policies = [&](const config::Config& c, std::shared_ptr<boost::asio::ssl::context> tls) {
        inbound::PolicyTable table = inbound::served_policies(c);
        for (const std::string& host : inbound::names_not_covered(*tls, table))
            logger->warn("[mta_sts_serve] the certificate {} is not valid for {}: senders will not fetch that "
                         "domain's MTA-STS policy until it is", c.mta_sts_serve.cert.string(), host);
        policy_server->update(std::move(table), std::move(tls));
    };
    if (cfg->mta_sts_serve.listen) {
        try {
            policy_server = std::make_unique<inbound::PolicyServer>(io, *cfg->mta_sts_serve.listen, metrics->registry());
            serve_policies(*cfg, policy_tls(*cfg));
        } catch (const std::exception& e) {
            logger->critical("not started: [mta_sts_serve]: {}", e.what());
            rotation.stop();
            return 1;
        }
        policy_server->start();
        logger->info("MTA-STS policies on https://{} ({} mode, max_age {}s)", cfg->mta_sts_serve.listen->to_string(),
                     cfg->mta_sts_serve.enforce ? "enforce" : "testing", cfg->mta_sts_serve.max_age.count());
    }

    boost::asio::steady_timer users_timer(io);
    std::atomic<bool> stopping_backlog{false};
    bool had_sessions = false;
    std::function<void()> watch_users = [&] {
        users_timer.expires_after(std::chrono::seconds(2));
        users_timer.async_wait([&](const boost::system::error_code& ec) {
            if (ec) return;
            std::string error;
            manager->refresh_gauges();  // the oldest message's age moves with the clock
            refresh_split_metrics();
            // After a burst of connections the allocator keeps the peak; give it back
            // once they are gone (an idle TLS session holds ~100 KB while it lives).
            if (server.sessions() > 0) {
                had_sessions = true;
            } else if (had_sessions) {
                had_sessions = false;
                ::malloc_trim(0);
            }
            auto outcome = users_holder->load()->reload_if_changed(error);
            if (outcome == auth::ReloadOutcome::reloaded) logger->info("users file reloaded");
            if (outcome == auth::ReloadOutcome::failed) logger->error("users file not reloaded: {} (the previous one stays in use)", error);
            watch_users();
        });
    };
    watch_users();

    // [[inbound]]: what waits for each home server, from a pass over the queue every 10 s
    // (on the queue's strand, nothing copied). The domains are those of the start
    // (forwarding changes wait for a restart).
    auto& inbound_queued = prometheus::BuildGauge()
                               .Name("signpost_inbound_queue_messages")
                               .Help("Messages in the queue with a recipient waiting for an [[inbound]] domain's home "
                                     "server")
                               .Register(metrics->registry());
    auto& inbound_oldest = prometheus::BuildGauge()
                               .Name("signpost_inbound_queue_oldest_age_seconds")
                               .Help("Seconds since the oldest message waiting for an [[inbound]] domain's home server "
                                     "arrived; 0 when none waits")
                               .Register(metrics->registry());
    boost::asio::steady_timer backlog_timer(io);
    std::function<void()> watch_backlog = [&] {
        auto counter = std::make_shared<InboundBacklogCounter>(cfg->inbound, std::chrono::system_clock::now());
        manager->for_each_message([counter](const queue::Envelope& env) { counter->add(env); },
                                  [counter, &inbound_queued, &inbound_oldest] {
                                      for (const auto& [domain, b] : counter->result()) {
                                          inbound_queued.Add({{"domain", domain}}).Set(static_cast<double>(b.messages));
                                          inbound_oldest.Add({{"domain", domain}}).Set(b.oldest_age_seconds);
                                      }
                                  });
        backlog_timer.expires_after(std::chrono::seconds(10));
        backlog_timer.async_wait([&](const boost::system::error_code& wait_ec) {
            if (!wait_ec && !stopping_backlog) watch_backlog();
        });
    };
    if (!cfg->inbound.empty()) {
        for (const auto& entry : cfg->inbound) {
            inbound_queued.Add({{"domain", entry.domain}}).Set(0);
            inbound_oldest.Add({{"domain", entry.domain}}).Set(0);
        }
        watch_backlog();
    }

    // /healthz: the listeners accept and the spool can take mail.
    std::atomic<bool> stopping{false};
    metrics->set_health_check([&server, &stopping, spool, dir = cfg->queue.dir]() -> std::string {
        if (stopping) return "stopping";
        if (!server.listening()) return "a submission listener is not accepting";
        if (::access(dir.c_str(), W_OK | X_OK) != 0) return "the queue directory " + dir.string() + " is not writable";
        if (spool->low_on_space()) return "the queue's file system is below [queue] min_free_space";
        return "";
    });
    metrics->start();

    // SIGHUP: the whole configuration again, all or nothing. What cannot change in a running
    // process (listeners, the spool, the delivery set-up, the metrics address) is reported
    // and waits for a restart; the rest applies to new sessions at once.
    // The files the running configuration names (certificate, users, keys) are re-read
    // even when the new configuration is refused, so a renewed certificate is not held up
    // by an unrelated mistake in the file.
    const std::shared_ptr<const config::Config> started = cfg;
    auto reread_files = [&] {
        std::string error;
        if (!server.reload_tls(error)) logger->error("TLS not reloaded: {} (the previous certificate stays in use)", error);
        if (policy_server) {
            try {
                serve_policies(*cfg, policy_tls(*cfg));
            } catch (const std::exception& e) {
                logger->error("[mta_sts_serve] certificate not reloaded: {} (the previous one stays in use)", e.what());
            }
        }
        if (!users_holder->load()->reload(error))
            logger->error("users file not reloaded: {} (the previous one stays in use)", error);
        rotation.trigger();
    };
    auto reload = [&] {
        logger->info("received SIGHUP: reloading {}", config_path.string());
        config::LoadResult next_loaded = config::load_file(config_path);
        if (!next_loaded.ok()) {
            for (const auto& e : next_loaded.errors) logger->error("config: {}", e.to_string());
            logger->error("configuration not reloaded: {} error{}; the running configuration stays in use (its "
                          "certificate, users file and DKIM keys are re-read)",
                          next_loaded.errors.size(), next_loaded.errors.size() == 1 ? "" : "s");
            reread_files();
            return;
        }
        std::shared_ptr<const config::Config> next = next_loaded.config;
        // Everything that can fail is prepared before anything changes.
        std::shared_ptr<boost::asio::ssl::context> tls;
        try {
            tls = submission::make_tls_context(next->tls);
        } catch (const std::exception& e) {
            logger->error("TLS not reloaded: {}; configuration not reloaded, the running configuration stays in use",
                          e.what());
            return;
        }
        std::shared_ptr<boost::asio::ssl::context> next_policy_tls;
        if (policy_server && next->mta_sts_serve.listen) {
            try {
                next_policy_tls = policy_tls(*next);
            } catch (const std::exception& e) {
                logger->error("[mta_sts_serve] certificate not reloaded: {}; configuration not reloaded, the running "
                              "configuration stays in use", e.what());
                return;
            }
        }
        std::shared_ptr<auth::Authenticator> next_users = users_holder->load();
        if (next->auth.users_file != cfg->auth.users_file || next->auth.cache_ttl != cfg->auth.cache_ttl)
            next_users = std::make_shared<auth::Authenticator>(next->auth.users_file, next->auth.cache_ttl);
        if (std::string error; !next_users->reload(error)) {
            logger->error("users file not reloaded: {}; configuration not reloaded, the running configuration stays "
                          "in use", error);
            return;
        }
        // Compared with what this process started with: a change that waits for a restart
        // is reported at every reload until then.
        std::string later;
        auto restart_only = [&](bool changed, const char* what) {
            if (changed) later += std::string(later.empty() ? "" : ", ") + what;
        };
        restart_only(next->listeners != started->listeners, "[[listener]]");
        restart_only(next->queue != started->queue, "[queue]");
        restart_only(next->keys.dir != started->keys.dir, "[keys] dir");
        restart_only(next->delivery != started->delivery, "[delivery]");
        restart_only(next->routes != started->routes, "[[route]]");
        // Which recipients an [[inbound]] domain takes applies at once (new sessions). Where
        // its mail goes is the deliverer's, made at start: when that changed (a domain added
        // or removed, another deliver_to, ...) the whole [[inbound]] part waits for the
        // restart, so no session accepts mail for a domain the deliverer does not forward.
        auto forwarding = [](std::vector<config::InboundConfig> entries) {
            for (auto& e : entries) {
                e.recipients.clear();
                e.recipients_file.clear();
                e.any_recipient = false;
            }
            return entries;
        };
        if (forwarding(next->inbound) != forwarding(started->inbound)) {
            restart_only(true, "[[inbound]]");
            auto kept = std::make_shared<config::Config>(*next);
            kept->inbound = started->inbound;
            next = std::move(kept);
        }
        restart_only(next->mta_sts != started->mta_sts, "[mta_sts]");
        restart_only(next->mta_sts_serve.listen != started->mta_sts_serve.listen, "[mta_sts_serve] listen");
        restart_only(next->dns != started->dns, "[dns]");
        restart_only(next->metrics != started->metrics, "[metrics]");
        restart_only(next->log != started->log, "[log]");

        server.set_config(next, std::move(tls));
        if (next_policy_tls) serve_policies(*next, std::move(next_policy_tls));
        users_holder->store(next_users);
        failures->set_policy(auth::FailurePolicy{.max_failures = next->auth.max_failures, .lockout = next->auth.lockout});
        user_failures->set_policy(
            user_failure_policy(auth::FailurePolicy{.max_failures = next->auth.max_failures, .lockout = next->auth.lockout}));
        rotation.set_config(next);
        rotation.trigger();
        if (doctor_task) doctor_task->set_config(next);  // keys of new or changed [[domain]] tables, read on the rotation thread
        cfg = next;
        logger->info("configuration reloaded: new sessions use it");
        if (!later.empty()) logger->warn("changed settings that take effect after a restart: {}", later);
    };

    // SIGTERM/SIGINT: no new connections; idle sessions are told 421 at once and a session
    // in the middle of a message may finish it, for up to [server] shutdown_grace; then the
    // queue stops and deliveries in flight settle (bounded); exit 0.
    boost::asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
    int exit_code = 0;
    boost::asio::steady_timer stop_timer(io);
    auto stop_queue = [&] {
        control.stop();
        if (tls_report_sender) tls_report_sender->stop();
        if (doctor_task) doctor_task->stop();
        manager->stop();
        deliverer->stop();
        // Deliveries in flight report (as deferred when cut short) and their state is
        // saved before the process ends; bounded so a stuck peer cannot hold the exit.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        auto wait_settled = std::make_shared<std::function<void()>>();
        *wait_settled = [&, deadline, wait_settled] {
            if (manager->in_flight() == 0 || std::chrono::steady_clock::now() > deadline) {
                if (manager->in_flight() > 0)
                    logger->warn("{} delivery(ies) still in flight at exit; they are retried at the next start",
                                 manager->in_flight());
                metrics->stop();
                io.stop();
                return;
            }
            stop_timer.expires_after(std::chrono::milliseconds(20));
            stop_timer.async_wait([wait_settled](const boost::system::error_code&) { (*wait_settled)(); });
        };
        (*wait_settled)();
    };
    auto stop_sessions = [&] {
        const auto grace = cfg->server.shutdown_grace;
        auto deadline = std::chrono::steady_clock::now() + grace;
        server.drain();
        auto wait_sessions = std::make_shared<std::function<void()>>();
        *wait_sessions = [&, deadline, wait_sessions] {
            if (server.sessions() > 0 && std::chrono::steady_clock::now() < deadline) {
                stop_timer.expires_after(std::chrono::milliseconds(20));
                stop_timer.async_wait([wait_sessions](const boost::system::error_code&) { (*wait_sessions)(); });
                return;
            }
            if (server.sessions() > 0)
                logger->warn("{} session(s) still open after shutdown_grace ({}s): closing them; a message they had "
                             "not finished was not accepted", server.sessions(), grace.count());
            server.stop();
            stop_queue();
        };
        (*wait_sessions)();
    };
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int signo) {
            if (ec) return;
            if (signo == SIGHUP) {
                if (!stopping) reload();
                signals.async_wait(on_signal);
                return;
            }
            if (stopping) return;  // a second SIGTERM changes nothing: the deadlines hold
            stopping = true;
            logger->info("received {}, stopping: no new connections; open sessions may finish their message "
                         "(up to {}s)", signo == SIGINT ? "SIGINT" : "SIGTERM", cfg->server.shutdown_grace.count());
            users_timer.cancel();
            stopping_backlog = true;
            backlog_timer.cancel();
            if (policy_server) policy_server->stop();
            signals.async_wait(on_signal);
            stop_sessions();
        };
    signals.async_wait(on_signal);
    logger->info("ready");
    std::vector<std::thread> io_threads;
    for (unsigned i = 1; i < std::max(1u, std::thread::hardware_concurrency()); ++i)
        io_threads.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : io_threads) t.join();
    workers.join();
    committers.join();
    rotation.stop();
    logger->info("stopped");
    return exit_code;
}

}  // namespace signpost::app
