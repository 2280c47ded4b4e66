#!/usr/bin/python3
# tests/soak/soak.py — the soak harness's conductor (run by soak.sh, which prepares the dev
# setup, the certificates and the spool tmpfs; run with /usr/bin/python3).
#
# What runs (all on loopback, 127.0.0.0/8):
#   - peers.py: SMTP next hops on six addresses 127.A.B.{2,3,4,5,6,10} (one port, the
#     [delivery] mx_port) and a DNS server for the test zone (the [dns] forwarder);
#   - Signpost (`signpost serve`) with LD_PRELOAD=libfaketimeMT (soak.sh says why MT), so
#     that its realtime clock can be stepped (monotonic clock untouched), its spool on the
#     tmpfs;
#   - load.py: submissions over STARTTLS + AUTH, 1/4/16 threads in phases, resending what
#     was not acknowledged;
#   - here: a sampler (RSS, threads, open fds of Signpost every second) and the faults.
#
# Recipient domains (see zone_records/config_text): ok.test (two MX, 127.A.B.2 and .3,
# opportunistic TLS), flaky.test (one MX, .4), verify.test (one MX, .5, [[route]] tls =
# "verify": a wrong certificate defers), routed.test ([[route]] host = .6, no DNS), and the
# sender's domain example.test ([[route]] host = .10, always well-behaved: DSNs land there).
#
# Faults (a plan drawn from --seed before the run; each kind several times in 30 minutes,
# at least once in 5; faults of different kinds overlap, those of one kind do not):
#   kill        SIGKILL of Signpost, restart on the same spool after 0-2 s
#   hup         SIGHUP after writing a valid changed config ([server] received_client
#               flipped, which shows in the Received field of later sessions) or, alternately,
#               an invalid one (Signpost must log the error and keep the running config)
#   disk_full   a filler file written on the spool tmpfs until ENOSPC, held, then deleted
#   peer        one next hop switched to reset_data / tempfail / drop_after_dot / stall /
#               tls_fail / wrong_cert (peers.py), then back to normal
#   dns         the DNS server answers SERVFAIL, or drops every query (timeouts)
#   clock       Signpost's realtime clock stepped forward or back by 30-120 s
#               (FAKETIME_TIMESTAMP_FILE, re-read at every call), then back to true time
#               (DNS and clock faults never overlap: see plan())
# Every fault records evidence that it fired (peer/DNS counters, ENOSPC, the skew of
# Signpost's own log timestamps, the reload log lines, the killed process's status).
#
# After --minutes the load stops, the faults end, the queue drains (bounded: 180 s, see
# DRAIN_SECONDS), Signpost is stopped with SIGTERM, and report.py compares
# what was acknowledged with what the peers received. Exit status: report.py's verdict.
# Everything here is bounded in time; the processes started are listed in WORK/pids for
# soak.sh to kill should this program die.
import argparse
import calendar
import ctypes
import errno
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import report  # noqa: E402

PY = "/usr/bin/python3"
RETRY = ["2s", "5s", "10s"]
MAX_RETRY_STEP = 11.0  # the longest step, 10 s, plus Signpost's +10% jitter
# The drain's bound: 3 minutes, plus the largest forward clock step (a margin for anything
# else in Signpost that keeps wall-clock times, such as DNS caches).
DRAIN_SECONDS = 180
# A failure DSN that could not be written (full spool) is tried again after [queue] retry's
# first step, at most 300 s (queue::unreported_step): 2 s here.
DSN_RETRY_UNREPORTED = min(300, int(RETRY[0].rstrip("s")))
PEER_MODES = ("reset_data", "tempfail", "drop_after_dot", "stall", "tls_fail", "wrong_cert")
HOSTS = {"mx1": 2, "mx2": 3, "flaky": 4, "verify": 5, "routed": 6, "sender": 10}
ROUTE_ADDRS = {  # recipient domain -> the host keys that serve it
    "ok.test": ["mx1", "mx2"], "flaky.test": ["flaky"], "verify.test": ["verify"],
    "routed.test": ["routed"], "example.test": ["sender"],
}
DNS_DOMAINS = ["ok.test", "flaky.test", "verify.test"]  # found through the MX lookup


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


def die_with_parent():
    """PR_SET_PDEATHSIG: SIGKILL this process when the thread that started it ends."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


def port_free(addrs, port, udp=False):
    socks = []
    try:
        for a in addrs:
            for kind in ((socket.SOCK_STREAM, socket.SOCK_DGRAM) if udp else (socket.SOCK_STREAM,)):
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind((a, port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def pick_ports(rng, addrs):
    """A port free on every peer address, and one free for DNS (UDP+TCP) on 127.0.0.1; both
    below the ephemeral range, as lib.sh's free_port picks them."""
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    top = low - 1 if low > 12000 else 32767
    smtp = dns = None
    for _ in range(500):
        p = rng.randint(10000, top)
        if smtp is None and port_free(addrs, p):
            smtp = p
        elif dns is None and p != smtp and port_free(["127.0.0.1"], p, udp=True):
            dns = p
        if smtp and dns:
            return smtp, dns
    raise SystemExit("no free ports found")


class Harness:
    def __init__(self, a):
        self.a = a
        self.work = a.work
        self.rng = random.Random(a.seed)
        self.seconds = a.minutes * 60.0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.pids = open(os.path.join(self.work, "pids"), "a")
        self.lifetimes = []          # one dict per Signpost process
        self.sp = None               # its subprocess.Popen
        self.faults = []
        self.reloads = []            # {"t", "valid", "received_client", "logged"}
        self.received_client = True  # what the running config says
        self.crashes = []
        self.clock_offset = 0
        self.filler = os.path.join(a.spool_mount, "filler")
        self.stamp = os.path.join(self.work, "faketime-offset")
        self.cfg = os.path.join(self.work, "signpost.toml")
        self.ts_re = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z ")

    # ------------------------------------------------------------------ setup
    def setup(self):
        # Peer addresses: 127.A.B.x with A, B drawn, so that two soaks (or other tests using
        # 127.0.0.x) never share an address.
        for _ in range(50):
            net = f"127.{self.rng.randint(100, 250)}.{self.rng.randint(1, 250)}."
            self.addr = {k: net + str(v) for k, v in HOSTS.items()}
            try:
                self.smtp_port, self.dns_port = pick_ports(self.rng, list(self.addr.values()))
                break
            except SystemExit:
                continue
        dev = tomllib.load(open(os.path.join(self.a.dev, "signpost.toml"), "rb"))
        self.listeners = dev["listener"]
        self.metrics = dev["metrics"]["listen"]
        self.sub_port = int(next(l for l in self.listeners if l["tls"] == "starttls")["address"].rsplit(":", 1)[1])
        self.password = open(os.path.join(self.a.dev, "dev-password")).read().strip()
        self.write_config(self.config_text(True))
        with open(self.stamp, "w") as f:
            f.write("+0\n")
        zone = {
            "ok.test.": {"MX": ["10 mx1.ok.test.", "10 mx2.ok.test."]},
            "mx1.ok.test.": {"A": [self.addr["mx1"]]},
            "mx2.ok.test.": {"A": [self.addr["mx2"]]},
            "flaky.test.": {"MX": ["10 mx.flaky.test."]},
            "mx.flaky.test.": {"A": [self.addr["flaky"]]},
            "verify.test.": {"MX": ["10 mx.verify.test."]},
            "mx.verify.test.": {"A": [self.addr["verify"]]},
        }
        with open(os.path.join(self.work, "zone.json"), "w") as f:
            json.dump(zone, f, indent=1)
        chk = subprocess.run([self.a.signpost, "check-config", "--config", self.cfg], capture_output=True, text=True)
        if chk.returncode != 0:
            raise SystemExit("the soak config is refused:\n" + chk.stdout + chk.stderr)
        bad = self.config_text(True, invalid=0)
        self.write_config(bad, path=self.cfg + ".probe")
        chk = subprocess.run([self.a.signpost, "check-config", "--config", self.cfg + ".probe"], capture_output=True)
        if chk.returncode == 0:
            raise SystemExit("the invalid config variant is accepted by check-config")
        os.unlink(self.cfg + ".probe")

    def config_text(self, received_client, invalid=None):
        d, pki = self.a.dev, self.a.pki
        lst = "".join(f'[[listener]]\nname = "{l["name"]}"\naddress = "{l["address"]}"\ntls = "{l["tls"]}"\n\n'
                      for l in self.listeners)
        rc = "true" if received_client else "false"
        extra = ""
        if invalid == 0:
            rc = '"sometimes"'                      # a type error
        elif invalid == 1:
            extra = 'max_recipents = 50\n'          # an unknown key (in [limits])
        elif invalid == 2:
            extra = 'message_size = "25 MB\n'       # a TOML syntax error
        return f"""# Written by tests/soak/soak.py for one soak run.
[server]
hostname = "localhost"
received_client = {rc}
shutdown_grace = "5s"

{lst}[tls]
cert = "{d}/tls/cert.pem"
key = "{d}/tls/key.pem"

[auth]
users_file = "{d}/users"

[limits]
max_connections_per_ip = 200
{extra}
[[domain]]
name = "example.test"
algorithms = ["ed25519", "rsa2048"]
rotate_every = "0"

[keys]
dir = "{d}/keys"

[queue]
dir = "{self.a.spool_mount}/spool"
retry = {json.dumps(RETRY)}
max_lifetime = "7d"
warn_after = "0"
min_free_space = "1MB"

[delivery]
mode = "mx"
mx_port = {self.smtp_port}
extra_ca_file = "{pki}/ca.pem"

[[route]]
domain = "example.test"
host = "{self.addr['sender']}:{self.smtp_port}"
tls = "may"

[[route]]
domain = "routed.test"
host = "{self.addr['routed']}:{self.smtp_port}"
tls = "may"

[[route]]
domain = "verify.test"
tls = "verify"

[mta_sts]
enabled = false

[dns]
forwarders = ["127.0.0.1@{self.dns_port}"]
timeout = "5s"

[metrics]
listen = "{self.metrics}"

[log]
level = "info"
format = "text"
"""

    def write_config(self, text, path=None):
        path = path or self.cfg
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)

    def spawn(self, argv, out, env=None):
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=die_with_parent)
        self.pids.write(f"{p.pid}\n")
        self.pids.flush()
        return p

    def start_peers(self):
        pki = self.a.pki
        argv = [PY, os.path.join(HERE, "peers.py"), "--port", str(self.smtp_port), "--dns-port", str(self.dns_port),
                "--zone", os.path.join(self.work, "zone.json"), "--cert", f"{pki}/peers.pem", "--key", f"{pki}/peers.key",
                "--wrong-cert", f"{pki}/wrong.pem", "--wrong-key", f"{pki}/wrong.key",
                "--control", os.path.join(self.work, "peers.sock"), "--log", os.path.join(self.work, "deliveries.jsonl"),
                "--seed", str(self.a.seed), "--fixed", self.addr["sender"]]
        for k in HOSTS:
            argv += ["--address", self.addr[k]]
        self.peers_out = open(os.path.join(self.work, "peers.out"), "w")
        self.peers = self.spawn(argv, self.peers_out)
        for _ in range(100):
            if "READY" in open(os.path.join(self.work, "peers.out")).read():
                return
            if self.peers.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit("peers.py did not start:\n" + open(os.path.join(self.work, "peers.out")).read())

    def peers_cmd(self, **req):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(os.path.join(self.work, "peers.sock"))
            s.sendall((json.dumps(req) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        return json.loads(buf)

    # ------------------------------------------------------------------ Signpost
    def start_signpost(self, why):
        """Starts Signpost and waits for "ready" (retrying for up to 2 minutes: a start may
        fail while the spool is full). Returns the lifetime record."""
        env = dict(os.environ, LD_PRELOAD=self.a.faketime_lib, FAKETIME_TIMESTAMP_FILE=self.stamp,
                   FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1")
        deadline = time.time() + 120
        while True:
            n = len(self.lifetimes) + 1
            path = os.path.join(self.work, f"serve-{n}.log")
            out = open(path, "w")
            t0 = time.time()
            p = self.spawn([self.a.signpost, "serve", "--config", self.cfg], out, env=env)
            life = {"n": n, "pid": p.pid, "start": t0, "ready": None, "end": None, "ended_by": None,
                    "status": None, "log": os.path.basename(path), "why": why}
            with self.lock:
                self.lifetimes.append(life)
                self.sp = p
            for _ in range(300):
                if p.poll() is not None:
                    break
                if re.search(r"\] ready$", open(path).read(), re.M):
                    life["ready"] = time.time()
                    return life
                time.sleep(0.1)
            # Did not get ready within 30 s, or exited.
            if p.poll() is None:
                p.kill()
                p.wait()
            life["end"], life["ended_by"], life["status"] = time.time(), "failed start", p.returncode
            tail = open(path).read().splitlines()[-5:]
            log(f"signpost start {n} failed (status {p.returncode}): " + " | ".join(tail))
            if time.time() > deadline:
                raise SystemExit(f"signpost did not start for 2 minutes (last log: {path})")
            time.sleep(2)

    def end_lifetime(self, how, status):
        with self.lock:
            life = self.lifetimes[-1]
            life["end"], life["ended_by"], life["status"] = time.time(), how, status

    def restart_if_crashed(self, why):
        """A Signpost that exited without being told to has crashed: recorded (the report
        fails the run) and restarted. Runs on the main thread only (see run)."""
        with self.lock:
            p, life = self.sp, self.lifetimes[-1]
            if life["end"] is not None or p.poll() is None:
                return
            life["end"], life["ended_by"], life["status"] = time.time(), "crash", p.returncode
        tail = open(os.path.join(self.work, life["log"])).read().splitlines()[-20:]
        self.crashes.append({"t": time.time(), "lifetime": life["n"], "status": p.returncode, "log_tail": tail})
        log(f"CRASH: signpost lifetime {life['n']} exited with status {p.returncode}; restarting")
        self.start_signpost(why)

    def sampler(self):
        out = open(os.path.join(self.work, "samples.jsonl"), "a")
        while not self.sampler_stop.is_set():
            t = time.time()
            with self.lock:
                life = self.lifetimes[-1] if self.lifetimes else None
            if life and life["end"] is None and life["ready"]:
                try:
                    status = open(f"/proc/{life['pid']}/status").read()
                    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
                    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
                    fds = len(os.listdir(f"/proc/{life['pid']}/fd"))
                    st = open(f"/proc/{life['pid']}/stat").read().rsplit(")", 1)[1].split()
                    cpu = (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
                    out.write(json.dumps({"t": t, "life": life["n"], "rss_kb": rss, "threads": threads,
                                          "fds": fds, "cpu_s": cpu}) + "\n")
                    out.flush()
                except (OSError, AttributeError, ValueError, IndexError):
                    pass
            for name in ("load", "peers"):
                proc = getattr(self, name, None)
                if proc is not None:
                    try:
                        st = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
                        self.cpu_seen[name] = (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
                    except (OSError, IndexError, ValueError):
                        pass
            self.sampler_stop.wait(max(0.0, 1.0 - (time.time() - t)))

    def log_skew(self, since, until=None):
        """Signpost's log timestamps minus the true time they were read at, for lines read
        in [since, until]: the clock step it lived under (within the read delay)."""
        with self.lock:
            return [s for t, s in self.skews if t >= since and (until is None or t <= until)]

    def log_follower(self):
        """Follows the current lifetime's log, noting each line's timestamp skew."""
        pos, name = 0, None
        while not self.sampler_stop.is_set():
            with self.lock:
                life = self.lifetimes[-1] if self.lifetimes else None
            if life and life["log"] != name:
                name, pos = life["log"], 0
            if name:
                try:
                    with open(os.path.join(self.work, name)) as f:
                        f.seek(pos)
                        chunk = f.read()
                        pos = f.tell()
                    now = time.time()
                    for line in chunk.splitlines():
                        m = self.ts_re.match(line)
                        if m:
                            ts = calendar.timegm(time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S"))
                            ts += float("0." + m.group(1)[20:])
                            with self.lock:
                                self.skews.append((now, ts - now))
                except OSError:
                    pass
            self.sampler_stop.wait(0.2)

    def wait_log(self, pattern, since_pos, seconds):
        """Waits until the current lifetime's log has a line matching PATTERN after offset
        SINCE_POS; returns the line or None."""
        path = os.path.join(self.work, self.lifetimes[-1]["log"])
        end = time.time() + seconds
        while time.time() < end:
            with open(path) as f:
                f.seek(since_pos)
                for line in f.read().splitlines():
                    if re.search(pattern, line):
                        return line
            time.sleep(0.1)
        return None

    # ------------------------------------------------------------------ the fault plan
    def plan(self):
        """Draws every fault of the run: (channel, kind, params, start, duration)."""
        T = self.seconds
        rng = random.Random(self.a.seed * 7 + 1)
        lo, hi = 15.0, T - 20.0
        faults = []

        def slots(channel, items, start, end, dur_range):
            """Places ITEMS (params dicts) one per equal slot of [start, end], no overlap."""
            n = len(items)
            if n == 0 or end <= start:
                return
            width = (end - start) / n
            for i, params in enumerate(items):
                dur = min(rng.uniform(*dur_range), width * 0.8)
                s = start + i * width + rng.uniform(0, width - dur)
                faults.append({"channel": channel, "kind": params.pop("kind"), "params": params,
                               "start": s, "end": s + dur})

        def count(period, least=1):
            return max(least, int(round(T / period)))

        # Process faults share one channel (a kill never lands in a bad-config window).
        n_kill, n_hup = count(80), count(60, 2)
        proc = [{"kind": "kill", "restart_delay": round(rng.uniform(0, 2), 2)} for _ in range(n_kill)]
        proc += [{"kind": "hup"} for _ in range(n_hup)]
        rng.shuffle(proc)
        # Reloads alternate in time: valid, invalid, valid, ...; the invalid ones cycle through
        # a type error, an unknown key and a TOML syntax error (config_text).
        for i, item in enumerate(p for p in proc if p["kind"] == "hup"):
            item.update(valid=i % 2 == 0, variant=(i // 2) % 3)
        # No kill in the last minute, so the last lifetime has a steady stretch to compare.
        slots("process", proc, lo, min(hi, T - 60), (0.1, 0.1))
        slots("disk", [{"kind": "disk_full"} for _ in range(count(150))], lo, hi, (8, 25))
        # DNS and clock faults share a channel: under a clock stepped back, libunbound keeps
        # its cached answers that much longer (their TTLs count in wall-clock time), so a DNS
        # fault meanwhile might see no query at all.
        dns_clock = [{"kind": "dns", "mode": ("servfail", "drop")[i % 2]} for i in range(count(100, 2))]
        for i in range(count(120, 2)):
            dns_clock.append({"kind": "clock", "offset": rng.randint(30, 120) * (1 if i % 2 == 0 else -1)})
        rng.shuffle(dns_clock)
        slots("dns+clock", dns_clock, lo, hi, (12, 35))
        # Next hops: every misbehaviour at least once, wrong_cert on the verify.test hop.
        n_peer = max(len(PEER_MODES) + 2, int(T / 12))
        modes = []
        while len(modes) < n_peer:
            chunk = list(PEER_MODES)
            rng.shuffle(chunk)
            modes += chunk
        per_host = {k: [] for k in ("mx1", "mx2", "flaky", "verify", "routed")}
        for i, m in enumerate(modes[:n_peer]):
            host = "verify" if m == "wrong_cert" and i % 2 == 0 else rng.choice(list(per_host))
            per_host[host].append({"kind": "peer", "host": host, "mode": m})
        if not any(f["mode"] == "wrong_cert" for f in per_host["verify"]):
            per_host["verify"].append({"kind": "peer", "host": "verify", "mode": "wrong_cert"})
        for host, items in per_host.items():
            rng.shuffle(items)
            slots("peer-" + host, items, lo, hi, (5, 40))
        faults.sort(key=lambda f: f["start"])
        for i, f in enumerate(faults):
            f["id"] = i + 1
        return faults

    def affects(self, f):
        """The recipient domains a fault can delay ("*" = all: Signpost itself)."""
        if f["kind"] in ("kill", "disk_full", "clock"):
            return ["*"]
        if f["kind"] == "dns":
            return list(DNS_DOMAINS)
        if f["kind"] == "peer":
            return [d for d, hosts in ROUTE_ADDRS.items() if f["params"]["host"] in hosts]
        return []

    # ------------------------------------------------------------------ fault actions
    def begin(self, f):
        k, p, ev = f["kind"], f["params"], f["evidence"]
        f["t_start"] = time.time()
        if k == "kill":
            self.restart_if_crashed("restart after a crash")
            with self.lock:
                proc, life = self.sp, self.lifetimes[-1]
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                life["end"], life["ended_by"], life["status"] = time.time(), "SIGKILL", proc.returncode
            ev["killed_pid"], ev["status"] = proc.pid, proc.returncode
            ev["fired"] = proc.returncode == -signal.SIGKILL
            time.sleep(p["restart_delay"])
            life = self.start_signpost(f"after kill {f['id']}")
            ev["restarted_ready_after_s"] = round(life["ready"] - f["t_start"], 2)
        elif k == "hup":
            path = os.path.join(self.work, self.lifetimes[-1]["log"])
            pos = os.path.getsize(path)
            want = not self.received_client
            if p["valid"]:
                self.write_config(self.config_text(want))
            else:
                self.write_config(self.config_text(want, invalid=p["variant"]))
            t = time.time()
            self.sp.send_signal(signal.SIGHUP)
            if p["valid"]:
                line = self.wait_log(r"configuration reloaded", pos, 15)
                ev["fired"] = line is not None
                if line:
                    self.received_client = want
                self.reloads.append({"t": t, "t_logged": time.time(), "valid": True, "received_client": self.received_client,
                                     "ok": line is not None})
            else:
                line = self.wait_log(r"configuration not reloaded", pos, 15)
                time.sleep(1)
                alive = self.sp.poll() is None
                ev["fired"] = line is not None and alive
                ev["still_running"] = alive
                ev["logged"] = (line or "")[:300]
                # The file goes back to the running config, so a later restart reads it.
                self.write_config(self.config_text(self.received_client))
                self.reloads.append({"t": t, "t_logged": time.time(), "valid": False,
                                     "received_client": self.received_client, "ok": line is not None and alive})
        elif k == "disk_full":
            written, enospc = 0, False
            chunk = b"\0" * (1 << 20)
            try:
                with open(self.filler, "wb") as fh:
                    while written < (256 << 20):
                        try:
                            written += fh.write(chunk)
                            fh.flush()
                        except OSError as e:
                            if e.errno == errno.ENOSPC:
                                enospc = True
                                break
                            raise
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                enospc = True
            st = os.statvfs(self.a.spool_mount)
            ev.update(filler_bytes=written, enospc=enospc, free_after=st.f_bavail * st.f_frsize, fired=enospc)
        elif k == "peer":
            ev["before"] = self.peers_cmd(cmd="stats")["stats"]
            r = self.peers_cmd(cmd="smtp", addr=self.addr[p["host"]], mode=p["mode"])
            ev["set"] = r.get("ok")
        elif k == "dns":
            ev["before"] = self.peers_cmd(cmd="stats")["stats"]
            self.peers_cmd(cmd="dns", mode=p["mode"])
        elif k == "clock":
            self.set_clock(p["offset"])

    def finish(self, f):
        k, p, ev = f["kind"], f["params"], f["evidence"]
        if k == "disk_full":
            try:
                os.unlink(self.filler)
            except FileNotFoundError:
                pass
        elif k == "peer":
            self.peers_cmd(cmd="smtp", addr=self.addr[p["host"]], mode="normal")
            after = self.peers_cmd(cmd="stats")["stats"]
            keys = {"reset_data": ["reset_data"], "drop_after_dot": ["drop_after_dot"], "tls_fail": ["tls_fail"],
                    "wrong_cert": ["wrong_cert_handshake"]}.get(p["mode"])
            if keys is None:
                prefix = "tempfail_" if p["mode"] == "tempfail" else "stall_"
                keys = sorted({k2 for k2 in list(after) + list(ev["before"]) if k2.startswith(prefix)})
            ev["counts"] = {k2: after.get(k2, 0) - ev["before"].get(k2, 0) for k2 in keys}
            ev["fired"] = sum(ev["counts"].values()) > 0
            del ev["before"]
        elif k == "dns":
            self.peers_cmd(cmd="dns", mode="normal")
            after = self.peers_cmd(cmd="stats")["stats"]
            key = "dns_servfail" if p["mode"] == "servfail" else "dns_dropped"
            ev["queries"] = after.get(key, 0) - ev["before"].get(key, 0)
            ev["fired"] = ev["queries"] > 0
            del ev["before"]
        elif k == "clock":
            t_end = time.time()
            self.set_clock(0)
            sk = self.log_skew(f["t_start"] + 0.5, t_end)
            ev["log_lines"] = len(sk)
            if sk:
                ev["skew_min"], ev["skew_max"] = round(min(sk), 2), round(max(sk), 2)
                # The log's timestamps moved by the step (give or take the 0.2 s read delay).
                ev["fired"] = any(abs(s - p["offset"]) < 2 for s in sk)
            else:
                ev["fired"] = False
        f["t_end"] = time.time()
        if k == "kill" and "restarted_ready_after_s" in ev:
            f["t_end"] = f["t_start"] + ev["restarted_ready_after_s"]
        log(f"fault {f['id']} {k} {json.dumps(p)}: {json.dumps(ev)}")

    def set_clock(self, offset):
        with open(self.stamp + ".tmp", "w") as fh:
            fh.write(f"{offset:+d}\n")
        os.replace(self.stamp + ".tmp", self.stamp)
        self.clock_offset = offset

    def run_channel(self, faults):
        for f in faults:
            if not self.sleep_until(f["start"]):
                return
            try:
                self.begin(f)
                if f["kind"] not in ("kill", "hup"):
                    self.sleep_until(f["end"])
                self.finish(f)
            except SystemExit as e:
                f["evidence"]["error"] = str(e)
                self.fatal = str(e)
                self.stop.set()
                return
            except Exception as e:  # noqa: BLE001 — recorded; the report fails the run
                f["evidence"]["error"] = repr(e)
                log(f"fault {f['id']} {f['kind']}: error {e!r}")

    def run_process_channel(self, faults):
        """The process faults, on the main thread, watching for crashes in between."""
        i = 0
        while not self.stop.is_set():
            self.restart_if_crashed("restart after a crash")
            if i < len(faults) and time.time() >= self.t0 + faults[i]["start"]:
                f = faults[i]
                i += 1
                try:
                    self.begin(f)
                    self.finish(f)
                except SystemExit as e:
                    f["evidence"]["error"] = str(e)
                    self.fatal = str(e)
                    self.stop.set()
                except Exception as e:  # noqa: BLE001 — recorded; the report fails the run
                    f["evidence"]["error"] = repr(e)
                    log(f"fault {f['id']} {f['kind']}: error {e!r}")
                continue
            self.stop.wait(0.5)

    def sleep_until(self, t_rel):
        """Sleeps until run time T_REL; False when the run is stopping."""
        return not self.stop.wait(max(0.0, self.t0 + t_rel - time.time()))

    # ------------------------------------------------------------------ the run
    def queue_count(self):
        r = subprocess.run([self.a.signpost, "queue", "list", "--config", self.cfg, "--json"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            return None, r.stderr.strip()
        try:
            return len(json.loads(r.stdout)), r.stdout
        except ValueError:
            return None, r.stdout[:300]

    def run(self):
        self.fatal = None
        self.skews = []
        self.cpu_seen = {}
        self.setup()
        self.start_peers()
        self.faults = self.plan()
        for f in self.faults:
            f["evidence"] = {}
            f["affects"] = self.affects(f)
        per_kind = {}
        for f in self.faults:
            per_kind[f["kind"]] = per_kind.get(f["kind"], 0) + 1
        log(f"plan: {len(self.faults)} faults ({', '.join(f'{k} {n}' for k, n in sorted(per_kind.items()))}); "
            f"peers on {self.addr['mx1'][:-1]}x port {self.smtp_port}, DNS 127.0.0.1:{self.dns_port}")
        self.start_signpost("first start")
        self.sampler_stop = threading.Event()
        threading.Thread(target=self.sampler, daemon=True).start()
        threading.Thread(target=self.log_follower, daemon=True).start()
        self.t0 = time.time()
        phase = max(30.0, min(120.0, self.seconds / 6))
        load_out = open(os.path.join(self.work, "load.out"), "w")
        self.load = self.spawn([PY, os.path.join(HERE, "load.py"), "--port", str(self.sub_port), "--password", self.password,
                                "--seconds", str(self.seconds), "--seed", str(self.a.seed), "--phase-seconds", str(phase),
                                "--acks", os.path.join(self.work, "acks.jsonl"),
                                "--events", os.path.join(self.work, "events.jsonl")], load_out)
        channels = {}
        for f in self.faults:
            channels.setdefault(f["channel"], []).append(f)
        threads = [threading.Thread(target=self.run_channel, args=(fs,), daemon=True)
                   for ch, fs in channels.items() if ch != "process"]
        for th in threads:
            th.start()
        # The process channel runs on this thread: Signpost is always started from here, so
        # the parent-death signal of its process is tied to a thread that lives to the end.
        timer = threading.Timer(self.seconds, self.stop.set)
        timer.daemon = True
        timer.start()
        self.run_process_channel(channels.get("process", []))
        t_load_end = time.time()
        log("load period over: ending the faults")
        for th in threads:
            th.join(120)
        # Everything back to normal, whatever a fault thread managed.
        self.set_clock(0)
        try:
            os.unlink(self.filler)
        except FileNotFoundError:
            pass
        self.peers_cmd(cmd="dns", mode="normal")
        for k in HOSTS:
            self.peers_cmd(cmd="smtp", addr=self.addr[k], mode="normal")
        t_faults_end = time.time()
        if self.fatal is None:
            self.restart_if_crashed("restart after a crash at the end")
        try:
            load_status = self.load.wait(timeout=300)
        except subprocess.TimeoutExpired:
            self.load.kill()
            self.load.wait()
            load_status = "did not finish in 300 s (killed)"
        log(open(os.path.join(self.work, "load.out")).read().strip())
        # Drain, bounded (see DRAIN_SECONDS).
        max_fwd = max([f["params"]["offset"] for f in self.faults if f["kind"] == "clock"] + [0])
        drain_limit = DRAIN_SECONDS + max_fwd
        t_drain = time.time()
        deadline = t_drain + (drain_limit if self.fatal is None else 0)
        left, listing = None, ""
        while time.time() < deadline:
            left, listing = self.queue_count()
            if left == 0:
                break
            self.restart_if_crashed("restart after a crash while draining")
            time.sleep(2)
        t_drained = time.time()
        log(f"drain: {left} message(s) left after {t_drained - t_drain:.0f} s")
        if left:
            with open(os.path.join(self.work, "queue-left.txt"), "w") as fh:
                fh.write(subprocess.run([self.a.signpost, "queue", "list", "--config", self.cfg],
                                        capture_output=True, text=True).stdout)
        time.sleep(3)  # a few idle samples after the drain
        peer_stats = self.peers_cmd(cmd="stats")["stats"]
        t_term = time.time()
        self.sp.send_signal(signal.SIGTERM)
        try:
            status = self.sp.wait(timeout=45)
        except subprocess.TimeoutExpired:
            self.sp.kill()
            status = "did not stop in 45 s (killed)"
            self.sp.wait()
        self.end_lifetime("SIGTERM", status)
        self.sampler_stop.set()
        self.peers.send_signal(signal.SIGTERM)
        try:
            self.peers.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.peers.kill()
        meta = {
            "minutes": self.a.minutes, "seed": self.a.seed, "t0": self.t0, "t_load_end": t_load_end,
            "t_faults_end": t_faults_end, "t_drain_start": t_drain, "t_drained": t_drained, "t_term": t_term,
            "queue_left": left, "queue_listing": listing if left else "", "drain_limit": drain_limit,
            "dsn_retry_unreported": DSN_RETRY_UNREPORTED,
            "retry": RETRY, "max_retry_step": MAX_RETRY_STEP, "sigterm_status": status,
            "lifetimes": self.lifetimes, "faults": self.faults, "reloads": self.reloads, "crashes": self.crashes,
            "peer_stats": peer_stats, "fatal": self.fatal, "addr": self.addr, "route_addrs": ROUTE_ADDRS,
            "load_summary": open(os.path.join(self.work, "load.out")).read().strip(), "load_status": load_status,
            "harness_cpu_s": {k: round(v, 1) for k, v in self.cpu_seen.items()},
        }
        with open(os.path.join(self.work, "run.json"), "w") as fh:
            json.dump(meta, fh, indent=1, default=str)
        text, ok = report.analyse(self.work, meta)
        print(text, flush=True)
        if self.a.report:
            with open(self.a.report, "w") as fh:
                fh.write(text)
        return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description="soak conductor (run tests/soak/soak.sh)")
    p.add_argument("--work", required=True)
    p.add_argument("--dev", required=True)
    p.add_argument("--pki", required=True)
    p.add_argument("--spool-mount", required=True)
    p.add_argument("--signpost", required=True)
    p.add_argument("--faketime-lib", required=True)
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--report")
    a = p.parse_args()
    die_with_parent()  # the harness goes when soak.sh goes (its trap then cleans up)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    return Harness(a).run()


if __name__ == "__main__":
    sys.exit(main())
