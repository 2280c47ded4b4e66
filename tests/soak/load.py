#!/usr/bin/python3
# tests/soak/load.py — the soak harness's submission load (stdlib smtplib + ssl).
#
# Up to --max-threads client threads submit to Signpost over STARTTLS + AUTH PLAIN (user
# dev) for --seconds. Concurrency moves through phases (--phases, e.g. 1,4,16, each
# --phase-seconds long, cycling): in a phase of N, threads 0..N-1 submit and the others wait.
# Each message has a unique Message-ID <soak.SEED.THREAD.N@example.test>, 1 to 6 recipients
# at the test domains (some "bounce..." ones, which the peers refuse with 550 5.1.1), and a
# size from 1 KB to about 1 MB (mostly small). A thread keeps its connection for a random
# number of messages, then reconnects.
#
# A message is sent until it is acknowledged with 250: when the server goes away (killed,
# connection reset) or answers 4xx (452 on a full spool), the client reconnects and sends
# it again, as t63 does. So a 250 lost in a crash means the message is submitted twice; a
# message is given up only after --give-up seconds without a 250, or when refused with 5xx
# (both logged; neither happens in a healthy run).
#
# Output (JSON lines, flushed at once):
#   --acks FILE    one per 250: {"mid", "t", "qid", "rcpts", "size", "conn_t", "thread", "tries"}
#                  (conn_t: when the connection that carried it was opened, so a reload can be
#                  matched to the sessions that started after it)
#   --events FILE  one per failed try: {"t", "mid", "what", "data_sent"}: what = "4xx 452 ...",
#                  "5xx ...", "error ExceptionName"; data_sent: the message body had been sent
#                  (fully or partly) when it failed, so a 250 may have been lost
#                  and one per give-up: {"t", "mid", "what": "gave up"}
# Prints a summary line at the end. Stops by itself: new messages only until --seconds,
# the last unacknowledged ones are tried for at most --give-up seconds more.
import argparse
import json
import random
import smtplib
import socket
import ssl
import string
import sys
import threading
import time

DOMAINS = [("ok.test", 4), ("flaky.test", 2), ("verify.test", 2), ("routed.test", 2)]
LINE = 78  # octets per body line, CRLF included


def make_blob(rng, size):
    """~size octets of text in LINE-octet lines; some lines start with '.' (dot-stuffing)."""
    alphabet = string.ascii_letters + string.digits + "     "
    lines = []
    for i in range(size // LINE + 1):
        text = "".join(rng.choice(alphabet) for _ in range(LINE - 2))
        if i % 37 == 5:
            text = "." + text[1:]
        lines.append(text + "\r\n")
    return "".join(lines).encode("ascii")


class Load:
    def __init__(self, a):
        self.a = a
        self.seed = a.seed
        self.start = time.time()
        self.end = self.start + a.seconds
        self.phases = [int(x) for x in a.phases.split(",")]
        self.lock = threading.Lock()
        self.acks = open(a.acks, "a", encoding="utf-8")
        self.events = open(a.events, "a", encoding="utf-8")
        self.blob = make_blob(random.Random(a.seed), 1100 * 1024)
        self.counts = {"acked": 0, "tries_failed": 0, "gave_up": 0, "refused_5xx": 0, "connections": 0}
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE

    def phase_threads(self, now):
        i = int((now - self.start) // self.a.phase_seconds)
        return self.phases[i % len(self.phases)]

    def write(self, f, obj):
        with self.lock:
            f.write(json.dumps(obj) + "\n")
            f.flush()

    def new_message(self, rng, thread, n):
        k = rng.choices((1, 2, 3, 4, 5, 6), weights=(70, 12, 8, 4, 3, 3))[0]
        rcpts = []
        while len(rcpts) < k:
            dom = rng.choices([d for d, _ in DOMAINS], weights=[w for _, w in DOMAINS])[0]
            local = ("bounce" if rng.random() < 0.04 else "user") + str(rng.randint(1, 500))
            r = f"{local}@{dom}"
            if r not in rcpts:
                rcpts.append(r)
        x = rng.random()
        if x < 0.70:
            size = rng.randint(1024, 10 * 1024)
        elif x < 0.92:
            size = rng.randint(10 * 1024, 100 * 1024)
        elif x < 0.99:
            size = rng.randint(100 * 1024, 500 * 1024)
        else:
            size = rng.randint(500 * 1024, 1024 * 1024)
        mid = f"<soak.{self.seed}.{thread}.{n}@example.test>"
        head = (f"From: dev@example.test\r\nTo: {', '.join(rcpts)}\r\nSubject: soak {thread}.{n} ({size} octets)\r\n"
                f"Message-ID: {mid}\r\nDate: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
                f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n").encode()
        nlines = max(1, (size - len(head)) // LINE)
        off = rng.randrange(0, len(self.blob) // LINE - nlines) * LINE
        body = self.blob[off:off + nlines * LINE]
        return {"mid": mid, "rcpts": rcpts, "data": head + body, "first": time.time(), "tries": 0}

    def connect(self):
        s = smtplib.SMTP("127.0.0.1", self.a.port, timeout=self.a.timeout)
        conn_t = time.time()
        s.ehlo("soak-client.test")
        s.starttls(context=self.ctx)
        s.ehlo("soak-client.test")
        s.login("dev", self.a.password)
        with self.lock:
            self.counts["connections"] += 1
        return s, conn_t

    @staticmethod
    def close(s):
        if s is None:
            return
        try:
            s.close()
        except Exception:
            pass

    def worker(self, t):
        rng = random.Random(self.seed * 1000 + t)
        s, conn_t, left_on_conn, n, msg = None, 0.0, 0, 0, None
        while True:
            now = time.time()
            if msg is None:
                if now >= self.end:
                    break
                if t >= self.phase_threads(now):
                    if s is not None:
                        self.close(s)
                        s = None
                    time.sleep(0.25)
                    continue
                n += 1
                msg = self.new_message(rng, t, n)
            if now - msg["first"] > self.a.give_up:
                self.write(self.events, {"t": now, "mid": msg["mid"], "what": "gave up"})
                with self.lock:
                    self.counts["gave_up"] += 1
                msg = None
                continue
            data_sent = False
            stage = "connect"
            try:
                if s is None:
                    s, conn_t = self.connect()
                    left_on_conn = rng.randint(1, 40)
                msg["tries"] += 1
                stage = "transaction"
                code, reply = s.mail("dev@example.test")
                if code != 250:
                    raise smtplib.SMTPResponseException(code, reply)
                for r in msg["rcpts"]:
                    code, reply = s.rcpt(r)
                    if code != 250:
                        raise smtplib.SMTPResponseException(code, reply)
                data_sent = True
                code, reply = s.data(msg["data"])
                if code != 250:
                    raise smtplib.SMTPResponseException(code, reply)
                qid = reply.decode("ascii", "replace").rsplit(" ", 1)[-1]
                self.write(self.acks, {"mid": msg["mid"], "t": time.time(), "qid": qid, "rcpts": msg["rcpts"],
                                       "size": len(msg["data"]), "conn_t": conn_t, "thread": t, "tries": msg["tries"]})
                with self.lock:
                    self.counts["acked"] += 1
                msg = None
                left_on_conn -= 1
                if left_on_conn <= 0:
                    try:
                        s.quit()
                    except Exception:
                        pass
                    self.close(s)
                    s = None
                time.sleep(rng.uniform(0, self.a.think))
            except smtplib.SMTPResponseException as e:
                mid = msg["mid"]
                what = ("4xx" if 400 <= e.smtp_code < 500 else "5xx") + f" {e.smtp_code} " + \
                    e.smtp_error.decode("utf-8", "replace")[:120]
                self.write(self.events, {"t": time.time(), "mid": mid, "what": what, "data_sent": data_sent})
                with self.lock:
                    self.counts["tries_failed"] += 1
                if e.smtp_code >= 500 and stage == "transaction":
                    # Refused for good: never acknowledged, so not the harness's to count.
                    with self.lock:
                        self.counts["refused_5xx"] += 1
                    msg = None
                if e.smtp_code == 421 or e.smtp_code >= 500:
                    self.close(s)
                    s = None
                else:
                    try:
                        s.rset()
                    except Exception:
                        self.close(s)
                        s = None
                time.sleep(rng.uniform(0.3, 1.5))
            except (OSError, smtplib.SMTPException, ssl.SSLError, socket.timeout) as e:
                self.write(self.events, {"t": time.time(), "mid": msg["mid"], "what": "error " + type(e).__name__,
                                         "data_sent": data_sent})
                with self.lock:
                    self.counts["tries_failed"] += 1
                self.close(s)
                s = None
                time.sleep(rng.uniform(0.1, 0.6))
        if s is not None:
            try:
                s.quit()
            except Exception:
                pass
            self.close(s)

    def run(self):
        threads = [threading.Thread(target=self.worker, args=(t,), daemon=True) for t in range(self.a.max_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(self.a.seconds + self.a.give_up + 120)
        print("load: " + " ".join(f"{k}={v}" for k, v in self.counts.items()), flush=True)
        return 0


def main():
    p = argparse.ArgumentParser(description="soak load (see the header comment)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--phases", default="1,4,16")
    p.add_argument("--phase-seconds", type=float, default=60)
    p.add_argument("--max-threads", type=int, default=16)
    p.add_argument("--think", type=float, default=0.5, help="longest pause after each 250, seconds")
    p.add_argument("--give-up", type=float, default=150)
    p.add_argument("--timeout", type=float, default=60, help="socket timeout of one client, seconds")
    p.add_argument("--acks", required=True)
    p.add_argument("--events", required=True)
    a = p.parse_args()
    return Load(a).run()


if __name__ == "__main__":
    sys.exit(main())
