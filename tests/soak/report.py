#!/usr/bin/python3
# tests/soak/report.py — the soak's verdict: reads a run's records and writes the Markdown
# report. Used by soak.py at the end of a run; also runnable on a kept work directory
# (SIGNPOST_KEEP_WORK=1) to look at a run again:  report.py WORK_DIR [REPORT.md]
#
# Inputs in WORK: run.json (soak.py: faults with evidence, Signpost lifetimes, reloads,
# crashes, drain), acks.jsonl and events.jsonl (load.py), deliveries.jsonl (peers.py),
# samples.jsonl (soak.py's sampler), serve-N.log (Signpost's own logs).
#
# Definitions (also printed in the report):
#   acknowledged  Message-IDs answered 250 by Signpost (each is acknowledged once)
#   delivered     a recipient is delivered when a peer stored a copy of the message for it
#                 (a copy whose reply was lost counts: the receiver has it)
#   bounced       a "bounce..." recipient is bounced when a DSN naming it, with Action
#                 failed and Status 5.1.1 quoting the peer's 550, reached the sender's peer
#   lost          an acknowledged message with a recipient neither delivered nor bounced
#                 after the drain: must be 0
#   duplicates    copies of (Message-ID, recipient) beyond the first: delivery-side when the
#                 same queue id was delivered again, submission-side when another queue id
#                 carried it (the client resent after a 250 it never got)
#   beyond schedule  for every delivered or bounced recipient: the time it arrived minus
#                 the later of (its acknowledgement, the end of the last fault that could
#                 delay it: Signpost's own faults, and the faults of its domain's next hops
#                 or DNS) minus the longest retry step with jitter (11 s). A fault counts
#                 until it ended (a kill: until Signpost was ready again; a clock step:
#                 until the clock was back, since Signpost moves its waiting attempts with
#                 a step). A bounce whose DSN could not be written at first (full spool)
#                 is allowed the wait before Signpost writes it again on top ([queue]
#                 retry's first step, at most 300 s)
# Checks that fail the run: a lost message, an unexpected bounce, a recipient reported in
# two DSNs, a crash or failed start, messages left in the queue, a wait beyond the schedule
# over STUCK_SECONDS, open fds or threads of the last lifetime growing, a SIGHUP that did
# not behave (a valid config not taken, an invalid one taken or fatal), a fault kind that
# never fired, a SIGTERM exit status other than 0.
import collections
import json
import os
import re
import statistics
import sys

STUCK_SECONDS = 120
# Error lines in Signpost's log that the injected faults explain (a full spool, bad configs).
EXPLAINED_ERRORS = ("No space left on device", "configuration not reloaded", "config: ")


def jsonl(path):
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    return out


def fmt_s(x):
    return "-" if x is None else f"{x:.1f} s"


def mib(kb):
    return f"{kb / 1024:.1f} MiB"


def domain_of(addr):
    return addr.rsplit("@", 1)[-1].lower()


def is_bounce(addr):
    return addr.lower().startswith("bounce")


def stats3(values):
    if not values:
        return "-"
    return f"{min(values)} / {statistics.median(values):g} / {max(values)}"


def analyse(work, meta):
    lines = []
    out = lines.append
    fails = []
    t0 = meta["t0"]

    def rel(t):
        return "-" if t is None else f"{t - t0:+.1f} s"

    acks_list = jsonl(os.path.join(work, "acks.jsonl"))
    events = jsonl(os.path.join(work, "events.jsonl"))
    deliveries = jsonl(os.path.join(work, "deliveries.jsonl"))
    samples = jsonl(os.path.join(work, "samples.jsonl"))

    acks = {}
    acked_twice = 0
    for a in acks_list:
        if a["mid"] in acks:
            acked_twice += 1
        else:
            acks[a["mid"]] = a
    acked_qids = {a["qid"] for a in acks_list}

    # ---- deliveries and DSNs
    copies = collections.defaultdict(list)   # (mid, rcpt) -> [delivery]
    dsns = [d for d in deliveries if d.get("dsn") is not None]
    for d in deliveries:
        if d.get("dsn") is None:
            for r in d["rcpts"]:
                copies[(d["mid"], r.lower())].append(d)
    delivered_mids = {d["mid"] for d in deliveries if d.get("dsn") is None}

    dsn_by_mid = collections.Counter(d["mid"] for d in dsns)
    dsn_delivery_dups = sum(n - 1 for n in dsn_by_mid.values())
    seen_dsn_mids = set()
    bounced = {}            # (orig mid, rcpt) -> first DSN arrival time
    reports = collections.defaultdict(set)  # (orig qid, rcpt) -> DSN Message-IDs
    unexpected = []
    for d in dsns:
        if d["mid"] in seen_dsn_mids:
            continue  # a second copy of the same DSN: counted above
        seen_dsn_mids.add(d["mid"])
        info = d["dsn"]
        if "error" in info:
            unexpected.append({"dsn": d["mid"], "reason": "unreadable DSN: " + info["error"]})
            continue
        for r in info["recipients"]:
            rc = r["rcpt"].lower()
            reports[(info.get("orig_qid") or info.get("qid"), rc)].add(d["mid"])
            ok = (is_bounce(rc) and r["action"].lower() == "failed" and r["status"] == "5.1.1"
                  and "550" in r["diag"])
            if ok:
                key = (info.get("orig_mid"), rc)
                bounced.setdefault(key, d["t"])
            else:
                unexpected.append({"dsn": d["mid"], "orig_mid": info.get("orig_mid"), "rcpt": rc,
                                   "action": r["action"], "status": r["status"], "reason": r["diag"][:200]})
    double_reports = {k: v for k, v in reports.items() if len(v) > 1}

    # ---- per acknowledged message: delivered / bounced / lost
    n_rcpt = n_rcpt_delivered = n_rcpt_bounced = 0
    lost = []
    arrival = {}  # (mid, rcpt) -> first arrival time (delivery or DSN)
    for mid, a in acks.items():
        missing = []
        for r in a["rcpts"]:
            rc = r.lower()
            n_rcpt += 1
            if is_bounce(rc):
                if (mid, rc) in bounced:
                    n_rcpt_bounced += 1
                    arrival[(mid, rc)] = bounced[(mid, rc)]
                else:
                    missing.append(rc)
            elif copies.get((mid, rc)):
                n_rcpt_delivered += 1
                arrival[(mid, rc)] = min(c["t"] for c in copies[(mid, rc)])
            else:
                missing.append(rc)
        if missing:
            lost.append({"mid": mid, "qid": a["qid"], "acked": a["t"], "missing": missing})
    full_msgs = len(acks) - len(lost)

    # ---- duplicates
    kills = [f for f in meta["faults"] if f["kind"] == "kill" and f.get("t_start")]
    dup_delivery = dup_submission = 0
    dup_delivery_why = collections.Counter()
    dup_sub_unacked_qid = 0
    dup_examples = []
    for (mid, rc), cs in copies.items():
        by_qid = collections.defaultdict(list)
        for c in cs:
            by_qid[c["qid"]].append(c)
        dup_submission += len(by_qid) - 1
        if len(by_qid) > 1:
            dup_sub_unacked_qid += sum(1 for q in by_qid if q not in acked_qids)
            if len(dup_examples) < 3:
                dup_examples.append(f"submission-side: {mid} to {rc}: queue ids {', '.join(sorted(str(q) for q in by_qid))}")
        for q, group in by_qid.items():
            group.sort(key=lambda c: c["t"])
            for prev, nxt in zip(group, group[1:]):
                dup_delivery += 1
                if prev["how"] != "ok":
                    dup_delivery_why[f"the peer kept it and gave no reply ({prev['how']})"] += 1
                elif any(prev["t"] - 1 <= k["t_start"] <= nxt["t"] for k in kills):
                    # (1 s of slack: the peer may log a message that was already on its way
                    # when Signpost was killed)
                    dup_delivery_why["Signpost was killed between the peer's 250 and its own record"] += 1
                else:
                    dup_delivery_why["unexplained"] += 1
                    if len(dup_examples) < 6:
                        dup_examples.append(f"delivery-side, unexplained: {mid} to {rc} queue id {q} at "
                                            f"{rel(prev['t'])} and {rel(nxt['t'])}")
    unacked_delivered = delivered_mids - set(acks)

    # ---- events (what the clients saw)
    ev_kinds = collections.Counter()
    data_lost_replies = 0
    for e in events:
        w = e["what"]
        key = w.split(" ", 2)
        ev_kinds[" ".join(key[:2]) if key[0] in ("4xx", "5xx") else w] += 1
        if e.get("data_sent") and not w.startswith(("4xx", "5xx")):
            data_lost_replies += 1

    # ---- Signpost's logs: failure DSNs that could not be written (full spool)
    dsn_unwritten = set()
    for l in meta["lifetimes"]:
        path = os.path.join(work, l["log"])
        if os.path.exists(path):
            with open(path, errors="replace") as fh:
                for line in fh:
                    m = re.search(r"\] ([0-9A-Z]{20}): cannot queue the failure DSN", line)
                    if m:
                        dsn_unwritten.add(m.group(1))

    # ---- beyond schedule
    faults = meta["faults"]
    max_step = meta["max_retry_step"]
    dsn_retry = meta.get("dsn_retry_unreported", 300)

    def fault_end(f):
        return f.get("t_effect_end") or f.get("t_end") or f.get("t_start")

    def last_fault(t_ack, t_arr, domains):
        """The later of T_ACK and the end of the last fault before T_ARR that can delay
        mail to DOMAINS (Signpost's own faults included), and that fault (or None)."""
        base, last = t_ack, None
        for f in faults:
            if not f.get("t_start") or f["t_start"] >= t_arr:
                continue
            if "*" not in f["affects"] and not domains & set(f["affects"]):
                continue
            e = min(fault_end(f), t_arr)
            if e > base:
                base, last = e, f
        return base, last

    beyond = []
    behind = []  # (seconds past its own schedule, mid, rcpt, the other domain's fault)
    clock_waits = []  # (seconds past the schedule counted from a forward step's end, step, mid, rcpt)
    dsn_waits = []  # (seconds from the end of the last full spool to the DSN's arrival, mid, rcpt)
    for (mid, rc), t_arr in arrival.items():
        a = acks[mid]
        dom = domain_of(rc)
        step = max_step
        if is_bounce(rc) and a["qid"] in dsn_unwritten:
            # Its DSN could not be written at first: Signpost tries again after the retry
            # schedule's first step (queue::unreported_step).
            step = dsn_retry + max_step
            ends = [fault_end(f) for f in faults if f["kind"] == "disk_full" and f.get("t_start")
                    and f["t_start"] < t_arr]
            if ends:
                dsn_waits.append((t_arr - max(ends), mid, rc))
        base, last = last_fault(a["t"], t_arr, {dom})
        # The same with the faults of every domain of the message: a message's domains are
        # tried at once, but its next attempt starts only when the whole attempt has ended,
        # so a recipient can wait behind another domain's.
        base_msg, last_msg = last_fault(a["t"], t_arr, {domain_of(r) for r in a["rcpts"]})
        if t_arr - base - step > 0 and t_arr - base_msg - step <= 0:
            behind.append((t_arr - base - step, mid, rc, last_msg))
        beyond.append((t_arr - base - step, mid, rc, a["t"], t_arr, last))
        if last is not None and last["kind"] == "clock" and last["params"]["offset"] > 0:
            past = t_arr - max(last["t_end"], a["t"]) - step
            if past > 0:
                clock_waits.append((past, last["params"]["offset"], mid, rc))
    beyond.sort(key=lambda x: -x[0])
    worst = beyond[0] if beyond else None
    stuck = [b for b in beyond if b[0] > STUCK_SECONDS]
    latencies = sorted(t - acks[m]["t"] for (m, _), t in arrival.items())

    # ---- resources
    lifetimes = meta["lifetimes"]
    per_life = collections.defaultdict(list)
    for s in samples:
        per_life[s["life"]].append(s)
    growth = []
    last_life = max(per_life) if per_life else None
    if last_life is not None:
        ss = per_life[last_life]
        ready = next((l["ready"] for l in lifetimes if l["n"] == last_life), ss[0]["t"]) or ss[0]["t"]
        early = [s for s in ss if ready + 3 <= s["t"] <= ready + 33]
        final = ss[-10:]
        if len(early) >= 5 and len(final) >= 5 and ss[-1]["t"] - ready > 60:
            for key, margin in (("fds", lambda m: 1.5 * m + 10), ("threads", lambda m: m + 4)):
                e_max = max(s[key] for s in early)
                f_med = statistics.median(s[key] for s in final)
                verdict = f_med > margin(e_max)
                growth.append((key, e_max, f_med, verdict))
                if verdict:
                    fails.append(f"{key} of the last Signpost process grew from at most {e_max} early on to "
                                 f"{f_med:g} at the end")
            e_rss = max(s["rss_kb"] for s in early)
            f_rss = statistics.median(s["rss_kb"] for s in final)
            verdict = f_rss > 3 * e_rss and f_rss - e_rss > 150 * 1024
            growth.append(("rss_kb", e_rss, f_rss, verdict))
            if verdict:
                fails.append(f"RSS of the last Signpost process grew from {mib(e_rss)} to {mib(f_rss)}")
        else:
            growth.append(("-", 0, 0, None))

    # ---- reloads: sessions opened after a reload show its received_client
    reloads = meta["reloads"]
    epochs = [(meta["lifetimes"][0]["start"], True)]
    for r in reloads:
        if r["valid"] and r["ok"]:
            epochs.append((r["t"], r["received_client"]))
    form_checked = form_bad = 0
    form_bad_examples = []
    first_copy = {}
    for (mid, rc), cs in copies.items():
        for c in cs:
            if c["qid"] == acks.get(mid, {}).get("qid"):
                first_copy.setdefault(mid, c)
    for mid, a in acks.items():
        c = first_copy.get(mid)
        if c is None or not c.get("rform"):
            continue
        ct = a["conn_t"]
        # Skip sessions opened within 2 s of a reload: which side of it they fell on is moot.
        if any(abs(ct - t) < 2 for t, _ in epochs[1:]) or any(abs(ct - r["t"]) < 2 for r in reloads):
            continue
        want = epochs[0][1]
        for t, v in epochs:
            if t <= ct:
                want = v
        form_checked += 1
        if (c["rform"] == "from") != want:
            form_bad += 1
            if len(form_bad_examples) < 3:
                form_bad_examples.append(f"{mid}: session opened at {rel(ct)}, Received starts with "
                                         f"\"{c['rform']}\", expected received_client = {str(want).lower()}")

    # ---- fault evidence
    by_kind = collections.defaultdict(list)
    for f in faults:
        label = f["kind"]
        if f["kind"] == "peer":
            label = "peer " + f["params"]["mode"]
        elif f["kind"] == "dns":
            label = "dns " + f["params"]["mode"]
        elif f["kind"] == "hup":
            label = "hup " + ("valid" if f["params"]["valid"] else "invalid")
        elif f["kind"] == "clock":
            label = "clock " + ("forward" if f["params"]["offset"] > 0 else "back")
        by_kind[label].append(f)

    # ---- Signpost's logs
    log_levels = collections.Counter()
    log_msgs = collections.Counter()
    for l in lifetimes:
        path = os.path.join(work, l["log"])
        if not os.path.exists(path):
            continue
        with open(path, errors="replace") as fh:
            for line in fh:
                m = re.match(r"^\S+ (\w+)\s+\[[^\]]*\] (.*)$", line.rstrip("\n"))
                if not m:
                    continue
                lvl, text = m.group(1), m.group(2)
                lvl = "warn" if lvl == "warning" else lvl
                if lvl in ("warn", "error", "critical"):
                    log_levels[lvl] += 1
                    norm = re.sub(r"[0-9A-Z]{20}", "ID", text)
                    norm = re.sub(r"<[^>]*>", "<...>", norm)
                    norm = re.sub(r"\d+(\.\d+)?", "N", norm)
                    log_msgs[(lvl, norm[:150])] += 1

    # ---- pauses of the whole machine (the sampler, a plain 1 s loop, missed its beat)
    gaps = []
    ts = [x["t"] for x in samples]
    for x, y in zip(ts, ts[1:]):
        if y - x > 5:
            gaps.append((x, y - x))

    # ---- verdicts
    if lost:
        fails.append(f"{len(lost)} acknowledged message(s) lost")
    if unexpected:
        fails.append(f"{len(unexpected)} unexpected bounce report(s)")
    if double_reports:
        fails.append(f"{len(double_reports)} recipient(s) reported in more than one DSN")
    if meta["crashes"]:
        fails.append(f"{len(meta['crashes'])} crash(es) of Signpost")
    failed_starts = [l for l in lifetimes if l["ended_by"] == "failed start"]
    if failed_starts:
        fails.append(f"{len(failed_starts)} failed start(s) of Signpost")
    if meta.get("fatal"):
        fails.append("the run was cut short: " + meta["fatal"])
    if meta["queue_left"]:
        fails.append(f"{meta['queue_left']} message(s) still queued after the drain")
    if stuck:
        fails.append(f"{len(stuck)} recipient(s) waited more than {STUCK_SECONDS} s beyond the retry schedule")
    if form_bad:
        fails.append(f"{form_bad} message(s) carry the wrong Received form for the configuration in force")
    bad_hups = [f for f in faults if f["kind"] == "hup" and f.get("t_start") and not f["evidence"].get("fired")]
    if bad_hups:
        fails.append(f"{len(bad_hups)} SIGHUP reload(s) did not behave (see the fault table)")
    kinds_fired = {f["kind"] for f in faults if f["evidence"].get("fired")}
    never = sorted({f["kind"] for f in faults} - kinds_fired)
    if never:
        fails.append("fault kind(s) that never fired: " + ", ".join(never))
    errors = [f for f in faults if f["evidence"].get("error")]
    if errors:
        fails.append(f"{len(errors)} fault(s) could not be carried out (see the fault table)")
    if meta["sigterm_status"] != 0:
        fails.append(f"SIGTERM at the end: exit status {meta['sigterm_status']} (expected 0)")
    if meta.get("load_status", 0) != 0:
        fails.append(f"the load generator ended badly ({meta.get('load_status')}): see load.out")
    if acked_twice:
        fails.append(f"{acked_twice} Message-ID(s) acknowledged twice (the load generator resent after a 250)")

    # ---- the report
    dur = (meta["t_load_end"] - t0) / 60
    out(f"# Signpost soak: {meta['minutes']:g} minutes, seed {meta['seed']}")
    out("")
    out(f"Verdict: **{'PASS' if not fails else 'FAIL'}**" + ("" if not fails else ": " + "; ".join(fails)))
    out("")
    out(f"Load and faults for {dur:.1f} min, then drain {meta['t_drained'] - meta['t_drain_start']:.0f} s "
        f"(limit {meta['drain_limit']:.0f} s), {len(lifetimes)} Signpost process(es), "
        f"[queue] retry {', '.join(meta['retry'])}. "
        f"Reproduce: `tests/soak/soak.sh --minutes {meta['minutes']:g} --seed {meta['seed']}`.")
    out("")
    out("## Messages")
    out("")
    out("| | |")
    out("|---|---|")
    out(f"| acknowledged (250) | {len(acks)} messages, {n_rcpt} recipients |")
    out(f"| delivered | {len(delivered_mids)} distinct Message-IDs at the peers; {n_rcpt_delivered} recipients of acknowledged messages |")
    out(f"| bounced as expected | {n_rcpt_bounced} \"bounce\" recipients, each named in a DSN with Status 5.1.1 quoting the peer's 550 |")
    out(f"| other bounces | {len(unexpected)}" + (" (none, as it should be)" if not unexpected else "") + " |")
    out(f"| recipients reported twice | {len(double_reports)} (DSN copies delivered twice: {dsn_delivery_dups}) |")
    out(f"| **lost** (acknowledged, neither delivered nor bounced) | **{len(lost)}** |")
    out(f"| complete (every recipient delivered or bounced) | {full_msgs} of {len(acks)} |")
    out(f"| duplicates, delivery-side (same queue id again) | {dup_delivery}" +
        ("".join(f"; {n} {why}" for why, n in dup_delivery_why.most_common())) + " |")
    out(f"| duplicates, submission-side (another queue id: a resend after a lost 250) | {dup_submission} "
        f"({dup_sub_unacked_qid} extra copies carry a queue id that was never acknowledged) |")
    out(f"| delivered but never acknowledged (the 250 was lost and the client gave up or resent) | "
        f"{len(unacked_delivered)} Message-IDs |")
    out(f"| still queued after the drain | {meta['queue_left']} |")
    if latencies:
        out(f"| acknowledgement to arrival | median {statistics.median(latencies):.1f} s, "
            f"p99 {latencies[int(0.99 * (len(latencies) - 1))]:.1f} s, max {latencies[-1]:.1f} s |")
    out("")
    out("What the clients saw (failed tries; each was tried again): " +
        (", ".join(f"{k} ×{n}" for k, n in ev_kinds.most_common(12)) or "none") +
        f". Tries cut off after the message was sent (a 250 possibly lost): {data_lost_replies}. "
        f"Load generator: {meta.get('load_summary', '').replace('load: ', '', 1)}.")
    out("")
    for ex in dup_examples:
        out(f"- {ex}")
    for l in lost[:20]:
        out(f"- LOST: {l['mid']} (queue id {l['qid']}, acknowledged at {rel(l['acked'])}): "
            f"no copy or DSN for {', '.join(l['missing'])}")
    for u in unexpected[:20]:
        out(f"- UNEXPECTED BOUNCE: {json.dumps(u)}")
    for k, v in list(double_reports.items())[:10]:
        out(f"- REPORTED TWICE: queue id {k[0]} recipient {k[1]} in DSNs {', '.join(sorted(v))}")
    if dup_examples or lost or unexpected or double_reports:
        out("")
    out("## Waiting beyond the retry schedule")
    out("")
    out("For every delivered or bounced recipient of an acknowledged message: arrival time minus the "
        "later of (its acknowledgement, the end of the last fault that could delay it) minus the longest "
        f"retry step with jitter ({max_step:g} s). Faults that can delay a recipient: Signpost's own "
        "(SIGKILL until it is ready again, full spool, clock steps) and those of its domain's next hops "
        "and of DNS for the domains found through MX. A clock step counts until the clock is back: Signpost "
        "moves its waiting attempts with a step (queue/manager.cpp, follow_clock), so they keep their waits. "
        f"A bounce whose DSN could not be written at first (full spool) is allowed the {dsn_retry} s before "
        f"Signpost writes it again ([queue] retry's first step, at most 300 s) on top. Above {STUCK_SECONDS} s "
        "a recipient counts as stuck (the run fails).")
    out("")
    if dsn_waits:
        w = max(dsn_waits)
        out(f"Messages whose failure DSN could not be written at first while the spool was full (\"cannot queue "
            f"the failure DSN\"): {len(dsn_unwritten)}; their bounces are counted above with the {dsn_retry} s "
            f"allowed (the latest arrived {max(w[0], 0):.0f} s after the last full spool before it ended, "
            f"{w[1]} to {w[2]}, which may also have waited for other faults or for a later bounce of the same message).")
        out("")
    if worst:
        out(f"Longest: **{worst[0]:.1f} s** — {worst[1]} to {worst[2]}: acknowledged at {rel(worst[3])}, "
            f"arrived at {rel(worst[4])}, last fault before it: "
            + (f"#{worst[5]['id']} {worst[5]['kind']} {json.dumps(worst[5]['params'])} "
               f"{rel(worst[5]['t_start'])} to {rel(fault_end(worst[5]))}" if worst[5] else "none") + ".")
        over = [b for b in beyond if b[0] > 0]
        out(f"Recipients past the schedule at all: {len(over)} of {len(beyond)}; over 30 s: "
            f"{sum(1 for b in beyond if b[0] > 30)}; over {STUCK_SECONDS} s: {len(stuck)}.")
        for b in beyond[1:5]:
            if b[0] > 0:
                out(f"- {b[0]:.1f} s: {b[1]} to {b[2]} (acknowledged {rel(b[3])}, arrived {rel(b[4])}"
                    + (f", after fault #{b[5]['id']} {b[5]['kind']}" if b[5] else "") + ")")
    else:
        out("No recipient arrived.")
    out("")
    out("## Findings")
    out("")
    found = False
    if behind:
        found = True
        w = max(behind, key=lambda b: b[0])
        f = w[3]
        out(f"- {len(behind)} recipient(s) waited past their own schedule only because another recipient domain "
            f"of the same message was misbehaving: Signpost tries a message's domains at once "
            f"(relay/delivery/mx.cpp), but hands the message to delivery again only once the whole attempt has "
            f"ended, so a recipient whose domain failed quickly is retried after the attempt at a slow one ends. "
            f"The longest: {w[0]:.0f} s, {w[1]} to {w[2]}, whose message's other domains last had fault "
            f"#{f['id']} {f['kind']} {json.dumps(f['params'])}. With the next hops' real timeouts (5 minutes for a greeting, 10 after the "
            f"final dot) one stalled domain can delay the retries of a message's other domains that long.")
    if clock_waits:
        found = True
        w = max(clock_waits)
        out(f"- {len(clock_waits)} recipient(s) arrived later than the retry schedule allows when counted from "
            f"the moment a forward clock step ended (the longest {w[0]:.0f} s, after a {w[1]:+d} s step: {w[2]} to "
            f"{w[3]}): Signpost moves its waiting attempts with a clock step it sees (queue/manager.cpp, "
            "follow_clock); these waited as if it had not.")
    if gaps:
        found = True
        out(f"- The whole machine paused {len(gaps)} time(s) (the harness's own 1 s sampler missed its beat, "
            f"and Signpost, the clients and the peers were silent meanwhile): "
            + ", ".join(f"{g:.0f} s at {rel(x)}" for x, g in gaps) + ". Not a Signpost fault; waits around "
            "these moments are stretched by them.")
    odd_errors = [(text, n) for (lvl, text), n in log_msgs.most_common()
                  if lvl in ("error", "critical") and not any(x in text for x in EXPLAINED_ERRORS)]
    if odd_errors:
        found = True
        out("- Error lines in Signpost's log that no injected fault explains (not a failure by themselves; "
            "worth a look): " + "; ".join(f"`{t}` ×{n}" for t, n in odd_errors[:8]) + ".")
    if not found:
        out("- Nothing beyond the checks above.")
    out("")
    out("## Signpost processes")
    out("")
    out("Sampled every second from /proc/PID/status (VmRSS, Threads) and /proc/PID/fd; min / median / max "
        "over each process's life.")
    out("")
    out("| # | started | ended | by | samples | RSS MiB | threads | open fds | CPU s |")
    out("|---|---|---|---|---|---|---|---|---|")
    peak_rss = max((s["rss_kb"] for s in samples), default=0)
    for l in lifetimes:
        ss = per_life.get(l["n"], [])
        rss = [round(s["rss_kb"] / 1024, 1) for s in ss]
        out(f"| {l['n']} | {rel(l['start'])} | {rel(l['end'])} | {l['ended_by']} ({l['status']}) | {len(ss)} | "
            f"{stats3(rss)} | {stats3([s['threads'] for s in ss])} | {stats3([s['fds'] for s in ss])} | "
            f"{ss[-1]['cpu_s'] if ss else 0:.0f} |")
    out("")
    final_rss = samples[-1]["rss_kb"] if samples else 0
    sp_cpu = sum(per_life[n][-1]["cpu_s"] for n in per_life if per_life[n])
    hc = meta.get("harness_cpu_s", {})
    out(f"Peak RSS {mib(peak_rss)}; final RSS {mib(final_rss)}. CPU time: Signpost {sp_cpu:.0f} s, "
        f"the harness's load generator {hc.get('load', 0):.0f} s, its peers and DNS server {hc.get('peers', 0):.0f} s.")
    for key, e_max, f_med, verdict in growth:
        if verdict is None:
            out("Growth check: the last process lived too briefly to compare.")
        else:
            shown = (mib(e_max), mib(f_med)) if key == "rss_kb" else (e_max, f"{f_med:g}")
            out(f"Growth check, last process, {key}: early (its first 30 s under load) max {shown[0]}, "
                f"final (last 10 samples, idle after the drain) median {shown[1]}: "
                + ("GREW" if verdict else "ok"))
    out("")
    out("## Faults")
    out("")
    out("| fault | planned | fired | evidence |")
    out("|---|---|---|---|")
    for label in sorted(by_kind):
        fs = by_kind[label]
        fired = [f for f in fs if f["evidence"].get("fired")]
        out(f"| {label} | {len(fs)} | {len(fired)} | {evidence_summary(label, fs)} |")
    out("")
    for f in faults:
        if f["evidence"].get("error"):
            out(f"- fault #{f['id']} {f['kind']}: {f['evidence']['error']}")
    ps = meta.get("peer_stats", {})
    out("Peer counters over the run: " + ", ".join(f"{k} {v}" for k, v in sorted(ps.items())) + ".")
    out("")
    out(f"SIGHUP: {sum(1 for r in reloads if r['valid'])} valid reloads (received_client flipped), "
        f"{sum(1 for r in reloads if not r['valid'])} invalid (type error, unknown key, TOML syntax error in turn); "
        f"{form_checked} messages from sessions opened between reloads checked for the Received form in force: "
        f"{form_bad} wrong.")
    for ex in form_bad_examples:
        out(f"- {ex}")
    out("")
    out("## Signpost's log")
    out("")
    out(f"warn {log_levels['warn']}, error {log_levels['error']}, critical {log_levels['critical']} lines (deferrals "
        "are warnings); the most frequent, ids, addresses and numbers folded:")
    out("")
    errs = [(k, n) for k, n in log_msgs.most_common() if k[0] != "warn"][:12]
    warns = [(k, n) for k, n in log_msgs.most_common() if k[0] == "warn"][:8]
    for (lvl, text), n in errs + warns:
        out(f"- {lvl} ×{n}: `{text}`")
    for c in meta["crashes"]:
        out(f"- CRASH of process {c['lifetime']} (status {c['status']}):")
        for line in c["log_tail"][-10:]:
            out(f"    {line}")
    if meta.get("queue_listing"):
        out("")
        out("Left in the queue:")
        out("```")
        out(str(meta["queue_listing"])[:3000])
        out("```")
    out("")
    return "\n".join(lines) + "\n", not fails


def evidence_summary(label, fs):
    """One table cell: what shows the faults of one kind fired."""
    def g(f, k, d=0):
        return f["evidence"].get(k, d)
    kind = fs[0]["kind"]
    if kind == "kill":
        ready = [g(f, "restarted_ready_after_s", None) for f in fs if g(f, "restarted_ready_after_s", None) is not None]
        return (f"killed with status -9: {sum(1 for f in fs if g(f, 'status', None) == -9)}; ready again after "
                f"{min(ready):.1f}–{max(ready):.1f} s (restart delay included)" if ready else "no restart")
    if kind == "hup":
        if fs[0]["params"]["valid"]:
            return "\"configuration reloaded\" logged"
        running = sum(1 for f in fs if g(f, "still_running", False))
        return f"\"configuration not reloaded\" logged, still running afterwards: {running}"
    if kind == "disk_full":
        return (f"ENOSPC reached {sum(1 for f in fs if g(f, 'enospc', False))} times; filler "
                f"{min(g(f, 'filler_bytes') for f in fs) >> 20}–{max(g(f, 'filler_bytes') for f in fs) >> 20} MiB, "
                f"{max(g(f, 'free_after') for f in fs) >> 10} KiB free at most after it")
    if kind == "dns":
        return f"queries not answered normally during the faults: {sum(g(f, 'queries') for f in fs)}"
    if kind == "clock":
        offs = [f["params"]["offset"] for f in fs]
        sk = [(g(f, "skew_min", None), g(f, "skew_max", None)) for f in fs]
        shown = ", ".join(f"{o:+d} s → log {a:+.1f}..{b:+.1f}" for o, (a, b) in zip(offs, sk) if a is not None)
        return "steps and the skew of Signpost's log timestamps meanwhile: " + (shown or "no log lines")
    if kind == "peer":
        tot = collections.Counter()
        for f in fs:
            tot.update(g(f, "counts", {}))
        return ", ".join(f"{k} {v}" for k, v in sorted(tot.items())) or "-"
    return "-"


def main():
    work = sys.argv[1]
    meta = json.load(open(os.path.join(work, "run.json")))
    text, ok = analyse(work, meta)
    print(text)
    if len(sys.argv) > 2:
        open(sys.argv[2], "w").write(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
