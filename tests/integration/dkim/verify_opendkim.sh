#!/usr/bin/env bash
# verify_opendkim.sh -- verify every DKIM-Signature of one or more messages with OpenDKIM's
# test mode (`opendkim -t`), keys from a directory of TXT records instead of DNS.
#
#   bash verify_opendkim.sh [-H] RECORDS_DIR MESSAGE...
#
# RECORDS_DIR holds files named <selector>._domainkey.<domain>.txt with the TXT record text.
# They are written into a TestPublicKeys file ("<selector>._domainkey.<domain> <record>" per
# line) of a config generated in a temp dir; opendkim then never touches DNS.
#
# How results are read: `opendkim -t` prints a one-line summary for ONE signature only (the
# one libopendkim chose), so it is run with -vv, which also prints the Authentication-Results
# field the filter would have inserted ("### INSHEADER: ... hname='Authentication-Results'").
# That field has one "dkim=RESULT ... header.d= header.a= header.s= header.b=" entry per
# signature (RFC 8601 §2.7.1); header.b= is the first 8 characters of b=, which is how each
# entry is matched back to its DKIM-Signature field. A signature without an entry fails with
# whatever opendkim said (its summary line, or stderr when it gave up on the message).
#
# Caveat kept in mind by known-divergences.txt: test mode feeds each header field through
# the milter interface (name, and the value with one leading space removed) and the filter
# rebuilds "name: value" from those parts, so the header as verified is not always the one
# in the file; "simple" header canonicalization (RFC 6376 §3.4.1) then sees other bytes.
#
# Output, one line per DKIM-Signature field in header order (prefixed "MESSAGE: " with -H
# or when there are several messages):
#   pass d=DOMAIN s=SELECTOR a=ALGORITHM
#   fail d=DOMAIN s=SELECTOR a=ALGORITHM (REASON)
# Exit status: 0 only if every message had at least one signature and all passed; 1 if any
# failed; 2 on bad usage or when opendkim is not installed (never a silent skip).
set -uo pipefail

usage() { echo "usage: verify_opendkim.sh [-H] RECORDS_DIR MESSAGE..." >&2; exit 2; }

with_name=0
while [[ $# -gt 0 && $1 == -* ]]; do
  case $1 in
    -H|--with-filename) with_name=1; shift ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[[ $# -ge 2 ]] || usage
records=$1; shift
[[ -d $records ]] || { echo "verify_opendkim: $records: not a directory" >&2; exit 2; }
[[ $# -gt 1 ]] && with_name=1

opendkim=${OPENDKIM:-$(command -v opendkim || echo /usr/sbin/opendkim)}
if [[ ! -x $opendkim ]]; then
  echo "verify_opendkim: opendkim not found (package opendkim); set OPENDKIM=path" >&2
  exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/verify-opendkim.XXXXXX") || exit 2
trap 'rm -rf -- "$tmp"' EXIT

shopt -s nullglob
: >"$tmp/keys"
for rec in "$records"/*._domainkey.*.txt; do
  name=$(basename -- "$rec" .txt)
  name=${name%.}
  # one line per key; a record split over several lines is joined (TXT strings concatenate)
  printf '%s %s\n' "$name" "$(tr -d '\r\n' <"$rec")" >>"$tmp/keys"
done
cat >"$tmp/opendkim.conf" <<EOF
Mode                v
Syslog              no
TestPublicKeys      $tmp/keys
MinimumKeyBits      1024
AuthservID          signpost-test
AlwaysAddARHeader   yes
SoftwareHeader      no
EOF

# Lists the DKIM-Signature fields of a message, one per line: "d<TAB>s<TAB>a<TAB>b" with b=
# stripped of whitespace (header.b= in the A-R field is a prefix of it, RFC 6008 §4).
list_signatures() {
  awk '
    BEGIN { RS = "\n"; field = ""; inhead = 1 }
    function flush(   name, value, n, i, parts, kv, tag, val, d, s, a, b) {
      if (field == "") return
      n = index(field, ":")
      if (n == 0) { field = ""; return }
      name = tolower(substr(field, 1, n - 1)); gsub(/[ \t]+$/, "", name)
      if (name != "dkim-signature") { field = ""; return }
      value = substr(field, n + 1); gsub(/[ \t\r\n]+/, "", value)
      d = "?"; s = "?"; a = "?"; b = "?"
      n = split(value, parts, ";")
      for (i = 1; i <= n; i++) {
        if (index(parts[i], "=") == 0) continue
        tag = substr(parts[i], 1, index(parts[i], "=") - 1)
        val = substr(parts[i], index(parts[i], "=") + 1)
        if (tag == "d" && d == "?") d = val
        else if (tag == "s" && s == "?") s = val
        else if (tag == "a" && a == "?") a = val
        else if (tag == "b" && b == "?") b = val
      }
      printf "%s\t%s\t%s\t%s\n", d, s, a, b
      field = ""
    }
    inhead {
      sub(/\r$/, "")
      if ($0 == "") { flush(); inhead = 0; next }
      if ($0 ~ /^[ \t]/) { field = field $0; next }
      flush(); field = $0
    }
    END { if (inhead) flush() }
  ' "$1"
}

# Parses the -vv output: one line per A-R "dkim=" entry: "d<TAB>s<TAB>b8<TAB>result<TAB>detail".
parse_ar() {
  awk '
    /^### INSHEADER: .*hname=.Authentication-Results./ { grab = 1 }
    grab { ar = ar " " $0; if ($0 ~ /\x27$/ && $0 !~ /hvalue=\x27$/) grab = 0 }
    END {
      n = split(ar, entries, ";")
      for (i = 1; i <= n; i++) {
        e = entries[i]; gsub(/[ \t]+/, " ", e); sub(/^ /, "", e)
        if (e !~ /^dkim=/) continue
        result = substr(e, 6); sub(/ .*/, "", result)
        detail = e; sub(/^dkim=[^ ]* ?/, "", detail); sub(/ ?header\.[a-z]=.*/, "", detail)
        d = "?"; s = "?"; b = "?"
        if (match(e, /header\.d=[^ ]*/)) d = substr(e, RSTART + 9, RLENGTH - 9)
        if (match(e, /header\.s=[^ ]*/)) s = substr(e, RSTART + 9, RLENGTH - 9)
        if (match(e, /header\.b=[^ \x27]*/)) b = substr(e, RSTART + 9, RLENGTH - 9)
        printf "%s\t%s\t%s\t%s\t%s\n", d, s, b, result, detail
      }
    }
  ' "$1"
}

all_ok=1
for msg in "$@"; do
  prefix=""
  [[ $with_name -eq 1 ]] && prefix="$msg: "
  if [[ ! -r $msg ]]; then
    echo "${prefix}fail d=? s=? a=? (cannot read the message)"
    all_ok=0; continue
  fi
  mapfile -t sigs < <(list_signatures "$msg")
  if [[ ${#sigs[@]} -eq 0 ]]; then
    echo "${prefix}fail d=? s=? a=? (no DKIM-Signature header field)"
    all_ok=0; continue
  fi
  # -t takes a comma-separated list of files; give it a name without commas.
  ln -sf -- "$(realpath -- "$msg")" "$tmp/message.eml"
  "$opendkim" -x "$tmp/opendkim.conf" -vv -t "$tmp/message.eml" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  summary=$(grep -m1 -E '^[^ ]*opendkim: .*: (verification|message not signed)' "$tmp/out" \
            | sed -E 's/^[^ ]*opendkim: [^ ]*: //')
  if [[ -z $summary ]]; then
    summary="opendkim exit $rc, no verdict"
    last_err=$(grep -v -E 'returned SMFIS_CONTINUE$' "$tmp/err" | tail -n 2 | tr '\n' ' ')
    [[ -n $last_err ]] && summary+=": ${last_err% }"
  fi
  parse_ar "$tmp/out" >"$tmp/ar"
  for sig in "${sigs[@]}"; do
    IFS=$'\t' read -r d s a b <<<"$sig"
    ids="d=$d s=$s a=$a"
    entry=$(awk -F'\t' -v d="$d" -v s="$s" -v b="$b" \
              'tolower($1) == tolower(d) && $2 == s && length($3) >= 8 && index(b, $3) == 1 { print; exit }' "$tmp/ar")
    if [[ -z $entry ]]; then
      echo "${prefix}fail $ids (no per-signature result from opendkim; $summary)"
      all_ok=0; continue
    fi
    IFS=$'\t' read -r _ _ _ result detail <<<"$entry"
    if [[ $result == pass ]]; then
      echo "${prefix}pass $ids"
    else
      echo "${prefix}fail $ids (dkim=$result${detail:+ $detail})"
      all_ok=0
    fi
  done
done
[[ $all_ok -eq 1 ]]
