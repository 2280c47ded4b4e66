# tests/integration/postfix.sh — a private Postfix instance beside the system one, for the
# scenarios where Postfix is a peer (the NAS submitting to Signpost, a smarthost).
# Source after lib.sh, with PF (its config and queue directory) and MAILLOG set.
#   pf_main_cf NAME HOSTNAME   writes $PF/main.cf with what every instance needs (own queue,
#                              log file, loopback only, no local delivery); append the role's
#                              settings after it
#   pf_master_cf               writes $PF/master.cf: Debian's service lines without the
#                              port-25 smtpd and the pipe(8) transports, chroot off; append
#                              the role's listeners after it
#   pf_start ADDR PORT         postfix check + start, then waits until ADDR:PORT accepts
#                              connections; stopped again at exit (bounded)
# Peers: postfix (scripts/install-deps.sh). PEERS.md describes the setup.

pf_main_cf() {
  cat > "$PF/main.cf" << EOF
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = $MAILLOG
maillog_file_prefixes = $PF
syslog_name = postfix-$1

myhostname = $2
myorigin = \$myhostname
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery on $2
alias_maps =
alias_database =
biff = no
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
EOF
}

pf_master_cf() {
  awk '
    /^#/ || /^[ \t]*$/ { next }
    /^[ \t]/ { if (keep) print; next }
    { keep = !($2 == "inet" || $8 == "pipe"); if (keep) { $5 = "n"; print } }
  ' /etc/postfix/master.cf > "$PF/master.cf"
  grep -qE '^(qmgr|smtp|cleanup|postlog) ' "$PF/master.cf" || fail "master.cf lost Postfix's services"
}

PF_MASTER=
pf_stop() {  # stop the private instance; bounded wait for its master to exit
  local i
  [ -n "$PF_MASTER" ] || return 0
  timeout 20 postfix -c "$PF" stop > /dev/null 2>&1 || true
  for ((i = 0; i < 100; i++)); do
    pid_running "$PF_MASTER" || { PF_MASTER=; return 0; }
    sleep 0.1
  done
  return 1
}

# Postfix's commands log to stderr only when it is a terminal: on failure, run the
# command again under script(1) to show why.
pf_cmd() {
  timeout 30 postfix -c "$PF" "$1" > /dev/null 2>&1 && return 0
  timeout 30 script -qec "postfix -c '$PF' $1" /dev/null < /dev/null || true
  cat "$MAILLOG" 2> /dev/null || true
  fail "postfix -c $PF $1 failed"
}

pf_start() {
  local addr=$1 port=$2 i
  trap 'pf_stop || true; _cleanup' EXIT
  pf_cmd check
  pf_cmd start
  for ((i = 0; i < 100; i++)); do
    [ -s "$PF/queue/pid/master.pid" ] && break
    sleep 0.1
  done
  PF_MASTER=$(tr -d ' \n' < "$PF/queue/pid/master.pid" 2> /dev/null || true)
  [[ $PF_MASTER =~ ^[0-9]+$ ]] && kill -0 "$PF_MASTER" || fail "no Postfix master PID in $PF/queue/pid/master.pid"
  track_pid "$PF_MASTER"
  for ((i = 0; i < 100; i++)); do
    (exec 3<> "/dev/tcp/$addr/$port") 2> /dev/null && break
    sleep 0.1
  done
  [ "$i" -lt 100 ] || { cat "$MAILLOG"; fail "Postfix does not listen on $addr:$port"; }
}
