// keys/rotation.cpp — the pure rotation planner (see rotation.hpp).
#include "keys/rotation.hpp"

#include <algorithm>

namespace signpost::keys {
namespace {

bool configured(const RotationPolicy& p, config::DkimAlgorithm alg) {
    return std::find(p.algorithms.begin(), p.algorithms.end(), alg) != p.algorithms.end();
}

void add_pending(Plan& plan, const RotationPolicy& policy, config::DkimAlgorithm alg, Time now,
                 bool asap, const std::vector<std::string>& taken, std::string selector = {}) {
    KeyEntry e;
    e.selector = selector.empty() ? next_selector(plan.next, policy.selector_prefix, now, taken)
                                  : std::move(selector);
    e.algorithm = alg;
    e.state = KeyState::pending;
    e.created = now;
    e.asap = asap;
    plan.generate.push_back(e.selector);
    plan.events.push_back({EventKind::generated, e.selector, alg});
    plan.next.keys.push_back(std::move(e));
    plan.changed = true;
}

// Makes `selector` active and retires the active key of the same algorithm.
void promote(Plan& plan, const std::string& selector, Time now) {
    KeyEntry* p = plan.next.find(selector);
    for (auto& k : plan.next.keys) {
        if (k.algorithm == p->algorithm && k.state == KeyState::active) {
            k.state = KeyState::retiring;
            k.retiring_since = now;
            plan.events.push_back({EventKind::retiring, k.selector, k.algorithm});
        }
    }
    p->state = KeyState::active;
    p->activated = now;
    p->asap = false;
    plan.events.push_back({EventKind::activated, p->selector, p->algorithm});
    plan.changed = true;
}

}  // namespace

std::string_view to_string(DnsStatus s) {
    switch (s) {
        case DnsStatus::published: return "published";
        case DnsStatus::missing: return "missing";
        case DnsStatus::mismatch: return "mismatch";
        case DnsStatus::error: return "error";
    }
    return "?";
}

std::string_view to_string(EventKind k) {
    switch (k) {
        case EventKind::generated: return "generated";
        case EventKind::activated: return "activated";
        case EventKind::retiring: return "retiring";
        case EventKind::retired: return "retired";
        case EventKind::blocked: return "blocked";
        case EventKind::dropped: return "dropped";
    }
    return "?";
}

RotationPolicy RotationPolicy::from(const config::DomainConfig& d) {
    RotationPolicy p;
    p.algorithms = d.algorithms;
    p.rotate_every = d.rotate_every;
    p.publish_lead = d.publish_lead;
    p.retire_after = d.retire_after;
    p.selector_prefix = d.selector_prefix;
    return p;
}

std::optional<Time> rotation_due(const DomainKeys& state, const RotationPolicy& policy,
                                 config::DkimAlgorithm alg) {
    const KeyEntry* a = state.active(alg);
    if (!a || !a->activated || policy.rotate_every.count() == 0) return std::nullopt;
    return *a->activated + policy.rotate_every;
}

Plan plan_rotation(const DomainKeys& current, const RotationPolicy& policy, Time now,
                   const std::function<DnsStatus(const KeyEntry&)>& dns,
                   const std::vector<std::string>& taken) {
    Plan plan;
    plan.next = current;

    // Algorithms no longer configured: stop signing with them, drop unpublished keys.
    for (auto& k : plan.next.keys) {
        if (configured(policy, k.algorithm)) continue;
        if (k.state == KeyState::active) {
            k.state = KeyState::retiring;
            k.retiring_since = now;
            plan.events.push_back({EventKind::retiring, k.selector, k.algorithm});
            plan.changed = true;
        } else if (k.state == KeyState::pending) {
            k.state = KeyState::retired;
            k.retiring_since = now;
            k.retired_at = now;
            k.asap = false;
            plan.delete_keys.push_back(k.selector);
            plan.events.push_back({EventKind::dropped, k.selector, k.algorithm});
            plan.changed = true;
        }
    }

    for (auto alg : policy.algorithms) {
        const KeyEntry* active = plan.next.active(alg);
        const KeyEntry* pending = plan.next.pending(alg);
        auto due = rotation_due(plan.next, policy, alg);
        if (!pending) {
            if (!active) add_pending(plan, policy, alg, now, true, taken);
            else if (due && now >= *due - policy.publish_lead) add_pending(plan, policy, alg, now, false, taken);
            continue;
        }
        bool eligible = pending->asap || !active || (due && now >= *due);
        if (!eligible) continue;
        DnsStatus status = dns(*pending);
        if (status == DnsStatus::published) {
            promote(plan, pending->selector, now);
        } else {
            plan.events.push_back({EventKind::blocked, pending->selector, alg, status});
        }
    }

    for (auto& k : plan.next.keys) {
        if (k.state != KeyState::retiring || !k.retiring_since) continue;
        if (now >= *k.retiring_since + policy.retire_after) {
            k.state = KeyState::retired;
            k.retired_at = now;
            plan.delete_keys.push_back(k.selector);
            plan.events.push_back({EventKind::retired, k.selector, k.algorithm});
            plan.changed = true;
        }
    }
    return plan;
}

Plan start_rotation(const DomainKeys& current, const RotationPolicy& policy,
                    config::DkimAlgorithm alg, Time now, const std::vector<std::string>& taken) {
    Plan plan;
    plan.next = current;
    for (auto& k : plan.next.keys) {
        if (k.algorithm == alg && k.state == KeyState::pending) {
            if (!k.asap) {
                k.asap = true;
                plan.changed = true;
            }
            return plan;
        }
    }
    add_pending(plan, policy, alg, now, true, taken);
    return plan;
}

Plan add_pending_key(const DomainKeys& current, const RotationPolicy& policy,
                     config::DkimAlgorithm alg, Time now, std::string selector,
                     const std::vector<std::string>& taken) {
    Plan plan;
    plan.next = current;
    add_pending(plan, policy, alg, now, current.active(alg) == nullptr, taken, std::move(selector));
    return plan;
}

Plan activate_now(const DomainKeys& current, std::string_view selector, Time now) {
    Plan plan;
    plan.next = current;
    const KeyEntry* k = plan.next.find(selector);
    if (!k || k->state != KeyState::pending) return plan;
    promote(plan, std::string(selector), now);
    return plan;
}

}  // namespace signpost::keys
