# tests/bench/relay/postfix_opendkim.sh — Postfix + OpenDKIM doing the benchmark's relay job,
# as a bash library (source it; it defines only pfb_* functions and PFB_* variables).
#
# The job: accept submission on 127.0.0.1:PFB_PORT (STARTTLS required, SASL AUTH PLAIN),
# DKIM-sign with RSA-2048 relaxed/relaxed (OpenDKIM milter), commit to Postfix's queue (with
# Postfix's own fsync of the queue file before the 250 reply — there is no setting for it, so
# it is always on), and relay everything to one sink on [127.0.0.1]:SINK_PORT over STARTTLS.
# Needs root (Postfix's daemons run as the postfix user from a root-started master) and the
# Debian packages postfix, opendkim, opendkim-tools, sasl2-bin, openssl. Only 127.0.0.1 is
# used; every wait is bounded; nothing outside WORK is written (the system Postfix, if any,
# is not touched: this is a private instance, `postfix -c DIR`).
#
# Functions (each returns non-zero with a message on stderr on failure; none calls exit):
#   pfb_setup WORK SINK_PORT SINK_CAFILE
#       Creates everything under WORK/pfb (WORK is made when missing): a test CA and an
#       ECDSA P-256 certificate for localhost/127.0.0.1; a Cyrus sasldb with user bench in
#       realm example.test; a fresh RSA-2048 DKIM key (opendkim-genkey -b 2048 -d
#       example.test -s pfbench) and OpenDKIM's config; Postfix's main.cf/master.cf, queue
#       and data dirs.
#       Picks free ports. Sets:
#         PFB_PORT          submission port on 127.0.0.1 (STARTTLS required, then AUTH)
#         PFB_CAFILE        CA file a client should trust for PFB_PORT
#         PFB_USER          SASL user (bench; "bench@example.test" works too)
#         PFB_PASSWORD      its password; PFB_PASSWORD_FILE holds it on one line (loadgen
#                           --password-file)
#         PFB_RECORDS_DIR   dir with pfbench._domainkey.example.test.txt, the DKIM TXT record
#                           text ("v=DKIM1; k=rsa; p=..."), the format verify_dkimpy.py and
#                           verify_opendkim.sh read
#         PFB_MILTER        the milter address as Postfix names it: inet:127.0.0.1:PORT
#                           (PFB_MILTER_PORT) or unix:PATH (PFB_MILTER_PATH)
#         PFB_DIR           Postfix's config dir (main.cf, master.cf, TLS and SASL files)
#         PFB_QUEUE         its queue directory (WORK/pfb/spool; data dir WORK/pfb/data)
#         PFB_LOG           Postfix's maillog file (OpenDKIM's stderr: PFB_DKIM_LOG)
#       Optional knobs, read by pfb_setup (set them before calling it; sourcing keeps them):
#         PFB_SMTP_TLS_REUSE=yes   smtp_tls_connection_reuse = yes (plus a tlsproxy service):
#                                  Postfix then keeps TLS connections to the sink open and
#                                  reuses them. Postfix's default is no: every delivery opens
#                                  a new TCP + TLS connection to the sink.
#         PFB_MILTER_SOCKET=unix   OpenDKIM on a UNIX-domain socket (WORK/pfb/milter, a
#                                  directory only opendkim and group postfix can enter)
#                                  instead of the default inet:127.0.0.1:PORT. Measured here:
#                                  over TCP every message waits ~2 x 40 ms more, because
#                                  neither libmilter nor Postfix's milter client sets
#                                  TCP_NODELAY: at end of message OpenDKIM writes the
#                                  DKIM-Signature insert and then its "accept" reply as two
#                                  writes, and Nagle holds the second until Postfix's delayed
#                                  ACK (40 ms); the same happens to Postfix's header events
#                                  after the DATA command, which OpenDKIM does not answer.
#                                  Loadgen at concurrency 1: p50 ~92 ms over inet, ~4.5 ms over
#                                  unix (~3 ms with no milter). It is latency, not CPU.
#         PFB_MAIN_CF_EXTRA        lines appended verbatim to main.cf (experiments only)
#         PFB_MESSAGE_SIZE_LIMIT   main.cf message_size_limit (default 30000000, so that 10 MB
#                                  test messages pass; Postfix's own default is 10240000)
#         PFB_DUAL=yes             also sets up dual signing (RSA-2048 + Ed25519) on a second
#                                  submission port: OpenDKIM 2.11.0 (Debian 12) signs with one
#                                  algorithm per instance (SignatureAlgorithm is global; the
#                                  per-key algorithm field of KeyTable came after 2.11.0), so
#                                  a second OpenDKIM instance signs ed25519-sha256 with a
#                                  fresh Ed25519 key (openssl genpkey), selector pfbench-ed,
#                                  and the listener 127.0.0.1:PFB_DUAL_PORT runs both milters
#                                  in turn (-o smtpd_milters=RSA,ED25519). Sets PFB_DUAL_PORT,
#                                  PFB_MILTER_ED, PFB_SELECTOR_ED and adds
#                                  pfbench-ed._domainkey.example.test.txt
#                                  ("v=DKIM1; k=ed25519; p=...") to PFB_RECORDS_DIR. The
#                                  Ed25519 OpenDKIM runs only between pfb_dual_start and
#                                  pfb_dual_stop (so it adds nothing to the memory or CPU of
#                                  runs on PFB_PORT); mail to PFB_DUAL_PORT without it is
#                                  answered 4xx (milter_default_action tempfail).
#         PFB_DUAL_SINK_PORT=PORT  with PFB_DUAL=yes: mail from PFB_DUAL_SENDER
#                                  (dual@example.test) is relayed to [127.0.0.1]:PORT instead
#                                  of SINK_PORT (sender_dependent_relayhost_maps, an inline
#                                  table), so a driver can count and store the dual-signed
#                                  messages on a sink of their own.
#       State kept between the functions (the caller only reads it): PFB_MASTER_PID,
#       PFB_DKIM_PID, PFB_DKIM_ED_PID, PFB_RUNNING (1 from pfb_start until a successful
#       pfb_stop).
#   pfb_start        starts OpenDKIM (foreground process, its PID kept), waits until its
#                    milter socket accepts, then `postfix -c DIR start` and waits until the
#                    submission port accepts (20 s each at most).
#   pfb_stop         `postfix -c DIR stop` (bounded), waits for the master and its children
#                    to exit (SIGKILL to the recorded PIDs after 10 s), then SIGTERM to
#                    OpenDKIM (SIGKILL after 10 s). Only PIDs this instance recorded are ever
#                    signalled, after checking they are still that program. Safe to call
#                    twice, before pfb_start, and from an EXIT trap. Stops the Ed25519
#                    OpenDKIM too when it runs.
#   pfb_dual_start   (PFB_DUAL=yes, after pfb_start) starts the Ed25519 OpenDKIM and waits
#                    until its socket accepts (20 s at most).
#   pfb_dual_stop    stops it (SIGTERM, SIGKILL after 10 s).
#   pfb_pids         prints every PID of the instance now, one a line: Postfix's master (from
#                    its pid file), all its descendants, OpenDKIM (both when dual runs).
#   pfb_cpu_ticks    prints the CPU clock ticks (getconf CLK_TCK a second) used so far by the
#                    instance: master utime+stime+cutime+cstime (daemons that exited and were
#                    reaped by the master are in its cutime/cstime), plus
#                    utime+stime+cutime+cstime of every live descendant and of OpenDKIM (the
#                    c* parts of those are 0 in practice: they do not fork). From
#                    /proc/PID/stat fields 14-17, parsed after the last ')' since the comm
#                    field may hold spaces and parentheses. A daemon reaped between the read
#                    of its stat and the master's is missed (not double counted): the master
#                    is read first. Short-lived client commands (postqueue, postfix) are not
#                    counted; pfb_queue_empty uses none.
#   pfb_pss_kib      prints the sum of Pss (KiB) over pfb_pids (/proc/PID/smaps_rollup): the
#                    memory the instance accounts for, shared pages split between sharers.
#   pfb_rss_kib      the same for Rss (shared pages counted once per process: an upper bound).
#   pfb_queue_empty  exit 0 when the queue's incoming, active, deferred, maildrop and hold
#                    directories hold no file, 1 otherwise. Counts files with find rather than
#                    `postqueue -j`: postqueue asks the showq daemon, a child of the master,
#                    so polling it would add to the CPU being measured; a file in those
#                    directories is a message (incoming also holds one being received).
#   pfb_queue_count  prints the number of messages (files) in those directories.
#   pfb_wait_drained SECONDS
#                    waits (polling every 0.2 s) until pfb_queue_empty; when SECONDS run out,
#                    prints the count, `postqueue -p` and the tail of the maillog to stderr
#                    and returns 1.
#   pfb_sent_count   prints how many "status=sent" deliveries the maillog shows.
#   pfb_log          prints the path of the maillog (for failure reports).
#
# Settings and why (everything else is Postfix's or OpenDKIM's default):
#   main.cf
#     compatibility_level 3.6, queue/data/command/daemon/meta/shlib dirs, mail_owner,
#     setgid_group, maillog_file (+ maillog_file_prefixes), syslog_name: a private instance
#     with its own queue and log file beside the system one (no syslog daemon here; the
#     postlog service writes the file).
#     myhostname pfbench.example.test, mydestination/local_recipient_maps/alias_maps empty,
#     local_transport error: nothing is delivered locally; every address is relayed.
#     inet_interfaces 127.0.0.1, inet_protocols ipv4: loopback only.
#     mynetworks 127.0.0.1/32: what mynetworks_style=host gives anyway, made explicit. It is
#     not a relay permission (smtpd_relay_restrictions below lacks permit_mynetworks); it
#     exempts the loopback load generator from anvil's per-client limits
#     (smtpd_client_connection_count_limit 50 etc.), which a real submission server would
#     apply to distinct users, not to one benchmark client address.
#     smtpd_relay_restrictions permit_sasl_authenticated, reject: relay for AUTH only.
#     smtpd_tls_chain_files: the ECDSA P-256 key + certificate (the kind Signpost's dev setup
#     uses, so both sides pay the same handshake); smtpd_tls_auth_only yes.
#     smtpd_sasl_type cyrus, smtpd_sasl_path smtpd, cyrus_sasl_config_path (smtpd.conf:
#     auxprop sasldb, mech_list PLAIN LOGIN), smtpd_sasl_local_domain example.test (the
#     sasldb realm, so the login "bench" is bench@example.test).
#     smtpd_milters = non_smtpd_milters = PFB_MILTER (inet:127.0.0.1:PORT unless
#     PFB_MILTER_SOCKET=unix), milter_default_action tempfail (the default, made explicit:
#     when OpenDKIM is unreachable no message is accepted unsigned).
#     relayhost [127.0.0.1]:SINK_PORT, smtp_tls_security_level encrypt, smtp_tls_CAfile (a
#     copy of SINK_CAFILE the postfix user can read; "encrypt" does not check the name, the
#     log says "Trusted" when the chain verifies). No smtp_tls_session_cache_database and no
#     connection reuse (Postfix's defaults; see PFB_SMTP_TLS_REUSE): one full TLS handshake
#     with the sink per delivery. With smtp_tls_connection_reuse, tlsproxy logs once that its
#     server role is disabled; that is expected.
#     message_size_limit PFB_MESSAGE_SIZE_LIMIT (30000000): 10 MB test messages pass
#     (Signpost's default limit is 25 MB). With PFB_DUAL=yes and PFB_DUAL_SINK_PORT,
#     sender_dependent_relayhost_maps = inline:{dual@example.test=[127.0.0.1]:PORT}.
#   master.cf: Debian's service lines (/etc/postfix/master.cf) without the port-25 smtpd and
#     the pipe(8) transports, chroot off (no copies of certificates, sasldb and resolver
#     files in a chroot), plus the submission listener 127.0.0.1:PFB_PORT with
#     -o smtpd_tls_security_level=encrypt -o smtpd_sasl_auth_enable=yes
#     -o smtpd_relay_restrictions=permit_sasl_authenticated,reject. Process limits are
#     left at default_process_limit = 100 per service: 32 client connections need 32 smtpd
#     processes, plus as many cleanup processes, and the smtp client to the one relayhost is
#     limited to default_destination_concurrency_limit 20 (qmgr's slow start from 5), which
#     are Postfix's defaults and enough for 32 clients; in_flow_delay (1 s) and max_use (100)
#     stay too. With PFB_DUAL=yes a second such listener on 127.0.0.1:PFB_DUAL_PORT adds
#     -o smtpd_milters=PFB_MILTER,PFB_MILTER_ED.
#   OpenDKIM (opendkim.conf): Mode s, Domain example.test, Selector pfbench, KeyFile,
#     Canonicalization relaxed/relaxed, SignatureAlgorithm rsa-sha256, OversignHeaders From
#     (as Debian's packaged opendkim.conf), InternalHosts 127.0.0.1 (mail from the loopback
#     client is signed; AUTH alone would also do, via Postfix's {auth_authen} macro),
#     Socket inet:PORT@127.0.0.1 (or local:PATH with UMask 000, the directory guarding it),
#     Syslog no (no syslog daemon here), UserID
#     opendkim:opendkim (drops root after start as the Debian service does; the key file is
#     opendkim's, mode 600, in a mode 700 directory), PidFile. RequireSafeKeys no: its check
#     walks every directory from / down to the key and refuses the key when any of them is
#     writable by others, even /tmp with its sticky bit ("/tmp can be read or written by
#     other users"), so with the default (yes) a WORK under /tmp could not sign at all; the
#     key itself stays private. It never needs DNS to sign. Run as `opendkim -f -x CONF`, so
#     the PID is the one started. The Ed25519 instance (PFB_DUAL=yes) has the same settings
#     with Selector pfbench-ed, SignatureAlgorithm ed25519-sha256 (OpenDKIM does not infer
#     it from the key), its own KeyFile (PKCS#8 PEM), socket and PidFile.

# shellcheck disable=SC2034  # the PFB_* variables are set for the caller
PFB_WORK='' PFB_DIR='' PFB_QUEUE='' PFB_LOG='' PFB_PORT='' PFB_CAFILE='' PFB_USER='' PFB_PASSWORD=''
PFB_PASSWORD_FILE='' PFB_RECORDS_DIR='' PFB_DKIM_DIR='' PFB_DKIM_LOG='' PFB_SINK_PORT=''
PFB_MILTER='' PFB_MILTER_PORT='' PFB_MILTER_PATH=''
PFB_DOMAIN=example.test PFB_SELECTOR=pfbench PFB_SASL_REALM=example.test
PFB_DUAL_PORT='' PFB_MILTER_ED='' PFB_SELECTOR_ED=pfbench-ed PFB_DKIM_ED_DIR='' PFB_DUAL_SENDER=dual@example.test
PFB_MASTER_PID='' PFB_DKIM_PID='' PFB_DKIM_ED_PID='' PFB_RUNNING=0   # pfb_start..pfb_stop state
: "${PFB_SMTP_TLS_REUSE:=no}" "${PFB_MAIN_CF_EXTRA:=}" "${PFB_MILTER_SOCKET:=inet}"
: "${PFB_MESSAGE_SIZE_LIMIT:=30000000}" "${PFB_DUAL:=no}" "${PFB_DUAL_SINK_PORT:=}"

pfb__err() { echo "pfb: $*" >&2; }

# A port free on 127.0.0.1 (TCP and UDP) from below the ephemeral range, none of "$@".
pfb__free_port() {
  /usr/bin/python3 - "$@" << 'PY'
import random, socket, sys
avoid = set(sys.argv[1:])
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
top = low - 1 if low > 12000 else 32767
for _ in range(200):
    port = random.randint(10000, top)
    if str(port) in avoid:
        continue
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        u.bind(("127.0.0.1", port))
        t.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        t.close()
        u.close()
    print(port)
    break
else:
    raise SystemExit("no free port found")
PY
}

# pfb__wait_port PORT SECONDS: until 127.0.0.1:PORT accepts a connection.
pfb__wait_port() {
  local port=$1 limit=$2 i
  for ((i = 0; i < limit * 10; i++)); do
    (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Postfix's commands log to stderr only when it is a terminal: on failure, run again under
# script(1) to show why.
pfb__postfix() {
  timeout 60 postfix -c "$PFB_DIR" "$1" > /dev/null 2>&1 && return 0
  timeout 30 script -qec "postfix -c '$PFB_DIR' $1" /dev/null < /dev/null >&2 || true
  pfb__err "postfix -c $PFB_DIR $1 failed; maillog $PFB_LOG:"
  tail -n 30 "$PFB_LOG" >&2 2> /dev/null || true
  return 1
}

# pfb__searchable DIR: adds search permission (go+x) to DIR and to those of its parents
# that are root's and lie below ${TMPDIR:-/tmp} (mktemp -d makes them 700), never to the
# temp dir itself or anything above it; a parent elsewhere that is closed to others is
# reported by the runuser checks at the end of pfb_setup.
pfb__searchable() {
  local d=$1 tmp
  tmp=$(cd "${TMPDIR:-/tmp}" 2> /dev/null && pwd -P) || tmp=/tmp
  chmod go+x "$d" || return 1
  d=${d%/*}
  while [ -n "$d" ] && [[ $d == "$tmp"/* ]]; do
    [ "$(stat -c %u "$d")" = 0 ] && { chmod go+x "$d" || return 1; }
    d=${d%/*}
  done
}

pfb_setup() {
  local work=${1:?pfb_setup WORK SINK_PORT SINK_CAFILE} sink_port=${2:?sink port} sink_ca=${3:?sink CA file}
  local base tls sasl dkim q c
  [ "$(id -u)" = 0 ] || { pfb__err "needs root (a private Postfix instance)"; return 1; }
  for c in postfix postconf postqueue opendkim opendkim-genkey saslpasswd2 sasldblistusers2 openssl runuser timeout; do
    command -v "$c" > /dev/null || { pfb__err "$c is not installed"; return 1; }
  done
  [ -x /usr/lib/postfix/sbin/master ] || { pfb__err "no /usr/lib/postfix/sbin/master"; return 1; }
  getent passwd postfix > /dev/null && getent group postdrop > /dev/null || { pfb__err "no postfix user or postdrop group"; return 1; }
  getent passwd opendkim > /dev/null || { pfb__err "no opendkim user"; return 1; }
  postconf -a 2> /dev/null | grep -qx cyrus || { pfb__err "this Postfix has no Cyrus SASL server support"; return 1; }
  [[ $sink_port =~ ^[0-9]+$ ]] || { pfb__err "bad sink port '$sink_port'"; return 1; }
  [ -r "$sink_ca" ] || { pfb__err "cannot read the sink CA file $sink_ca"; return 1; }
  mkdir -p "$work" || { pfb__err "cannot create $work"; return 1; }
  [ "$PFB_RUNNING" = 0 ] || { pfb__err "an instance is running; pfb_stop first"; return 1; }

  PFB_WORK=$(cd "$work" && pwd -P) || return 1
  base=$PFB_WORK/pfb
  [ ! -e "$base" ] || { pfb__err "$base already exists"; return 1; }
  # The config dir holds no queue or data dir: postfix-script checks that everything below
  # it is owned by root and would warn about each postfix-owned queue directory.
  PFB_DIR=$base/postfix
  PFB_QUEUE=$base/spool
  PFB_LOG=$base/maillog
  PFB_DKIM_DIR=$base/opendkim
  PFB_DKIM_LOG=$PFB_DKIM_DIR/opendkim.log
  PFB_RECORDS_DIR=$base/records
  PFB_SINK_PORT=$sink_port
  tls=$base/tls sasl=$PFB_DIR/sasl dkim=$PFB_DKIM_DIR q=$PFB_QUEUE
  mkdir -p "$q" "$base/data" "$sasl" "$tls" "$dkim" "$PFB_RECORDS_DIR" || return 1
  # The daemons (users postfix, opendkim) must reach their files: WORK and everything on
  # the way must be searchable by others (the files themselves keep tight modes).
  pfb__searchable "$PFB_WORK" || return 1
  chmod 711 "$base" && chmod 755 "$PFB_DIR" "$q" "$sasl" || return 1
  chown postfix: "$base/data" || return 1

  PFB_PORT=$(pfb__free_port "$sink_port") || return 1
  case $PFB_MILTER_SOCKET in
    inet)
      PFB_MILTER_PORT=$(pfb__free_port "$sink_port" "$PFB_PORT") || return 1
      PFB_MILTER_PATH=
      PFB_MILTER=inet:127.0.0.1:$PFB_MILTER_PORT ;;
    unix)
      # the socket's directory: OpenDKIM (after dropping root) creates the socket in it,
      # Postfix's daemons (group postfix) reach it; nobody else
      PFB_MILTER_PORT=
      PFB_MILTER_PATH=$base/milter/opendkim.sock
      mkdir -p "$base/milter" && chown opendkim:postfix "$base/milter" && chmod 750 "$base/milter" || return 1
      PFB_MILTER=unix:$PFB_MILTER_PATH ;;
    *) pfb__err "PFB_MILTER_SOCKET must be inet or unix, not '$PFB_MILTER_SOCKET'"; return 1 ;;
  esac
  PFB_DUAL_PORT='' PFB_MILTER_ED='' PFB_DKIM_ED_DIR=''
  case $PFB_DUAL in
    yes)
      PFB_DUAL_PORT=$(pfb__free_port "$sink_port" "$PFB_PORT" "$PFB_MILTER_PORT") || return 1
      if [ "$PFB_MILTER_SOCKET" = inet ]; then
        PFB_MILTER_ED=inet:127.0.0.1:$(pfb__free_port "$sink_port" "$PFB_PORT" "$PFB_MILTER_PORT" "$PFB_DUAL_PORT") \
          || return 1
      else
        PFB_MILTER_ED=unix:$base/milter/opendkim-ed.sock
      fi ;;
    no) ;;
    *) pfb__err "PFB_DUAL must be yes or no, not '$PFB_DUAL'"; return 1 ;;
  esac
  [[ -z $PFB_DUAL_SINK_PORT || $PFB_DUAL_SINK_PORT =~ ^[0-9]+$ ]] \
    || { pfb__err "bad PFB_DUAL_SINK_PORT '$PFB_DUAL_SINK_PORT'"; return 1; }
  [[ $PFB_MESSAGE_SIZE_LIMIT =~ ^[0-9]+$ ]] \
    || { pfb__err "bad PFB_MESSAGE_SIZE_LIMIT '$PFB_MESSAGE_SIZE_LIMIT'"; return 1; }

  # --- TLS: a test CA and an ECDSA P-256 certificate for localhost / 127.0.0.1 ----------
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
    -subj "/CN=pfbench test CA" -keyout "$tls/ca.key" -out "$tls/ca.pem" 2> /dev/null \
    && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
      -keyout "$tls/server.key" -out "$tls/server.csr" 2> /dev/null \
    && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$tls/san.ext" \
    && openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
      -CAcreateserial -days 7 -extfile "$tls/san.ext" -out "$tls/server.pem" 2> /dev/null \
    || { pfb__err "openssl could not make the test CA and certificate"; return 1; }
  PFB_CAFILE=$tls/ca.pem
  (umask 077; cat "$tls/server.key" "$tls/server.pem" > "$PFB_DIR/chain.pem") || return 1
  chgrp postfix "$PFB_DIR/chain.pem" && chmod 640 "$PFB_DIR/chain.pem" || return 1
  install -m 644 "$sink_ca" "$PFB_DIR/sink-ca.pem" || return 1

  # --- SASL: Cyrus sasldb, user bench in realm example.test ------------------------------
  PFB_USER=bench
  PFB_PASSWORD=$(openssl rand -hex 12) || return 1
  PFB_PASSWORD_FILE=$base/password
  (umask 077; printf '%s\n' "$PFB_PASSWORD" > "$PFB_PASSWORD_FILE") || return 1
  printf '%s' "$PFB_PASSWORD" | saslpasswd2 -c -p -f "$sasl/sasldb2" -u "$PFB_SASL_REALM" "$PFB_USER" \
    || { pfb__err "saslpasswd2 could not create $sasl/sasldb2"; return 1; }
  chown root:postfix "$sasl/sasldb2" && chmod 640 "$sasl/sasldb2" || return 1
  sasldblistusers2 -f "$sasl/sasldb2" 2> /dev/null | grep -q "^$PFB_USER@$PFB_SASL_REALM:" \
    || { pfb__err "$PFB_USER@$PFB_SASL_REALM is not in $sasl/sasldb2"; return 1; }
  cat > "$sasl/smtpd.conf" << EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $sasl/sasldb2
mech_list: PLAIN LOGIN
EOF
  chmod 644 "$sasl/smtpd.conf"

  # --- OpenDKIM: RSA-2048 key, config, the TXT record ------------------------------------
  opendkim-genkey -b 2048 -d "$PFB_DOMAIN" -s "$PFB_SELECTOR" -D "$dkim" \
    || { pfb__err "opendkim-genkey failed"; return 1; }
  chown opendkim:opendkim "$dkim" "$dkim/$PFB_SELECTOR.private" && chmod 700 "$dkim" \
    && chmod 600 "$dkim/$PFB_SELECTOR.private" || return 1
  local pub
  pub=$(openssl pkey -in "$dkim/$PFB_SELECTOR.private" -pubout -outform DER 2> /dev/null | base64 -w0)
  [ -n "$pub" ] || { pfb__err "cannot read the public key of $dkim/$PFB_SELECTOR.private"; return 1; }
  # opendkim-genkey's own record (BIND syntax, split strings) must carry the same key
  tr -d '\n\t" ' < "$dkim/$PFB_SELECTOR.txt" | grep -qF "p=$pub" \
    || { pfb__err "the public key in $dkim/$PFB_SELECTOR.txt does not match the private key"; return 1; }
  printf 'v=DKIM1; k=rsa; p=%s\n' "$pub" > "$PFB_RECORDS_DIR/$PFB_SELECTOR._domainkey.$PFB_DOMAIN.txt"
  pfb__dkim_conf "$dkim" "$PFB_SELECTOR" rsa-sha256 \
    "$( [ "$PFB_MILTER_SOCKET" = inet ] && echo "inet:$PFB_MILTER_PORT@127.0.0.1" || echo "local:$PFB_MILTER_PATH")"
  chmod 644 "$dkim/opendkim.conf"
  if [ "$PFB_DUAL" = yes ]; then pfb__setup_ed25519 "$base" || return 1; fi

  # --- Postfix ---------------------------------------------------------------------------
  cat > "$PFB_DIR/main.cf" << EOF
compatibility_level = 3.6
queue_directory = $q
data_directory = $base/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = $PFB_LOG
maillog_file_prefixes = $base
syslog_name = postfix-pfb

myhostname = pfbench.example.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery on pfbench.example.test
alias_maps =
alias_database =
biff = no
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32

smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_tls_chain_files = $PFB_DIR/chain.pem
smtpd_tls_auth_only = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $sasl
smtpd_sasl_security_options = noanonymous
smtpd_sasl_local_domain = $PFB_SASL_REALM

smtpd_milters = $PFB_MILTER
non_smtpd_milters = $PFB_MILTER
milter_default_action = tempfail

relayhost = [127.0.0.1]:$sink_port
smtp_tls_security_level = encrypt
smtp_tls_CAfile = $PFB_DIR/sink-ca.pem
message_size_limit = $PFB_MESSAGE_SIZE_LIMIT
EOF
  if [ "$PFB_SMTP_TLS_REUSE" = yes ]; then
    echo "smtp_tls_connection_reuse = yes" >> "$PFB_DIR/main.cf"
  fi
  if [ "$PFB_DUAL" = yes ] && [ -n "$PFB_DUAL_SINK_PORT" ]; then
    echo "sender_dependent_relayhost_maps = inline:{$PFB_DUAL_SENDER=[127.0.0.1]:$PFB_DUAL_SINK_PORT}" >> "$PFB_DIR/main.cf"
  fi
  [ -z "$PFB_MAIN_CF_EXTRA" ] || printf '%s\n' "$PFB_MAIN_CF_EXTRA" >> "$PFB_DIR/main.cf"

  # master.cf: Debian's service lines without the port-25 smtpd and the pipe(8) transports,
  # chroot off, plus the submission listener (and tlsproxy when TLS connections are reused).
  awk '
    /^#/ || /^[ \t]*$/ { next }
    /^[ \t]/ { if (keep) print; next }
    { keep = !($2 == "inet" || $8 == "pipe"); if (keep) { $5 = "n"; print } }
  ' /etc/postfix/master.cf > "$PFB_DIR/master.cf"
  grep -qE '^(qmgr|smtp|cleanup|postlog|tlsmgr) ' "$PFB_DIR/master.cf" \
    || { pfb__err "master.cf lost Postfix's services"; return 1; }
  if [ "$PFB_SMTP_TLS_REUSE" = yes ] && ! grep -q '^tlsproxy ' "$PFB_DIR/master.cf"; then
    echo "tlsproxy  unix  -       -       n       -       0       tlsproxy" >> "$PFB_DIR/master.cf"
  fi
  cat >> "$PFB_DIR/master.cf" << EOF
127.0.0.1:$PFB_PORT inet n - n - - smtpd
  -o syslog_name=postfix-pfb/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
EOF
  if [ "$PFB_DUAL" = yes ]; then
    cat >> "$PFB_DIR/master.cf" << EOF
127.0.0.1:$PFB_DUAL_PORT inet n - n - - smtpd
  -o syslog_name=postfix-pfb/submission-dual
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_milters=$PFB_MILTER,$PFB_MILTER_ED
EOF
  fi

  runuser -u postfix -- test -r "$sasl/sasldb2" -a -r "$PFB_DIR/chain.pem" -a -r "$PFB_DIR/sink-ca.pem" \
    || { pfb__err "the postfix user cannot read its files under $PFB_DIR (is a parent of $PFB_WORK closed to others?)"; return 1; }
  runuser -u opendkim -- test -r "$dkim/$PFB_SELECTOR.private" \
    || { pfb__err "the opendkim user cannot read $dkim/$PFB_SELECTOR.private"; return 1; }
  pfb__postfix check || return 1
}

# pfb__setup_ed25519 BASE: the Ed25519 key, its TXT record and the second OpenDKIM's config
# (PFB_DUAL=yes; called by pfb_setup after the RSA instance's config is written).
pfb__setup_ed25519() {
  local base=$1 edk pub
  edk=$base/opendkim-ed
  PFB_DKIM_ED_DIR=$edk
  mkdir -p "$edk" || return 1
  (umask 077; openssl genpkey -algorithm ed25519 -out "$edk/$PFB_SELECTOR_ED.private" 2> /dev/null) \
    || { pfb__err "openssl genpkey -algorithm ed25519 failed"; return 1; }
  chown opendkim:opendkim "$edk" "$edk/$PFB_SELECTOR_ED.private" && chmod 700 "$edk" \
    && chmod 600 "$edk/$PFB_SELECTOR_ED.private" || return 1
  # the record's p= is the raw 32-byte public key (RFC 8463), the tail of the DER SPKI
  pub=$(openssl pkey -in "$edk/$PFB_SELECTOR_ED.private" -pubout -outform DER 2> /dev/null | tail -c 32 | base64 -w0)
  [ "${#pub}" = 44 ] || { pfb__err "cannot read the Ed25519 public key"; return 1; }
  printf 'v=DKIM1; k=ed25519; p=%s\n' "$pub" > "$PFB_RECORDS_DIR/$PFB_SELECTOR_ED._domainkey.$PFB_DOMAIN.txt"
  pfb__dkim_conf "$edk" "$PFB_SELECTOR_ED" ed25519-sha256 "$(pfb__dkim_socket "$PFB_MILTER_ED")"
  chmod 644 "$edk/opendkim.conf"
  runuser -u opendkim -- test -r "$edk/$PFB_SELECTOR_ED.private" \
    || { pfb__err "the opendkim user cannot read $edk/$PFB_SELECTOR_ED.private"; return 1; }
}

# pfb__dkim_socket MILTER: OpenDKIM's Socket value for Postfix's milter address.
# pfb__dkim_conf DIR SELECTOR ALGORITHM SOCKET: DIR/opendkim.conf for one signing instance
# (key DIR/SELECTOR.private; SOCKET in opendkim's syntax, local:PATH or inet:PORT@HOST).
pfb__dkim_conf() {
  cat > "$1/opendkim.conf" << EOF
Mode                s
Domain              $PFB_DOMAIN
Selector            $2
KeyFile             $1/$2.private
Canonicalization    relaxed/relaxed
SignatureAlgorithm  $3
OversignHeaders     From
InternalHosts       127.0.0.1
Socket              $4
PidFile             $1/opendkim.pid
UserID              opendkim:opendkim
UMask               $( [ "$PFB_MILTER_SOCKET" = inet ] && echo 007 || echo 000)
RequireSafeKeys     no
Syslog              no
Background          no
AutoRestart         no
SoftwareHeader      no
EOF
}

pfb__dkim_socket() {
  case $1 in
    inet:127.0.0.1:*) echo "inet:${1##*:}@127.0.0.1" ;;
    unix:*) echo "local:${1#unix:}" ;;
  esac
}

# pfb__is PID COMM: PID is alive and its comm is COMM (guards against a reused PID).
pfb__is() {
  local c
  [ -n "$1" ] && read -r c 2> /dev/null < "/proc/$1/comm" && [ "$c" = "$2" ]
}

# pfb__milter_accepts [MILTER]: OpenDKIM's socket (MILTER, default PFB_MILTER: inet:HOST:PORT
# or unix:PATH) accepts a connection now.
pfb__milter_accepts() {
  local m=${1:-$PFB_MILTER} path
  case $m in
    inet:*)
      (exec 3<> "/dev/tcp/127.0.0.1/${m##*:}") 2> /dev/null ;;
    unix:*)
      path=${m#unix:}
      [ -S "$path" ] && timeout 5 /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(2)
s.connect(sys.argv[1])' "$path" 2> /dev/null ;;
    *) return 1 ;;
  esac
}

pfb_start() {
  local i
  [ -n "$PFB_DIR" ] || { pfb__err "pfb_setup first"; return 1; }
  [ "$PFB_RUNNING" = 0 ] || { pfb__err "already started"; return 1; }
  PFB_RUNNING=1   # from here on pfb_stop has something to do
  : > "$PFB_DKIM_LOG"
  opendkim -f -x "$PFB_DKIM_DIR/opendkim.conf" >> "$PFB_DKIM_LOG" 2>&1 < /dev/null &
  PFB_DKIM_PID=$!
  for ((i = 0; i < 200; i++)); do
    pfb__milter_accepts && break
    kill -0 "$PFB_DKIM_PID" 2> /dev/null || break
    sleep 0.1
  done
  if ! kill -0 "$PFB_DKIM_PID" 2> /dev/null || [ "$i" -ge 200 ]; then
    pfb__err "OpenDKIM (PID $PFB_DKIM_PID) does not listen on $PFB_MILTER; its output:"
    cat "$PFB_DKIM_LOG" >&2
    return 1
  fi

  pfb__postfix start || return 1
  for ((i = 0; i < 200; i++)); do
    PFB_MASTER_PID=$(tr -d ' \n' < "$PFB_QUEUE/pid/master.pid" 2> /dev/null || true)
    [[ $PFB_MASTER_PID =~ ^[0-9]+$ ]] && pfb__is "$PFB_MASTER_PID" master && break
    PFB_MASTER_PID=
    sleep 0.1
  done
  [ -n "$PFB_MASTER_PID" ] || { pfb__err "no live Postfix master in $PFB_QUEUE/pid/master.pid"; return 1; }
  pfb__wait_port "$PFB_PORT" 20 \
    || { pfb__err "Postfix does not listen on 127.0.0.1:$PFB_PORT"; tail -n 30 "$PFB_LOG" >&2; return 1; }
}

pfb_dual_start() {
  local i log
  if [ -z "$PFB_DKIM_ED_DIR" ]; then pfb__err "pfb_setup with PFB_DUAL=yes first"; return 1; fi
  [ "$PFB_RUNNING" = 1 ] || { pfb__err "pfb_start first"; return 1; }
  [ -z "$PFB_DKIM_ED_PID" ] || { pfb__err "the Ed25519 OpenDKIM already runs"; return 1; }
  log=$PFB_DKIM_ED_DIR/opendkim.log
  opendkim -f -x "$PFB_DKIM_ED_DIR/opendkim.conf" >> "$log" 2>&1 < /dev/null &
  PFB_DKIM_ED_PID=$!
  for ((i = 0; i < 200; i++)); do
    pfb__milter_accepts "$PFB_MILTER_ED" && break
    kill -0 "$PFB_DKIM_ED_PID" 2> /dev/null || break
    sleep 0.1
  done
  if ! kill -0 "$PFB_DKIM_ED_PID" 2> /dev/null || [ "$i" -ge 200 ]; then
    pfb__err "OpenDKIM (Ed25519, PID $PFB_DKIM_ED_PID) does not listen on $PFB_MILTER_ED; its output:"
    cat "$log" >&2
    pfb_dual_stop
    return 1
  fi
  pfb__wait_port "$PFB_DUAL_PORT" 20 \
    || { pfb__err "Postfix does not listen on 127.0.0.1:$PFB_DUAL_PORT"; tail -n 30 "$PFB_LOG" >&2; pfb_dual_stop; return 1; }
}

pfb_dual_stop() {
  local rc=0
  [ -n "$PFB_DKIM_ED_PID" ] || return 0
  if pfb__is "$PFB_DKIM_ED_PID" opendkim; then
    kill -TERM "$PFB_DKIM_ED_PID" 2> /dev/null || true
    if ! pfb__wait_gone 10 "$PFB_DKIM_ED_PID"; then
      pfb__err "OpenDKIM (Ed25519) $PFB_DKIM_ED_PID still running 10 s after SIGTERM: SIGKILL"
      if pfb__is "$PFB_DKIM_ED_PID" opendkim; then kill -KILL "$PFB_DKIM_ED_PID" 2> /dev/null || true; fi
      pfb__wait_gone 5 "$PFB_DKIM_ED_PID" || rc=1
    fi
  fi
  wait "$PFB_DKIM_ED_PID" 2> /dev/null || true
  [ "$rc" = 0 ] && PFB_DKIM_ED_PID=
  return "$rc"
}

# pfb__proc_scan: fills PFB_PROC_PPID[pid]=ppid and PFB_PROC_STAT[pid]="utime stime cutime cstime"
# for every process now (fields 4 and 14-17 of /proc/PID/stat, counted after the last ')').
declare -gA PFB_PROC_PPID=() PFB_PROC_STAT=()
pfb__proc_scan() {
  local f line pid
  local -a x
  PFB_PROC_PPID=() PFB_PROC_STAT=()
  for f in /proc/[0-9]*/stat; do
    line=
    read -r line 2> /dev/null < "$f" || [ -n "$line" ] || continue
    pid=${line%% *}
    read -r -a x <<< "${line##*) }"   # x[0] = field 3 (state), x[1] = field 4 (ppid)
    [ "${#x[@]}" -ge 15 ] || continue
    PFB_PROC_PPID[$pid]=${x[1]}
    PFB_PROC_STAT[$pid]="${x[11]} ${x[12]} ${x[13]} ${x[14]}"
  done
}

# pfb__tree: after pfb__proc_scan, prints the master's descendants (not the master).
pfb__tree() {
  local -A kids=()
  local pid queue=() p
  [ -n "$PFB_MASTER_PID" ] || return 0
  for pid in "${!PFB_PROC_PPID[@]}"; do
    kids[${PFB_PROC_PPID[$pid]}]+=" $pid"
  done
  queue=("$PFB_MASTER_PID")
  while [ "${#queue[@]}" -gt 0 ]; do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    for pid in ${kids[$p]:-}; do
      echo "$pid"
      queue+=("$pid")
    done
  done
}

pfb_pids() {
  pfb__proc_scan
  [ -n "$PFB_MASTER_PID" ] && [ -n "${PFB_PROC_STAT[$PFB_MASTER_PID]:-}" ] && echo "$PFB_MASTER_PID"
  pfb__tree
  [ -n "$PFB_DKIM_PID" ] && [ -n "${PFB_PROC_STAT[$PFB_DKIM_PID]:-}" ] && echo "$PFB_DKIM_PID"
  [ -n "$PFB_DKIM_ED_PID" ] && [ -n "${PFB_PROC_STAT[$PFB_DKIM_ED_PID]:-}" ] && echo "$PFB_DKIM_ED_PID"
  return 0
}

pfb_cpu_ticks() {
  local total=0 pid u s cu cs master_stat=
  # the master first: a daemon reaped after this read is missed rather than counted twice
  if [ -n "$PFB_MASTER_PID" ]; then
    local line
    read -r line 2> /dev/null < "/proc/$PFB_MASTER_PID/stat" && master_stat=${line##*) }
  fi
  pfb__proc_scan
  if [ -n "$master_stat" ]; then
    local -a x
    read -r -a x <<< "$master_stat"
    total=$((x[11] + x[12] + x[13] + x[14]))
    for pid in $(pfb__tree) $PFB_DKIM_PID $PFB_DKIM_ED_PID; do
      [ -n "${PFB_PROC_STAT[$pid]:-}" ] || continue
      read -r u s cu cs <<< "${PFB_PROC_STAT[$pid]}"
      total=$((total + u + s + cu + cs))
    done
  elif [ -n "$PFB_DKIM_PID" ] && [ -n "${PFB_PROC_STAT[$PFB_DKIM_PID]:-}" ]; then
    read -r u s cu cs <<< "${PFB_PROC_STAT[$PFB_DKIM_PID]}"
    total=$((u + s + cu + cs))
  fi
  echo "$total"
}

# pfb__smaps_sum FIELD: sum of FIELD (Pss: or Rss:) in smaps_rollup over pfb_pids, in KiB.
pfb__smaps_sum() {
  local want=$1 total=0 pid k v rest
  for pid in $(pfb_pids); do
    { while read -r k v rest; do
        if [ "$k" = "$want" ]; then total=$((total + v)); break; fi
      done < "/proc/$pid/smaps_rollup"; } 2> /dev/null || true
  done
  echo "$total"
}
pfb_pss_kib() { pfb__smaps_sum Pss:; }
pfb_rss_kib() { pfb__smaps_sum Rss:; }

pfb_queue_count() {
  local q=$PFB_QUEUE d dirs=()
  [ -n "$PFB_DIR" ] || { pfb__err "pfb_setup first"; return 1; }
  for d in incoming active deferred maildrop hold; do
    [ -d "$q/$d" ] && dirs+=("$q/$d")
  done
  [ "${#dirs[@]}" -gt 0 ] || { echo 0; return 0; }
  find "${dirs[@]}" -type f 2> /dev/null | wc -l
}

pfb_queue_empty() {
  local q=$PFB_QUEUE d dirs=()
  [ -n "$PFB_DIR" ] || { pfb__err "pfb_setup first"; return 2; }
  for d in incoming active deferred maildrop hold; do
    [ -d "$q/$d" ] && dirs+=("$q/$d")
  done
  [ "${#dirs[@]}" -gt 0 ] || return 0
  [ -z "$(find "${dirs[@]}" -type f -print -quit 2> /dev/null)" ]
}

pfb_wait_drained() {
  local limit=${1:?pfb_wait_drained SECONDS} i
  for ((i = 0; i < limit * 5; i++)); do
    pfb_queue_empty && return 0
    sleep 0.2
  done
  pfb_queue_empty && return 0
  {
    echo "pfb: the Postfix queue did not drain within ${limit}s: $(pfb_queue_count) message(s) left"
    echo "--- postqueue -p:"
    timeout 20 postqueue -c "$PFB_DIR" -p 2>&1 | head -n 60 || true
    echo "--- $PFB_LOG (last 30 lines):"
    tail -n 30 "$PFB_LOG" 2> /dev/null || true
  } >&2
  return 1
}

pfb_sent_count() {
  local n
  n=$(grep -c ' status=sent ' "$PFB_LOG" 2> /dev/null) || true
  echo "${n:-0}"
}

pfb_log() { echo "$PFB_LOG"; }

# pfb__wait_gone SECONDS PID...: until none of the PIDs is alive (kill -0).
pfb__wait_gone() {
  local limit=$1 i p alive
  shift
  for ((i = 0; i < limit * 10; i++)); do
    alive=
    for p in "$@"; do kill -0 "$p" 2> /dev/null && alive=1 && break; done
    [ -z "$alive" ] && return 0
    sleep 0.1
  done
  return 1
}

pfb_stop() {
  local rc=0 procs=() p
  [ "$PFB_RUNNING" = 1 ] || return 0
  pfb_dual_stop || rc=1
  if [ -n "$PFB_MASTER_PID" ] && pfb__is "$PFB_MASTER_PID" master; then
    pfb__proc_scan
    mapfile -t procs < <(pfb__tree)
    timeout 30 postfix -c "$PFB_DIR" stop > /dev/null 2>&1 || true
    if ! pfb__wait_gone 10 "$PFB_MASTER_PID" "${procs[@]}"; then
      pfb__err "Postfix (master $PFB_MASTER_PID) still running 10 s after postfix stop: SIGKILL"
      for p in "$PFB_MASTER_PID" "${procs[@]}"; do
        # only processes of this instance: the master, or a Postfix daemon that was its child
        [ -r "/proc/$p/exe" ] && [[ $(readlink "/proc/$p/exe" 2> /dev/null) == /usr/lib/postfix/sbin/* ]] \
          && kill -KILL "$p" 2> /dev/null || true
      done
      pfb__wait_gone 5 "$PFB_MASTER_PID" "${procs[@]}" || rc=1
    fi
  fi
  PFB_MASTER_PID=
  if [ -n "$PFB_DKIM_PID" ]; then
    if pfb__is "$PFB_DKIM_PID" opendkim; then
      kill -TERM "$PFB_DKIM_PID" 2> /dev/null || true
      if ! pfb__wait_gone 10 "$PFB_DKIM_PID"; then
        pfb__err "OpenDKIM $PFB_DKIM_PID still running 10 s after SIGTERM: SIGKILL"
        pfb__is "$PFB_DKIM_PID" opendkim && kill -KILL "$PFB_DKIM_PID" 2> /dev/null || true
        pfb__wait_gone 5 "$PFB_DKIM_PID" || rc=1
      fi
    fi
    wait "$PFB_DKIM_PID" 2> /dev/null || true   # reap it when it is this shell's child
  fi
  PFB_DKIM_PID=
  [ "$rc" = 0 ] && PFB_RUNNING=0
  return "$rc"
}
