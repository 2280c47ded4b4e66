#!/usr/bin/env bash
# run_corpus.sh -- sign every message of tests/data/dkim-corpus with Signpost (or another
# signer) for each algorithm x canonicalization, and check each signature with three
# independent verifiers: dkimpy, Mail::DKIM (RSA only: Debian's has no Ed25519) and
# OpenDKIM's test mode. No network and no DNS: keys come from the corpus records/ folder.
#
#   bash run_corpus.sh [--self-test] [--sign-with CMD] [--only REGEX] [--work-dir DIR] [--keep]
#
# Signer: by default "$SIGNPOST_BIN dkim sign" (ctest sets SIGNPOST_BIN). --sign-with CMD, or
# env SIGNPOST_DKIM_SIGNER=CMD, replaces it with CMD (split on spaces), e.g.
#   --sign-with "/usr/bin/python3 tests/integration/dkim/sign_dkimpy.py"
# Either way the signer is called as
#   SIGNER --domain example.test --selector SEL --key KEYFILE --canon H/B --timestamp 1700000000
# with the message on stdin; it must write the signed message (exactly one new
# DKIM-Signature field in front of the unchanged message) on stdout and exit 0.
#
# Outcome of each (verifier, message, canonicalization, algorithm):
#   passed    the verifier passed the one signature (with the expected d=, s= and a=)
#   diverged  it failed, and known-divergences.txt lists exactly this combination
#   FAILED    it failed and is not listed                               -> exit 1
#   STALE     it passed although known-divergences.txt lists it           -> exit 1
# A verifier that cannot run at all, or a signer failure, is a failure, never a skip.
#
# --self-test proves the verifiers can say "no": it signs one message with each algorithm,
# requires every verifier to pass it, then tampers with the body (one octet) and with a
# signed header field, and requires every verifier to fail both.
#
# Work files go to a mktemp dir that is removed at exit, unless --work-dir or --keep.
set -uo pipefail
shopt -s nullglob
export LC_ALL=C   # stable glob and sort order

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data_dir=${SIGNPOST_TEST_DATA_DIR:-$here/../../data}
corpus=$data_dir/dkim-corpus
records=$corpus/records
divergences_file=$here/known-divergences.txt
PY=/usr/bin/python3   # Debian's python3-dkim imports only here (see PEERS.md)

DOMAIN=example.test
TIMESTAMP=1700000000
ALGS=(rsa-sha256 ed25519-sha256)
CANONS=(relaxed/relaxed simple/simple relaxed/simple simple/relaxed)
VERIFIERS=(dkimpy maildkim opendkim)
declare -A SELECTOR=([rsa-sha256]=rsa2048 [ed25519-sha256]=ed25519)
declare -A KEYNAME=([rsa-sha256]=rsa2048.pem [ed25519-sha256]=ed25519.pem)

self_test=0 only="" work="" keep=0 sign_with=${SIGNPOST_DKIM_SIGNER:-}
usage() {
  sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  exit 2
}
while [[ $# -gt 0 ]]; do
  case $1 in
    --self-test) self_test=1; shift ;;
    --sign-with) [[ $# -ge 2 ]] || usage; sign_with=$2; shift 2 ;;
    --only) [[ $# -ge 2 ]] || usage; only=$2; shift 2 ;;
    --work-dir) [[ $# -ge 2 ]] || usage; work=$2; keep=1; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage ;;
    *) echo "run_corpus: unknown argument: $1" >&2; usage ;;
  esac
done

die() { echo "run_corpus: $*" >&2; exit 1; }

# ---- preflight: every peer must be present (a missing one is a failure) ----------------
[[ -d $corpus ]] || die "corpus not found at $corpus (set SIGNPOST_TEST_DATA_DIR)"
[[ -x $PY ]] || die "$PY not found"
$PY -c 'import dkim, nacl.signing' 2>/dev/null \
  || die "dkimpy/pynacl do not import under $PY (packages python3-dkim, python3-nacl)"
perl -MMail::DKIM::Verifier -MNet::DNS -e 1 2>/dev/null \
  || die "Mail::DKIM or Net::DNS missing (packages libmail-dkim-perl, libnet-dns-perl)"
if [[ -f $corpus/make_corpus.py ]]; then   # the committed .eml files are its exact output
  $PY "$corpus/make_corpus.py" --check || die "corpus files differ from make_corpus.py's output"
fi
opendkim_bin=${OPENDKIM:-$(command -v opendkim || echo /usr/sbin/opendkim)}
[[ -x $opendkim_bin ]] || die "opendkim not found (package opendkim)"
export OPENDKIM=$opendkim_bin

if [[ -n $sign_with ]]; then
  read -r -a signer <<<"$sign_with"
  signer_name="$sign_with"
else
  [[ -n ${SIGNPOST_BIN:-} ]] || die "SIGNPOST_BIN is not set (or use --sign-with CMD)"
  [[ -x $SIGNPOST_BIN ]] || die "SIGNPOST_BIN=$SIGNPOST_BIN is not an executable file"
  signer=("$SIGNPOST_BIN" dkim sign)
  signer_name="$SIGNPOST_BIN dkim sign"
fi

if [[ -z $work ]]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/signpost-dkim-corpus.XXXXXX") || die "mktemp failed"
else
  mkdir -p "$work" || die "cannot create $work"
fi
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if [[ $keep -eq 1 ]]; then echo "work files kept in $work"; else rm -rf -- "$work"; fi
}
trap cleanup EXIT
mkdir -p "$work/keys" "$work/signed" "$work/sign-errors" "$work/out"

# Signpost refuses private keys readable by others (DESIGN.md); git does not keep modes.
for alg in "${ALGS[@]}"; do
  install -m 600 "$corpus/keys/${KEYNAME[$alg]}" "$work/keys/${KEYNAME[$alg]}" \
    || die "cannot copy key ${KEYNAME[$alg]}"
done

jobs_max=$(nproc 2>/dev/null || echo 2)

# sign_one MESSAGE_FILE ALG CANON OUT: 0 if the signer succeeded and wrote something.
sign_one() {
  local msg=$1 alg=$2 canon=$3 out=$4 err rc
  err="$work/sign-errors/$(basename "$out").err"
  "${signer[@]}" --domain "$DOMAIN" --selector "${SELECTOR[$alg]}" \
    --key "$work/keys/${KEYNAME[$alg]}" --canon "$canon" --timestamp "$TIMESTAMP" \
    <"$msg" >"$out" 2>"$err"
  rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "(signer exit status $rc)" >>"$err"
  elif ! strip_signature "$out" | cmp -s - "$msg"; then
    echo "(output is not one DKIM-Signature field followed by the unchanged input message)" >>"$err"
  else
    rm -f -- "$err"
    return 0
  fi
  rm -f -- "$out"
  return 1
}

# strip_signature FILE: FILE minus its first header field if that is a DKIM-Signature
# (name, value and continuation lines); prints nothing and fails otherwise. Byte-exact.
strip_signature() {
  perl -0777 -ne 'exit 1 unless s/\ADKIM-Signature[ \t]*:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*//i; print' "$1"
}

# run_verifier NAME OUTFILE FILES...: runs one verifier over many files, "-H" output.
run_verifier() {
  local name=$1 out=$2; shift 2
  case $name in
    dkimpy)   $PY "$here/verify_dkimpy.py" -H "$records" "$@" ;;
    maildkim) perl "$here/verify_maildkim.pl" -H "$records" "$@" ;;
    opendkim) bash "$here/verify_opendkim.sh" -H "$records" "$@" ;;
  esac >"$out" 2>"$out.stderr"
  echo $? >"$out.rc"
}

# ======================================================================================
if [[ $self_test -eq 1 ]]; then
  msg=$corpus/01-plain-minimal.eml
  bad=0
  say() { printf '%-58s %s\n' "$1" "$2"; }
  for alg in "${ALGS[@]}"; do
    good=$work/signed/good.${alg}.eml
    if ! sign_one "$msg" "$alg" relaxed/relaxed "$good"; then
      say "sign 01-plain-minimal $alg" "FAILED: $(tr '\n' ' ' <"$work/sign-errors/$(basename "$good").err")"
      bad=1; continue
    fi
    # body: flip the case of the first letter after the header section (one octet).
    perl -0777 -pe 's/(\r\n\r\n[^A-Za-z]*)([A-Za-z])/$1 . ($2 ^ " ")/e' "$good" >"$work/signed/body.${alg}.eml"
    # header: change one letter of the (signed) Subject value.
    perl -0777 -pe 's/^(Subject:[^\r\n]*?)([a-z])/$1 . uc($2)/me' "$good" >"$work/signed/header.${alg}.eml"
    for variant in good body header; do
      f=$work/signed/${variant}.${alg}.eml
      if [[ $variant != good ]] && cmp -s "$good" "$f"; then
        say "tamper $variant ($alg)" "FAILED: tampering changed nothing"; bad=1; continue
      fi
      for v in "${VERIFIERS[@]}"; do
        out=$work/out/self.$v.$variant.$alg
        run_verifier "$v" "$out" "$f"
        rc=$(cat "$out.rc")
        line=$(sed -E 's/^[^:]*: //' "$out" | head -n 1)
        label="$v $variant $alg"
        if [[ $rc -eq 2 ]]; then
          say "$label" "FAILED: verifier could not run: $(head -c 300 "$out.stderr")"; bad=1
        elif [[ $v == maildkim && $alg == ed25519-sha256 ]]; then
          # Mail::DKIM cannot check Ed25519; it must say "skip", never "pass".
          if [[ $line == skip* ]]; then say "$label" "ok (skip: no Ed25519)"
          else say "$label" "FAILED: expected skip, got: $line"; bad=1; fi
        elif [[ $variant == good ]]; then
          if [[ $rc -eq 0 && $line == pass* ]]; then say "$label" "ok (pass)"
          else say "$label" "FAILED: untampered message did not pass: $line"; bad=1; fi
        else
          if [[ $rc -ne 0 && $line == fail* ]]; then say "$label" "ok (fail: ${line#fail })"
          else say "$label" "FAILED: tampered message was not rejected: $line"; bad=1; fi
        fi
      done
    done
  done
  # a message without any signature must not count as a pass either
  for v in "${VERIFIERS[@]}"; do
    out=$work/out/self.$v.unsigned
    run_verifier "$v" "$out" "$msg"
    if [[ $(cat "$out.rc") -eq 1 ]]; then say "$v unsigned message" "ok (fail)"
    else say "$v unsigned message" "FAILED: exit $(cat "$out.rc") for a message without a signature"; bad=1; fi
  done
  if [[ $bad -eq 0 ]]; then echo "self-test passed (signer: $signer_name)"; exit 0; fi
  echo "self-test FAILED (signer: $signer_name)"; exit 1
fi

# ======================================================================================
# 1. sign everything (in parallel: the signer may be an interpreter)
messages=()
for f in "$corpus"/*.eml; do messages+=("$(basename "$f" .eml)"); done
[[ ${#messages[@]} -gt 0 ]] || die "no .eml files in $corpus"
if [[ -n $only ]]; then
  mapfile -t messages < <(printf '%s\n' "${messages[@]}" | grep -E -- "$only")
  [[ ${#messages[@]} -gt 0 ]] || die "--only $only matches no message"
fi
canon_tag() { echo "${1/\//-}"; }          # relaxed/simple -> relaxed-simple
start=$SECONDS
echo "signing ${#messages[@]} messages x ${#ALGS[@]} algorithms x ${#CANONS[@]} canonicalizations with: $signer_name"
for m in "${messages[@]}"; do
  for alg in "${ALGS[@]}"; do
    for canon in "${CANONS[@]}"; do
      while [[ $(jobs -rp | wc -l) -ge $jobs_max ]]; do wait -n; done
      sign_one "$corpus/$m.eml" "$alg" "$canon" \
        "$work/signed/$m@$alg@$(canon_tag "$canon").eml" &
    done
  done
done
wait
sign_failures=()
for f in "$work"/sign-errors/*.err; do
  [[ -e $f ]] || continue
  sign_failures+=("$(basename "$f" .eml.err)")
done
echo "signed in $((SECONDS - start)) s; signer failures: ${#sign_failures[@]}"

# 2. verify: each verifier gets all files in one invocation; the three run side by side
start=$SECONDS
all_signed=("$work"/signed/*.eml)
mapfile -t rsa_signed < <(printf '%s\n' "${all_signed[@]}" | grep -F '@rsa-sha256@')
no_files() { : >"$1"; : >"$1.stderr"; echo 0 >"$1.rc"; }   # nothing was signed
if [[ ${#all_signed[@]} -gt 0 ]]; then
  run_verifier dkimpy "$work/out/dkimpy" "${all_signed[@]}" &
  run_verifier opendkim "$work/out/opendkim" "${all_signed[@]}" &
else
  no_files "$work/out/dkimpy"; no_files "$work/out/opendkim"
fi
if [[ ${#rsa_signed[@]} -gt 0 ]]; then
  run_verifier maildkim "$work/out/maildkim" "${rsa_signed[@]}" &
else
  no_files "$work/out/maildkim"
fi
wait
echo "verified in $((SECONDS - start)) s"

# 3. read known divergences: "verifier message canon algorithm: reason"
declare -A listed=() listed_reason=()
declare -A known_msg=() known_canon=() known_alg=() known_ver=()
for m in "${messages[@]}"; do known_msg[$m]=1; done
for c in "${CANONS[@]}"; do known_canon[$c]=1; done
for a in "${ALGS[@]}"; do known_alg[$a]=1; done
for v in "${VERIFIERS[@]}"; do known_ver[$v]=1; done
list_errors=0
all_messages=$(for f in "$corpus"/*.eml; do basename "$f" .eml; done)
if [[ -f $divergences_file ]]; then
  lineno=0
  while IFS= read -r line || [[ -n $line ]]; do
    lineno=$((lineno + 1))
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    if [[ ! $line =~ ^([a-z]+)[[:space:]]+([^[:space:]]+)[[:space:]]+([^[:space:]]+)[[:space:]]+([^[:space:]:]+):[[:space:]]*(.+)$ ]]; then
      echo "known-divergences.txt:$lineno: not 'verifier message canon algorithm: reason'"
      list_errors=1; continue
    fi
    v=${BASH_REMATCH[1]} m=${BASH_REMATCH[2]} c=${BASH_REMATCH[3]} a=${BASH_REMATCH[4]} r=${BASH_REMATCH[5]}
    if [[ -z ${known_ver[$v]:-} ]] || ! grep -qxF -- "$m" <<<"$all_messages" \
       || [[ $c != '*' && -z ${known_canon[$c]:-} ]] || [[ $a != '*' && -z ${known_alg[$a]:-} ]]; then
      echo "known-divergences.txt:$lineno: unknown verifier, message, canonicalization or algorithm: $line"
      list_errors=1; continue
    fi
    [[ -z ${known_msg[$m]:-} ]] && continue   # message filtered out by --only
    for cc in "${CANONS[@]}"; do
      [[ $c == '*' || $c == "$cc" ]] || continue
      for aa in "${ALGS[@]}"; do
        [[ $a == '*' || $a == "$aa" ]] || continue
        [[ $v == maildkim && $aa == ed25519-sha256 ]] && continue   # never run
        listed["$v $m $cc $aa"]=1
        listed_reason["$v $m $cc $aa"]=$r
      done
    done
  done <"$divergences_file"
fi

# 4. collect each verifier's verdict per signed file
declare -A verdict=() detail=() verifier_broken=()
for v in "${VERIFIERS[@]}"; do
  out=$work/out/$v
  rc=$(cat "$out.rc" 2>/dev/null || echo 2)
  if [[ $rc -ne 0 && $rc -ne 1 ]]; then
    echo "verifier $v could not run (exit $rc): $(head -c 500 "$out.stderr")"
    verifier_broken[$v]=1
  fi
  while IFS= read -r line; do
    file=${line%%: *}
    rest=${line#*: }
    key="$v $(basename "$file" .eml)"
    # one signature per signed file: a second line for the same file is itself an error
    if [[ -n ${verdict[$key]:-} ]]; then
      verdict[$key]=fail
      detail[$key]="more than one DKIM-Signature result: ${detail[$key]} | $rest"
    else
      verdict[$key]=${rest%% *}
      detail[$key]=$rest
    fi
  done <"$out"
done

# 5. classify
declare -A n_pass=() n_fail=() n_div=() n_stale=()
failures=() divergences=() stale=()
for m in "${messages[@]}"; do
  for alg in "${ALGS[@]}"; do
    for canon in "${CANONS[@]}"; do
      base="$m@$alg@$(canon_tag "$canon")"
      for v in "${VERIFIERS[@]}"; do
        [[ $v == maildkim && $alg == ed25519-sha256 ]] && continue
        combo="$v $m $canon $alg"
        cell="$v $alg"
        if [[ ! -f $work/signed/$base.eml ]]; then
          result=fail; why="not verified: the signer failed ($(tr '\n' ' ' <"$work/sign-errors/$base.eml.err" | head -c 300))"
        else
          result=${verdict["$v $base"]:-none}
          why=${detail["$v $base"]:-no output from the verifier for this file}
          if [[ $result == pass ]]; then
            expect="d=$DOMAIN s=${SELECTOR[$alg]} a=$alg"
            if [[ $why != "pass $expect" ]]; then
              result=fail; why="passed, but not the expected signature ($expect): $why"
            fi
          elif [[ $result != fail ]]; then
            why="unexpected verdict '$result': $why"; result=fail
          fi
        fi
        if [[ $result == pass && -n ${listed[$combo]:-} ]]; then
          n_stale[$cell]=$(( ${n_stale[$cell]:-0} + 1 ))
          stale+=("$combo: listed as a known divergence but PASSED; remove the entry")
        elif [[ $result == pass ]]; then
          n_pass[$cell]=$(( ${n_pass[$cell]:-0} + 1 ))
        elif [[ -n ${listed[$combo]:-} && -f $work/signed/$base.eml ]]; then
          n_div[$cell]=$(( ${n_div[$cell]:-0} + 1 ))
          divergences+=("$combo: ${listed_reason[$combo]%% (RFC*}")
        else
          n_fail[$cell]=$(( ${n_fail[$cell]:-0} + 1 ))
          failures+=("$combo: $why")
        fi
      done
    done
  done
done

# 6. report
if [[ ${#divergences[@]} -gt 0 ]]; then
  echo
  echo "Expected divergences (listed in known-divergences.txt):"
  printf '  %s\n' "${divergences[@]}"
fi
if [[ ${#stale[@]} -gt 0 ]]; then
  echo
  echo "STALE known-divergence entries:"
  printf '  %s\n' "${stale[@]}"
fi
if [[ ${#failures[@]} -gt 0 ]]; then
  echo
  echo "FAILURES:"
  printf '  %s\n' "${failures[@]}"
fi
echo
printf '%-10s %-16s %8s %8s %9s %7s\n' verifier algorithm passed failed diverged stale
for v in "${VERIFIERS[@]}"; do
  for alg in "${ALGS[@]}"; do
    cell="$v $alg"
    if [[ $v == maildkim && $alg == ed25519-sha256 ]]; then
      printf '%-10s %-16s %8s\n' "$v" "$alg" "(not run: Mail::DKIM $(perl -MMail::DKIM -e 'print $Mail::DKIM::VERSION // "?"') has no Ed25519)"
      continue
    fi
    printf '%-10s %-16s %8d %8d %9d %7d\n' "$v" "$alg" "${n_pass[$cell]:-0}" \
      "${n_fail[$cell]:-0}" "${n_div[$cell]:-0}" "${n_stale[$cell]:-0}"
  done
done
echo "signer: $signer_name; ${#messages[@]} messages; signer failures: ${#sign_failures[@]}"

if [[ ${#failures[@]} -gt 0 || ${#stale[@]} -gt 0 || $list_errors -ne 0 || ${#verifier_broken[@]} -gt 0 ]]; then
  echo "RESULT: FAIL"
  exit 1
fi
echo "RESULT: OK"
exit 0
