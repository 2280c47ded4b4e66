#!/usr/bin/env bash
# signpost-entrypoint — the container's entry point (docker/Dockerfile installs it as
# /usr/local/bin/signpost-entrypoint).
#
#   signpost-entrypoint [serve] [ARGS...]   prepare, then exec `signpost serve --config $SIGNPOST_CONFIG ARGS...`
#                                           (ARGS starting with "-")
#   signpost-entrypoint signpost ARGS...    run the signpost command as given, nothing prepared
#                                           (docker run IMAGE signpost queue list)
#   signpost-entrypoint SUBCOMMAND ARGS...  the same for keys, users, queue, check-config,
#                                           explain, doctor, spf, tls-report, dkim, version, init, health
#                                           (`signpost` implied)
#   signpost-entrypoint OTHER ARGS...       exec OTHER as given (a shell, for instance)
#
# Two ways to configure:
#   * Mount a configuration file at $SIGNPOST_CONFIG. It is used as it is: only checked
#     (`signpost check-config`) and the DNS records of its DKIM keys are printed; the
#     SIGNPOST_* settings below are ignored.
#   * Or set SIGNPOST_* environment variables; the file is then written from them at every
#     start (its first line marks it as written here, so a file without that line is never
#     touched). A start with unchanged variables and volumes changes no file, so restarts
#     never rotate keys, rehash passwords or replace certificates.
#
# Settings (required ones marked *):
#   SIGNPOST_HOSTNAME *         our host name: SMTP greeting, EHLO, Received:, self-signed cert
#   SIGNPOST_DOMAINS *          domains to DKIM-sign for, comma-separated (example.com,example.org)
#   SIGNPOST_USERS              users, separated by ";" or newlines, each NAME:PASSWORD:SENDERS:
#                                 alice:s3cret:alice@example.com,example.org;nas:pw2:example.com
#                               NAME: 1 to 64 of A-Z a-z 0-9 . _ @ + -; SENDERS (after the last
#                               ":"): the domains and addresses the user may send as, comma-
#                               separated; PASSWORD: everything between (may hold ":", not ";").
#   SIGNPOST_USERS_FILE         a file (e.g. a Docker secret) with one NAME:PASSWORD:SENDERS
#                               per line ("#" comments and blank lines skipped; ";" allowed in
#                               passwords). Users are added, or their password/senders updated;
#                               users not listed are kept (remove them with `signpost users remove`).
#   SIGNPOST_DELIVERY_MODE      mx (default: straight to recipients' MX hosts), smarthost, or
#                               capture (write .eml files to $SIGNPOST_DATA_DIR/outbox, send nothing)
#   SIGNPOST_SMARTHOST          host[:port] (port default 587); required for smarthost
#   SIGNPOST_SMARTHOST_TLS      starttls or implicit (default: implicit for port 465, else starttls)
#   SIGNPOST_SMARTHOST_USER     AUTH at the smarthost, with SIGNPOST_SMARTHOST_PASSWORD or
#   SIGNPOST_SMARTHOST_PASSWORD SIGNPOST_SMARTHOST_PASSWORD_FILE; kept in
#   SIGNPOST_SMARTHOST_PASSWORD_FILE  $SIGNPOST_CONFIG_DIR/smarthost-credentials (mode 0600)
#   SIGNPOST_EXTRA_CA_FILE      extra CA certificates (PEM) to trust for outbound TLS
#   SIGNPOST_TLS_CERT, SIGNPOST_TLS_KEY
#                               certificate chain and key (PEM, key mode 0600) for clients; when
#                               neither is set a self-signed certificate for SIGNPOST_HOSTNAME is
#                               made in $SIGNPOST_CONFIG_DIR/tls/ (once, and again if the host
#                               name changes; clients must then skip verification, and a
#                               warning says so at every start)
#   SIGNPOST_DKIM_ALGORITHMS    default ed25519,rsa2048 (dual signing); also rsa3072, rsa4096
#   SIGNPOST_DKIM_ROTATE_EVERY  default 90d; "0" rotates only on `signpost keys rotate`
#   SIGNPOST_LISTEN_ADDRESS     default 0.0.0.0 (IPv6: ::)
#   SIGNPOST_SUBMISSION_PORT    STARTTLS listener, default 587 ("off": none)
#   SIGNPOST_SUBMISSIONS_PORT   implicit-TLS listener, default 465 ("off": none)
#   SIGNPOST_METRICS_ADDRESS    default 0.0.0.0
#   SIGNPOST_METRICS_PORT       /metrics and /healthz, default 9587 ("off": none; the image's
#                               HEALTHCHECK uses it)
#   SIGNPOST_MESSAGE_SIZE       largest message, default 25MB
#   SIGNPOST_RECEIVED_CLIENT    true (default) or false: name the client's address in Received:
#   SIGNPOST_DNS_FORWARDERS     resolvers, comma-separated ip or ip@port (default: the system's)
#   SIGNPOST_LOG_LEVEL          trace, debug, info (default), warn, error
#   SIGNPOST_LOG_FORMAT         text (default) or json
#
# Places (the image's volumes by default; overridable, e.g. to run this outside a container):
#   SIGNPOST_CONFIG_DIR   /etc/signpost          configuration, users, TLS, smarthost credentials
#   SIGNPOST_CONFIG       $SIGNPOST_CONFIG_DIR/signpost.toml
#   SIGNPOST_DATA_DIR     /var/lib/signpost      DKIM keys (keys/), capture outbox
#   SIGNPOST_SPOOL_DIR    /var/spool/signpost    the queue and the MTA-STS cache
#   SIGNPOST_BIN          signpost (from PATH)
#
# DKIM: a domain without keys gets its first keys here (`signpost keys rotate`), pending until
# DNS serves their records; Signpost activates them by itself once published and refuses
# that domain's mail with 451 until then. The records to publish are printed at every start
# (`signpost keys dns`).
#
# SIGNPOST_ENTRYPOINT_DRY_RUN=1 prepares everything, prints the serve command and exits 0.
# Exit status: 0, or 1 with every problem found in the settings printed (or what failed).
set -euo pipefail

readonly MARKER="# Written by signpost-entrypoint from SIGNPOST_* environment variables; changes here are overwritten at the next start."
readonly LOGP="signpost-entrypoint:"

log() { printf '%s %s\n' "$LOGP" "$*"; }
warn() { printf '%s WARNING: %s\n' "$LOGP" "$*" >&2; }
die() { printf '%s error: %s\n' "$LOGP" "$*" >&2; exit 1; }

SIGNPOST_BIN=${SIGNPOST_BIN:-signpost}

# --- what to run -------------------------------------------------------------------------
serve_args=()
case "${1:-serve}" in
  serve)
    [ $# -gt 0 ] && shift
    serve_args=("$@") ;;
  -*)
    serve_args=("$@") ;;  # options for serve, as in `docker run IMAGE --some-option`
  signpost)
    shift
    exec "$SIGNPOST_BIN" "$@" ;;
  keys | users | queue | check-config | explain | doctor | spf | tls-report | dkim | version | init | health)
    exec "$SIGNPOST_BIN" "$@" ;;
  *)
    exec "$@" ;;
esac

command -v "$SIGNPOST_BIN" > /dev/null || die "SIGNPOST_BIN: $SIGNPOST_BIN is not an executable command"

# Absolute paths: the configuration resolves relative paths against its own directory.
abspath() { realpath -m -- "$1"; }
CONFIG_DIR=$(abspath "${SIGNPOST_CONFIG_DIR:-/etc/signpost}")
CONFIG=$(abspath "${SIGNPOST_CONFIG:-$CONFIG_DIR/signpost.toml}")
DATA_DIR=$(abspath "${SIGNPOST_DATA_DIR:-/var/lib/signpost}")
SPOOL_DIR=$(abspath "${SIGNPOST_SPOOL_DIR:-/var/spool/signpost}")
KEYS_DIR=$DATA_DIR/keys

# check_config: `signpost check-config`, quiet unless it finds something.
check_config() {
  local out
  if ! out=$("$SIGNPOST_BIN" check-config --config "$CONFIG" 2>&1); then
    printf '%s\n' "$out" >&2
    die "$CONFIG is not valid (see above)"
  fi
}

# print_dns: the DKIM records to publish, keep and remove, for the log.
print_dns() {
  local out
  out=$("$SIGNPOST_BIN" keys dns --config "$CONFIG" 2>&1) || { printf '%s\n' "$out" >&2; die "signpost keys dns failed"; }
  [ -n "$out" ] || return 0
  log "DKIM records (signpost keys dns):"
  printf '%s\n' "$out"
}

run_serve() {
  local cmd=("$SIGNPOST_BIN" serve --config "$CONFIG" "${serve_args[@]}")
  if [ "${SIGNPOST_ENTRYPOINT_DRY_RUN:-0}" = 1 ]; then
    log "dry run: would exec: ${cmd[*]}"
    exit 0
  fi
  log "starting: ${cmd[*]}"
  exec "${cmd[@]}"
}

# --- a mounted configuration: used as it is ------------------------------------------------
if [ -e "$CONFIG" ] && [ "$(head -n1 "$CONFIG" 2>/dev/null)" != "$MARKER" ]; then
  log "using $CONFIG as mounted (SIGNPOST_* settings are not applied to it)"
  check_config
  print_dns
  run_serve
fi

# --- settings from the environment: check them all, report every problem at once ---------
errors=()
err() { errors+=("$1"); }

re_label='[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
re_host="^$re_label(\\.$re_label)*\$"
re_ipv4='^([0-9]{1,3}\.){3}[0-9]{1,3}$'
re_ipv6='^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$'
re_duration='^(0|[0-9]+[smhdw])$'

trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; s=${s%"${s##*[![:space:]]}"}; printf '%s' "$s"; }

# port NAME DEFAULT: sets PORT_VALUE to the port (or "off"), or records an error.
port() {
  local name=$1 v=${!1:-$2}
  PORT_VALUE=$v
  [ "$v" = off ] && return 0
  if ! [[ $v =~ ^[0-9]{1,5}$ ]] || [ "$v" -lt 1 ] || [ "$v" -gt 65535 ]; then
    err "$name=\"$v\": a port 1-65535 (or off)"
  fi
}

# address NAME DEFAULT: sets ADDR_VALUE (IPv6 in brackets, as the configuration wants it).
address() {
  local name=$1 v=${!1:-$2}
  if [[ $v =~ $re_ipv4 ]]; then ADDR_VALUE=$v
  elif [[ $v =~ $re_ipv6 ]]; then ADDR_VALUE="[$v]"
  else err "$name=\"$v\": a literal IPv4 or IPv6 address (0.0.0.0, ::, 127.0.0.1)"; ADDR_VALUE=$v
  fi
}

HOSTNAME_=${SIGNPOST_HOSTNAME:-}
if [ -z "$HOSTNAME_" ]; then
  err "SIGNPOST_HOSTNAME is not set: the host name this relay greets and signs Received: with (mail.example.com)"
elif ! [[ $HOSTNAME_ =~ $re_host ]]; then
  err "SIGNPOST_HOSTNAME=\"$HOSTNAME_\": not a host name"
fi

domains=()
if [ -z "${SIGNPOST_DOMAINS:-}" ]; then
  err "SIGNPOST_DOMAINS is not set: the domains to DKIM-sign for, comma-separated (example.com,example.org)"
else
  IFS=',' read -ra parts <<< "$SIGNPOST_DOMAINS"
  named=0
  for d in "${parts[@]}"; do
    d=$(trim "$d"); d=${d,,}; d=${d%.}
    [ -n "$d" ] || continue
    named=1
    if ! [[ $d =~ $re_host ]] || ! [[ $d == *.* ]]; then err "SIGNPOST_DOMAINS: \"$d\" is not a domain name"
    elif printf '%s\n' "${domains[@]:-}" | grep -qxF -- "$d"; then err "SIGNPOST_DOMAINS: \"$d\" is listed twice"
    else domains+=("$d")
    fi
  done
  [ "$named" = 1 ] || err "SIGNPOST_DOMAINS=\"$SIGNPOST_DOMAINS\" names no domain"
fi

algorithms=()
IFS=',' read -ra parts <<< "${SIGNPOST_DKIM_ALGORITHMS:-ed25519,rsa2048}"
for a in "${parts[@]}"; do
  a=$(trim "$a"); a=${a,,}
  case "$a" in
    ed25519 | rsa2048 | rsa3072 | rsa4096) algorithms+=("\"$a\"") ;;
    "") ;;
    *) err "SIGNPOST_DKIM_ALGORITHMS: \"$a\" is not one of ed25519, rsa2048, rsa3072, rsa4096" ;;
  esac
done
[ ${#algorithms[@]} -gt 0 ] || err "SIGNPOST_DKIM_ALGORITHMS names no algorithm"
ROTATE_EVERY=${SIGNPOST_DKIM_ROTATE_EVERY:-90d}
[[ $ROTATE_EVERY =~ $re_duration ]] || err "SIGNPOST_DKIM_ROTATE_EVERY=\"$ROTATE_EVERY\": a duration such as 90d, 12w or 0"

address SIGNPOST_LISTEN_ADDRESS 0.0.0.0; LISTEN=$ADDR_VALUE
port SIGNPOST_SUBMISSION_PORT 587; SUBMISSION_PORT=$PORT_VALUE
port SIGNPOST_SUBMISSIONS_PORT 465; SUBMISSIONS_PORT=$PORT_VALUE
[ "$SUBMISSION_PORT" != off ] || [ "$SUBMISSIONS_PORT" != off ] \
  || err "SIGNPOST_SUBMISSION_PORT and SIGNPOST_SUBMISSIONS_PORT are both off: no listener left"
[ "$SUBMISSION_PORT" = off ] || [ "$SUBMISSION_PORT" != "$SUBMISSIONS_PORT" ] \
  || err "SIGNPOST_SUBMISSION_PORT and SIGNPOST_SUBMISSIONS_PORT are both $SUBMISSION_PORT"
address SIGNPOST_METRICS_ADDRESS 0.0.0.0; METRICS_ADDRESS=$ADDR_VALUE
port SIGNPOST_METRICS_PORT 9587; METRICS_PORT=$PORT_VALUE

MESSAGE_SIZE=${SIGNPOST_MESSAGE_SIZE:-25MB}
[[ $MESSAGE_SIZE =~ ^[0-9]+([KMGT]i?B)?$ ]] || err "SIGNPOST_MESSAGE_SIZE=\"$MESSAGE_SIZE\": a size such as 25MB or 50MiB"
RECEIVED_CLIENT=${SIGNPOST_RECEIVED_CLIENT:-true}
[[ $RECEIVED_CLIENT =~ ^(true|false)$ ]] || err "SIGNPOST_RECEIVED_CLIENT=\"$RECEIVED_CLIENT\": true or false"
LOG_LEVEL=${SIGNPOST_LOG_LEVEL:-info}
[[ $LOG_LEVEL =~ ^(trace|debug|info|warn|error|critical|off)$ ]] \
  || err "SIGNPOST_LOG_LEVEL=\"$LOG_LEVEL\": trace, debug, info, warn, error, critical or off"
LOG_FORMAT=${SIGNPOST_LOG_FORMAT:-text}
[[ $LOG_FORMAT =~ ^(text|json)$ ]] || err "SIGNPOST_LOG_FORMAT=\"$LOG_FORMAT\": text or json"

forwarders=()
IFS=',' read -ra parts <<< "${SIGNPOST_DNS_FORWARDERS:-}"
for f in "${parts[@]}"; do
  f=$(trim "$f")
  [ -n "$f" ] || continue
  if [[ ${f%@*} =~ $re_ipv4 || ${f%@*} =~ $re_ipv6 ]] && { [[ $f != *@* ]] || [[ ${f##*@} =~ ^[0-9]{1,5}$ ]]; }; then
    forwarders+=("\"$f\"")
  else
    err "SIGNPOST_DNS_FORWARDERS: \"$f\" is not ip or ip@port"
  fi
done

EXTRA_CA=${SIGNPOST_EXTRA_CA_FILE:-}
if [ -n "$EXTRA_CA" ]; then
  EXTRA_CA=$(abspath "$EXTRA_CA")
  [ -r "$EXTRA_CA" ] || err "SIGNPOST_EXTRA_CA_FILE=$EXTRA_CA: no such readable file"
fi

# Delivery.
MODE=${SIGNPOST_DELIVERY_MODE:-mx}
SMARTHOST="" SMARTHOST_TLS="" SMARTHOST_USER=${SIGNPOST_SMARTHOST_USER:-} SMARTHOST_PASSWORD=""
case "$MODE" in
  mx | capture) ;;
  smarthost)
    SMARTHOST=${SIGNPOST_SMARTHOST:-}
    if [ -z "$SMARTHOST" ]; then
      err "SIGNPOST_DELIVERY_MODE=smarthost needs SIGNPOST_SMARTHOST=host:port (smtp.example.net:587)"
    elif ! [[ $SMARTHOST =~ ^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$ ]]; then
      err "SIGNPOST_SMARTHOST=\"$SMARTHOST\": host or host:port (smtp.example.net:587)"
    fi
    default_tls=starttls
    [[ $SMARTHOST == *:465 ]] && default_tls=implicit
    SMARTHOST_TLS=${SIGNPOST_SMARTHOST_TLS:-$default_tls}
    [[ $SMARTHOST_TLS =~ ^(starttls|implicit)$ ]] || err "SIGNPOST_SMARTHOST_TLS=\"$SMARTHOST_TLS\": starttls or implicit"
    if [ -n "${SIGNPOST_SMARTHOST_PASSWORD_FILE:-}" ]; then
      if [ -r "$SIGNPOST_SMARTHOST_PASSWORD_FILE" ]; then
        SMARTHOST_PASSWORD=$(head -n1 "$SIGNPOST_SMARTHOST_PASSWORD_FILE")
      else
        err "SIGNPOST_SMARTHOST_PASSWORD_FILE=$SIGNPOST_SMARTHOST_PASSWORD_FILE: no such readable file"
      fi
    else
      SMARTHOST_PASSWORD=${SIGNPOST_SMARTHOST_PASSWORD:-}
    fi
    if [ -n "$SMARTHOST_USER" ] && [ -z "$SMARTHOST_PASSWORD" ]; then
      err "SIGNPOST_SMARTHOST_USER is set but no password: set SIGNPOST_SMARTHOST_PASSWORD or SIGNPOST_SMARTHOST_PASSWORD_FILE"
    elif [ -z "$SMARTHOST_USER" ] && [ -n "$SMARTHOST_PASSWORD" ]; then
      err "a smarthost password is set but SIGNPOST_SMARTHOST_USER is not"
    fi
    [[ $SMARTHOST_USER != *:* ]] || err "SIGNPOST_SMARTHOST_USER may not contain \":\""
    ;;
  *) err "SIGNPOST_DELIVERY_MODE=\"$MODE\": mx, smarthost or capture" ;;
esac
if [ "$MODE" != smarthost ]; then
  for v in SIGNPOST_SMARTHOST SIGNPOST_SMARTHOST_USER SIGNPOST_SMARTHOST_PASSWORD SIGNPOST_SMARTHOST_PASSWORD_FILE; do
    [ -z "${!v:-}" ] || warn "$v is set but SIGNPOST_DELIVERY_MODE is $MODE: ignored"
  done
fi

# TLS towards clients.
TLS_CERT=${SIGNPOST_TLS_CERT:-} TLS_KEY=${SIGNPOST_TLS_KEY:-} SELF_SIGNED=0
if [ -n "$TLS_CERT" ] || [ -n "$TLS_KEY" ]; then
  [ -n "$TLS_CERT" ] || err "SIGNPOST_TLS_KEY is set but SIGNPOST_TLS_CERT is not"
  [ -n "$TLS_KEY" ] || err "SIGNPOST_TLS_CERT is set but SIGNPOST_TLS_KEY is not"
  if [ -n "$TLS_CERT" ]; then TLS_CERT=$(abspath "$TLS_CERT"); [ -r "$TLS_CERT" ] || err "SIGNPOST_TLS_CERT=$TLS_CERT: no such readable file"; fi
  if [ -n "$TLS_KEY" ]; then TLS_KEY=$(abspath "$TLS_KEY"); [ -r "$TLS_KEY" ] || err "SIGNPOST_TLS_KEY=$TLS_KEY: no such readable file (as uid $(id -u))"; fi
else
  SELF_SIGNED=1
  TLS_CERT=$CONFIG_DIR/tls/selfsigned-cert.pem
  TLS_KEY=$CONFIG_DIR/tls/selfsigned-key.pem
fi

# Users: NAME:PASSWORD:SENDERS entries from SIGNPOST_USERS (";" or newline) and SIGNPOST_USERS_FILE (lines).
user_names=() user_passwords=() user_senders=()
add_user_entry() {
  local where=$1 entry name rest password senders
  entry=$(trim "$2")
  [ -n "$entry" ] || return 0
  [[ $entry == \#* ]] && return 0
  if [[ $entry != *:*:* ]]; then
    err "$where: \"${entry%%:*}...\" is not NAME:PASSWORD:SENDERS"
    return 0
  fi
  name=${entry%%:*}; rest=${entry#*:}
  senders=${rest##*:}; password=${rest%:*}
  if ! [[ $name =~ ^[A-Za-z0-9._@+-]{1,64}$ ]]; then err "$where: invalid user name \"$name\" (1 to 64 of A-Z a-z 0-9 . _ @ + -)"; return 0; fi
  [ -n "$password" ] || err "$where: user $name has an empty password"
  [ -n "$senders" ] || err "$where: user $name may send as nobody: list domains or addresses after the last \":\""
  if printf '%s\n' "${user_names[@]:-}" | grep -qxF -- "$name"; then err "$where: user $name is listed twice"; return 0; fi
  user_names+=("$name"); user_passwords+=("$password"); senders=$(tr -d '[:space:]' <<< "$senders")
  user_senders+=("${senders,,}")  # as `signpost users` stores them, so they compare equal
}
if [ -n "${SIGNPOST_USERS:-}" ]; then
  while IFS= read -r entry || [ -n "$entry" ]; do add_user_entry SIGNPOST_USERS "$entry"; done \
    < <(tr ';' '\n' <<< "$SIGNPOST_USERS")
fi
if [ -n "${SIGNPOST_USERS_FILE:-}" ]; then
  if [ -r "$SIGNPOST_USERS_FILE" ]; then
    while IFS= read -r entry || [ -n "$entry" ]; do add_user_entry SIGNPOST_USERS_FILE "$entry"; done < "$SIGNPOST_USERS_FILE"
  else
    err "SIGNPOST_USERS_FILE=$SIGNPOST_USERS_FILE: no such readable file"
  fi
fi

if [ ${#errors[@]} -gt 0 ]; then
  for e in "${errors[@]}"; do printf '%s error: %s\n' "$LOGP" "$e" >&2; done
  die "${#errors[@]} problem(s) in the SIGNPOST_* settings; nothing was changed (see docker/entrypoint.sh or docker/README.md)"
fi

# --- files ---------------------------------------------------------------------------------
# writable_dir DIR MODE: creates DIR (with MODE) when missing, or says whose it is when this
# user cannot write there (a bind mount owned by root, typically).
writable_dir() {
  local dir=$1 mode=$2
  if [ ! -d "$dir" ]; then
    { mkdir -p "$dir" 2> /dev/null && chmod "$mode" "$dir"; } || die "cannot create $dir as uid $(id -u)"
  fi
  if [ ! -w "$dir" ]; then
    die "cannot write to $dir as uid $(id -u) (it belongs to uid $(stat -c %u "$dir")); chown it to $(id -u)"
  fi
}
# put FILE MODE TEXT: TEXT (plus a newline) becomes FILE, replaced only when it differs, so
# an unchanged setting leaves the file (and its mtime) alone. Returns 1 when unchanged.
put() {
  local file=$1 mode=$2 text=$3 tmp
  if [ -f "$file" ] && cmp -s <(printf '%s\n' "$text") "$file"; then
    chmod "$mode" "$file"
    return 1
  fi
  tmp=$(mktemp "$file.XXXXXX") || die "cannot write $file"
  chmod "$mode" "$tmp"
  printf '%s\n' "$text" > "$tmp" || { rm -f "$tmp"; die "cannot write $file"; }
  mv -f "$tmp" "$file" || die "cannot replace $file"
}

writable_dir "$CONFIG_DIR" 0750
writable_dir "$(dirname "$CONFIG")" 0750
writable_dir "$DATA_DIR" 0750
writable_dir "$KEYS_DIR" 0700
writable_dir "$SPOOL_DIR" 0750

if [ "$SELF_SIGNED" = 1 ]; then
  writable_dir "$CONFIG_DIR/tls" 0750
  # Made once, and again only when SIGNPOST_HOSTNAME changes (or the pair is unusable).
  out=$("$SIGNPOST_BIN" init --self-signed --hostname "$HOSTNAME_" --cert "$TLS_CERT" --key "$TLS_KEY" 2>&1) \
    || { printf '%s\n' "$out" >&2; die "could not make a self-signed certificate in $CONFIG_DIR/tls"; }
  if [[ $out == made* ]]; then log "$out"; fi
  warn "******************************************************************************"
  warn "No TLS certificate was given (SIGNPOST_TLS_CERT, SIGNPOST_TLS_KEY): clients are"
  warn "offered the SELF-SIGNED certificate $TLS_CERT."
  warn "Clients must be told to trust it or to skip verification; mount a real certificate."
  warn "******************************************************************************"
fi

CREDENTIALS=$CONFIG_DIR/smarthost-credentials
if [ -n "$SMARTHOST_USER" ]; then
  if put "$CREDENTIALS" 0600 "$SMARTHOST_USER:$SMARTHOST_PASSWORD"; then log "wrote $CREDENTIALS"; fi
elif [ -e "$CREDENTIALS" ]; then
  rm -f "$CREDENTIALS" && log "removed $CREDENTIALS (no smarthost user is set any more)"
fi

USERS_FILE=$CONFIG_DIR/users
[ -e "$USERS_FILE" ] || install -m 0600 /dev/null "$USERS_FILE"

q() { printf '"%s"' "$1"; }
join() { local IFS=,; printf '%s' "$*" | sed 's/,/, /g'; }
render_config() {
  echo "$MARKER"
  echo "# Every key: /usr/share/doc/signpost/signpost.example.toml. To edit by hand, remove the line above."
  echo
  echo "[server]"
  echo "hostname = $(q "$HOSTNAME_")"
  echo "received_client = $RECEIVED_CLIENT"
  if [ "$SUBMISSION_PORT" != off ]; then
    printf '\n[[listener]]\nname = "submission"\naddress = "%s:%s"\ntls = "starttls"\n' "$LISTEN" "$SUBMISSION_PORT"
  fi
  if [ "$SUBMISSIONS_PORT" != off ]; then
    printf '\n[[listener]]\nname = "submissions"\naddress = "%s:%s"\ntls = "implicit"\n' "$LISTEN" "$SUBMISSIONS_PORT"
  fi
  printf '\n[tls]\ncert = %s\nkey = %s\n' "$(q "$TLS_CERT")" "$(q "$TLS_KEY")"
  printf '\n[auth]\nusers_file = %s\n' "$(q "$USERS_FILE")"
  printf '\n[limits]\nmessage_size = %s\n' "$(q "$MESSAGE_SIZE")"
  for d in "${domains[@]}"; do
    printf '\n[[domain]]\nname = %s\nalgorithms = [%s]\nrotate_every = %s\n' "$(q "$d")" "$(join "${algorithms[@]}")" "$(q "$ROTATE_EVERY")"
  done
  printf '\n[keys]\ndir = %s\n' "$(q "$KEYS_DIR")"
  printf '\n[queue]\ndir = %s\n' "$(q "$SPOOL_DIR")"
  printf '\n[delivery]\nmode = %s\n' "$(q "$MODE")"
  if [ "$MODE" = smarthost ]; then
    echo "smarthost = $(q "$SMARTHOST")"
    echo "smarthost_tls = $(q "$SMARTHOST_TLS")"
    [ -z "$SMARTHOST_USER" ] || echo "smarthost_credentials_file = $(q "$CREDENTIALS")"
  fi
  [ "$MODE" != capture ] || echo "capture_dir = $(q "$DATA_DIR/outbox")"
  [ -z "$EXTRA_CA" ] || echo "extra_ca_file = $(q "$EXTRA_CA")"
  [ ${#forwarders[@]} -eq 0 ] || printf '\n[dns]\nforwarders = [%s]\n' "$(join "${forwarders[@]}")"
  [ "$METRICS_PORT" = off ] || printf '\n[metrics]\nlisten = "%s:%s"\n' "$METRICS_ADDRESS" "$METRICS_PORT"
  printf '\n[log]\nlevel = %s\nformat = %s\n' "$(q "$LOG_LEVEL")" "$(q "$LOG_FORMAT")"
}
if put "$CONFIG" 0640 "$(render_config)"; then log "wrote $CONFIG"; fi
[ "$MODE" != capture ] || writable_dir "$DATA_DIR/outbox" 0750
check_config

# Users: added when missing; password and senders updated only when they differ, so a
# restart neither rehashes passwords nor rewrites the users file.
# cli_warnings WHAT OUTPUT: the "warning:" lines of a successful command, for the log.
cli_warnings() { grep '^warning: ' <<< "$2" | sed "s/^warning: /$LOGP WARNING: $1: /" >&2 || true; }
for i in "${!user_names[@]}"; do
  name=${user_names[$i]} password=${user_passwords[$i]} senders=${user_senders[$i]}
  if ! current=$(awk -F: -v n="$name" '$1 == n { print $NF; found = 1 } END { exit !found }' "$USERS_FILE"); then
    out=$(printf '%s\n' "$password" | "$SIGNPOST_BIN" users add "$name" --allow "$senders" --config "$CONFIG" 2>&1) \
      || { printf '%s\n' "$out" >&2; die "could not add user $name"; }
    log "added user $name (may send as $senders)"
    cli_warnings "user $name" "$out"
    continue
  fi
  if ! printf '%s\n' "$password" | "$SIGNPOST_BIN" users check "$name" --config "$CONFIG" > /dev/null 2>&1; then
    out=$(printf '%s\n' "$password" | "$SIGNPOST_BIN" users passwd "$name" --config "$CONFIG" 2>&1) \
      || { printf '%s\n' "$out" >&2; die "could not set the password of user $name"; }
    log "changed the password of user $name"
    cli_warnings "user $name" "$out"
  fi
  if [ "$current" != "$senders" ]; then
    out=$("$SIGNPOST_BIN" users allow "$name" --allow "$senders" --config "$CONFIG" 2>&1) \
      || { printf '%s\n' "$out" >&2; die "could not set the senders of user $name"; }
    log "user $name may now send as $senders"
    cli_warnings "user $name" "$out"
  fi
done
[ -s "$USERS_FILE" ] || warn "no users (SIGNPOST_USERS, SIGNPOST_USERS_FILE): nobody can submit mail yet"

# DKIM: first keys for domains that have none. Later keys come from the daemon's schedule,
# so a restart never generates keys.
for d in "${domains[@]}"; do
  [ -e "$KEYS_DIR/$d/keys.state" ] && continue
  out=$("$SIGNPOST_BIN" keys rotate --domain "$d" --config "$CONFIG" 2>&1) \
    || { printf '%s\n' "$out" >&2; die "could not generate the first DKIM keys of $d"; }
  log "generated the first DKIM keys of $d; they sign once DNS serves their records (below)"
done
print_dns
run_serve
