#!/usr/bin/python3
# tests/soak/peers.py — the soak harness's far side: SMTP next hops and a DNS server, in one
# asyncio program (stdlib asyncio + ssl, dnspython). Run with /usr/bin/python3.
#
# SMTP peers: one listener per --address (all on --port, the [delivery] mx_port), STARTTLS
# with --cert (a certificate for every test MX name). Each address has a behaviour that
# the harness switches at run time through the control socket:
#   normal          store the message (see "Delivery log" below), answer 250
#   reset_data      reset the connection (TCP RST) after part of the DATA body
#   tempfail        answer 421 (and close) or 451 at a random step: greeting, EHLO, MAIL,
#                   RCPT, DATA or after the final dot (drawn per connection / transaction)
#   drop_after_dot  read the whole message, then close without replying; the message is
#                   kept half of the time (logged "no_reply": the receiver has it, the
#                   sender cannot know) and forgotten otherwise
#   stall           accept and say nothing (at the greeting, after EHLO, or after the final
#                   dot, where the message is kept); the connection is closed when the
#                   behaviour changes back (a hung server being restarted)
#   tls_fail        answer 220 to STARTTLS, then send a TLS alert and close (the handshake
#                   fails)
#   wrong_cert      STARTTLS with --wrong-cert (a valid chain, for the wrong host name)
# Switching to stall, tls_fail or wrong_cert closes the address's open connections (the
# server restarts with that behaviour), so that a sender reusing connections meets it too.
# Whatever the behaviour, a recipient whose local part starts with "bounce" gets
# "550 5.1.1" (a deserved bounce). The addresses in --fixed are always normal (the sender
# domain's hop, where DSNs arrive).
#
# Delivery log (--log, JSON lines, flushed at once, written before the 250 is sent):
#   {"t": epoch, "peer": addr, "mid": Message-ID, "rcpts": [...], "qid": Signpost queue id
#    from its Received field or null, "size": octets, "how": "ok"|"no_reply"|"stall_after_dot",
#    "rform": the first word of that Received field ("from", or "by" when [server]
#    received_client = false),
#    "dsn": null | {"qid": X-Signpost-Queue-ID, "orig_mid": ..., "orig_qid": ...,
#                   "recipients": [{"rcpt", "action", "status", "diag"}]}}
# A message with the null sender (MAIL FROM:<>) is parsed as a DSN.
#
# DNS server (--dns-port, UDP and TCP on 127.0.0.1): authoritative for "test.", serving the
# records given with --zone (JSON: {"name": {"MX": [...], "A": [...]}}) with TTL 1; other
# names under test. are NXDOMAIN, names elsewhere REFUSED. Behaviour "normal", "servfail"
# (every answer SERVFAIL) or "drop" (no answer: the resolver times out).
#
# Control socket (--control, a Unix stream socket): one JSON request per line, one JSON
# reply per line: {"cmd": "smtp", "addr": A, "mode": M}, {"cmd": "dns", "mode": M},
# {"cmd": "stats"} (counters of what each behaviour actually did, so the harness can show
# that every fault fired), {"cmd": "ping"}.
#
# Prints "READY" when everything listens. Runs until SIGTERM/SIGINT; every connection it
# holds is bounded (stalls end with the behaviour, at the latest after 15 minutes).
import argparse
import asyncio
import collections
import email
import email.policy
import json
import random
import re
import signal
import socket
import ssl
import struct
import sys
import time

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

MODES = ("normal", "reset_data", "tempfail", "drop_after_dot", "stall", "tls_fail", "wrong_cert")
RECEIVED_ID = re.compile(r"\(Signpost\) with \S+ id ([0-9A-Z]{20})")
STALL_CAP = 900  # seconds: no stalled connection outlives this, whatever happens

stats = collections.Counter()


def header_value(head, name):
    """The unfolded value of the first header field NAME in a raw header block (bytes)."""
    unfolded = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and unfolded:
            unfolded[-1] += b" " + line.strip()
        else:
            unfolded.append(line)
    for line in unfolded:
        n, sep, v = line.partition(b":")
        if sep and n.strip().lower() == name:
            return v.strip().decode("utf-8", "replace")
    return None


def parse_dsn(data):
    """The facts of an RFC 3464 report (see the header comment), or {"error": ...}."""
    try:
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        out = {"qid": None, "orig_mid": None, "orig_qid": None, "recipients": [],
               "subject": msg.get("Subject")}
        for part in msg.walk():
            ctype = part.get_content_type()
            if ctype == "message/delivery-status":
                # compat32 parses the status body into a list of header blocks: the
                # per-message fields, then one block per recipient.
                blocks = part.get_payload()
                for i, block in enumerate(blocks):
                    if i == 0:
                        out["qid"] = block.get("X-Signpost-Queue-ID")
                        continue
                    rcpt = (block.get("Final-Recipient") or "").split(";", 1)[-1].strip()
                    out["recipients"].append({
                        "rcpt": rcpt,
                        "action": (block.get("Action") or "").strip(),
                        "status": (block.get("Status") or "").strip(),
                        "diag": " ".join((block.get("Diagnostic-Code") or "").split()),
                    })
            elif ctype == "text/rfc822-headers":
                head = part.get_payload(decode=True) or b""
                head = head.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
                out["orig_mid"] = header_value(head, b"message-id")
                rec = header_value(head, b"received") or ""
                m = RECEIVED_ID.search(rec)
                out["orig_qid"] = m.group(1) if m else None
        return out
    except Exception as e:  # a DSN we cannot read is itself a finding: keep the reason
        return {"error": repr(e)}


class Peers:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.mode = {a: "normal" for a in args.address}
        self.fixed = set(args.fixed)
        self.stalled = collections.defaultdict(set)  # addr -> set of asyncio.Event
        self.live = collections.defaultdict(set)     # addr -> writers of open connections
        self.dns_mode = "normal"
        self.log = open(args.log, "a", encoding="utf-8")
        self.count = 0
        self.good_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.good_ctx.load_cert_chain(args.cert, args.key)
        self.wrong_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.wrong_ctx.load_cert_chain(args.wrong_cert, args.wrong_key)
        self.zone = {}
        for name, recs in json.load(open(args.zone)).items():
            self.zone[dns.name.from_text(name)] = recs
        self.origin = dns.name.from_text("test.")
        self.soa = dns.rrset.from_text("test.", 1, "IN", "SOA", "ns.test. hostmaster.test. 1 3600 600 86400 1")

    # ---------------------------------------------------------------- SMTP
    def record(self, addr, data, rcpts, how, null_sender):
        head = data.split(b"\r\n\r\n", 1)[0]
        mid = (header_value(head, b"message-id") or "-").replace(" ", "")
        received = header_value(head, b"received") or ""
        m = RECEIVED_ID.search(received)
        entry = {"t": time.time(), "peer": addr, "mid": mid, "rcpts": rcpts,
                 "qid": m.group(1) if m else None, "size": len(data), "how": how,
                 "rform": received.split(" ", 1)[0] or None, "dsn": None}
        if null_sender:
            entry["dsn"] = parse_dsn(data)
        self.log.write(json.dumps(entry) + "\n")
        self.log.flush()
        self.count += 1
        stats["stored_" + how] += 1

    async def stall(self, addr, writer, where):
        """Holds the connection silent until the behaviour changes (or STALL_CAP)."""
        stats["stall_" + where] += 1
        ev = asyncio.Event()
        self.stalled[addr].add(ev)
        try:
            await asyncio.wait_for(ev.wait(), STALL_CAP)
        except asyncio.TimeoutError:
            pass
        finally:
            self.stalled[addr].discard(ev)
        self.abort(writer)

    @staticmethod
    def abort(writer, rst=False):
        try:
            if rst:
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        except Exception:
            pass

    def draw_tempfail(self, steps):
        step = self.rng.choice(steps)
        code = 421 if step in ("greeting", "ehlo") else self.rng.choice((421, 451))
        return step, code

    async def session(self, reader, writer, addr):
        async def reply(line):
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        mode = self.mode[addr]
        # The drawn temporary failure of this connection / transaction: [step, code] or None.
        tf = [self.draw_tempfail(("greeting", "ehlo", "mail", "rcpt", "data", "dot"))] if mode == "tempfail" else [None]
        stall_at = self.rng.choice(("greeting", "greeting", "ehlo", "dot")) if mode == "stall" else None

        async def tempfail_here(step):
            """Answers the drawn temporary failure at STEP (once); True when it did."""
            if tf[0] is None or tf[0][0] != step or self.mode[addr] != "tempfail":
                return False
            code = tf[0][1]
            tf[0] = None
            enh = "4.3.2" if code == 421 else "4.3.0"
            stats[f"tempfail_{code}_{step}"] += 1
            await reply(f"{code} {enh} soak: temporary failure at {step}")
            if code == 421:
                raise ConnectionResetError("421 sent")
            return True

        if stall_at == "greeting":
            return await self.stall(addr, writer, "greeting")
        if await tempfail_here("greeting"):
            return
        await reply(f"220 peer-{addr} ESMTP soak")
        tls = False
        mail_from = None
        rcpts = []
        while True:
            line = await reader.readline()
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            mode = self.mode[addr]
            if verb in ("EHLO", "HELO"):
                if stall_at == "ehlo" and mode == "stall":
                    return await self.stall(addr, writer, "ehlo")
                await tempfail_here("ehlo")
                mail_from, rcpts = None, []
                ext = ["8BITMIME", "PIPELINING", "ENHANCEDSTATUSCODES", "SMTPUTF8", "SIZE 67108864"]
                if not tls:
                    ext.append("STARTTLS")
                lines = [f"peer-{addr}"] + ext
                await reply("\r\n".join(("250-" if i < len(lines) - 1 else "250 ") + l for i, l in enumerate(lines)))
            elif verb == "STARTTLS" and not tls:
                await reply("220 2.0.0 ready to start TLS")
                if mode == "tls_fail":
                    stats["tls_fail"] += 1
                    # A fatal TLS alert (handshake_failure) instead of a ServerHello.
                    writer.write(b"\x15\x03\x03\x00\x02\x02\x28")
                    await writer.drain()
                    return self.abort(writer)
                ctx = self.wrong_ctx if mode == "wrong_cert" else self.good_ctx
                if mode == "wrong_cert":
                    stats["wrong_cert_handshake"] += 1
                await writer.start_tls(ctx)
                tls = True
                if mode == "wrong_cert":
                    stats["wrong_cert_handshake_done"] += 1
            elif verb == "MAIL":
                mode = self.mode[addr]
                if mode == "tempfail" and (tf[0] is None or tf[0][0] in ("greeting", "ehlo")):
                    tf[0] = self.draw_tempfail(("mail", "rcpt", "data", "dot"))
                if await tempfail_here("mail"):
                    continue
                m = re.match(r"MAIL FROM:\s*<([^>]*)>", cmd, re.I)
                mail_from, rcpts = (m.group(1) if m else ""), []
                await reply("250 2.1.0 OK")
            elif verb == "RCPT":
                m = re.match(r"RCPT TO:\s*<([^>]*)>", cmd, re.I)
                rcpt = m.group(1) if m else ""
                if mail_from is None:
                    await reply("503 5.5.1 MAIL first")
                elif rcpt.lower().startswith("bounce"):
                    stats["rcpt_550"] += 1
                    await reply(f"550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown")
                elif await tempfail_here("rcpt"):
                    pass
                else:
                    rcpts.append(rcpt)
                    await reply("250 2.1.5 OK")
            elif verb == "DATA":
                if not rcpts:
                    await reply("554 5.5.1 no valid recipients")
                    continue
                if await tempfail_here("data"):
                    rcpts = []
                    continue
                await reply("354 go ahead")
                mode = self.mode[addr]
                if mode == "reset_data":
                    await reader.read(self.rng.randint(1, 48 * 1024))
                    stats["reset_data"] += 1
                    return self.abort(writer, rst=True)
                raw = await reader.readuntil(b"\r\n.\r\n")
                data = (b"\r\n" + raw[:-3]).replace(b"\r\n..", b"\r\n.")[2:]
                mode = self.mode[addr]
                null_sender = mail_from == ""
                got, mail_from, rcpts = rcpts, None, []
                if mode == "drop_after_dot":
                    stats["drop_after_dot"] += 1
                    if self.rng.random() < 0.5:
                        self.record(addr, data, got, "no_reply", null_sender)
                    return self.abort(writer)
                if stall_at == "dot" and mode == "stall":
                    self.record(addr, data, got, "stall_after_dot", null_sender)
                    return await self.stall(addr, writer, "dot")
                if await tempfail_here("dot"):
                    continue
                self.record(addr, data, got, "ok", null_sender)
                await reply(f"250 2.0.0 OK: queued as P{self.count}")
            elif verb == "RSET":
                mail_from, rcpts = None, []
                await reply("250 2.0.0 OK")
            elif verb == "NOOP":
                await reply("250 2.0.0 OK")
            elif verb == "QUIT":
                await reply("221 2.0.0 bye")
                writer.close()
                return
            else:
                await reply("502 5.5.2 command not implemented")

    async def smtp_client(self, reader, writer):
        addr = writer.get_extra_info("sockname")[0]
        stats["connections"] += 1
        self.live[addr].add(writer)
        try:
            await self.session(reader, writer, addr)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ssl.SSLError, OSError):
            pass
        finally:
            self.live[addr].discard(writer)
            self.abort(writer)

    def set_smtp_mode(self, addr, mode):
        if addr not in self.mode or mode not in MODES:
            return {"ok": False, "error": f"bad addr/mode {addr} {mode}"}
        if addr in self.fixed and mode != "normal":
            return {"ok": False, "error": f"{addr} is always normal"}
        self.mode[addr] = mode
        if mode != "stall":
            for ev in list(self.stalled[addr]):
                ev.set()
        if mode in ("stall", "tls_fail", "wrong_cert"):
            # These act when a connection starts: the server "restarts" with the new
            # behaviour, so connections the sender keeps open for reuse end here.
            closed = len(self.live[addr])
            for w in list(self.live[addr]):
                self.abort(w)
            stats["closed_on_switch"] += closed
        return {"ok": True}

    # ---------------------------------------------------------------- DNS
    def dns_answer(self, wire):
        """The reply to one query, or None to drop it."""
        try:
            q = dns.message.from_wire(wire)
        except Exception:
            stats["dns_malformed"] += 1
            return None
        if self.dns_mode == "drop":
            stats["dns_dropped"] += 1
            return None
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        if self.dns_mode == "servfail":
            stats["dns_servfail"] += 1
            r.set_rcode(dns.rcode.SERVFAIL)
            return r.to_wire()
        stats["dns_answered"] += 1
        if not q.question:
            r.set_rcode(dns.rcode.FORMERR)
            return r.to_wire()
        qname, qtype = q.question[0].name, q.question[0].rdtype
        if not qname.is_subdomain(self.origin):
            stats["dns_refused"] += 1
            r.set_rcode(dns.rcode.REFUSED)
            return r.to_wire()
        recs = self.zone.get(qname)
        tname = dns.rdatatype.to_text(qtype)
        if recs is not None and tname in recs:
            r.answer.append(dns.rrset.from_text_list(qname, 1, "IN", tname, recs[tname]))
        elif recs is not None or qname == self.origin:
            r.authority.append(self.soa)  # NODATA
        else:
            stats["dns_nxdomain"] += 1
            r.set_rcode(dns.rcode.NXDOMAIN)
            r.authority.append(self.soa)
        return r.to_wire()

    async def dns_tcp(self, reader, writer):
        try:
            while True:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
                out = self.dns_answer(await reader.readexactly(n))
                if out is not None:
                    writer.write(struct.pack("!H", len(out)) + out)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    # ---------------------------------------------------------------- control
    async def control(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                req = json.loads(line)
                cmd = req.get("cmd")
                if cmd == "smtp":
                    out = self.set_smtp_mode(req["addr"], req["mode"])
                elif cmd == "dns":
                    ok = req["mode"] in ("normal", "servfail", "drop")
                    if ok:
                        self.dns_mode = req["mode"]
                    out = {"ok": ok}
                elif cmd == "stats":
                    out = {"ok": True, "stats": dict(stats), "stored": self.count}
                elif cmd == "ping":
                    out = {"ok": True}
                else:
                    out = {"ok": False, "error": "unknown command"}
                writer.write((json.dumps(out) + "\n").encode())
                await writer.drain()
        finally:
            writer.close()


class DnsUdp(asyncio.DatagramProtocol):
    def __init__(self, peers):
        self.peers = peers

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        out = self.peers.dns_answer(data)
        if out is not None:
            self.transport.sendto(out, addr)


async def main():
    p = argparse.ArgumentParser(description="soak harness peers (see the header comment)")
    p.add_argument("--address", action="append", required=True)
    p.add_argument("--fixed", action="append", default=[])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dns-port", type=int, required=True)
    p.add_argument("--zone", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--wrong-cert", required=True)
    p.add_argument("--wrong-key", required=True)
    p.add_argument("--control", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    peers = Peers(args)
    loop = asyncio.get_running_loop()
    servers = []
    for a in args.address:
        servers.append(await asyncio.start_server(peers.smtp_client, a, args.port, limit=8 * 1024 * 1024,
                                                  reuse_address=True))
    servers.append(await asyncio.start_server(peers.dns_tcp, "127.0.0.1", args.dns_port, reuse_address=True))
    await loop.create_datagram_endpoint(lambda: DnsUdp(peers), local_addr=("127.0.0.1", args.dns_port))
    servers.append(await asyncio.start_unix_server(peers.control, args.control))
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_signal_handler(signal.SIGINT, done.set)
    print("READY", flush=True)
    await done.wait()
    for s in servers:
        s.close()
    peers.log.close()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
