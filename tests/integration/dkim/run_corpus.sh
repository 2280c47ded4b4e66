#!/usr/bin/env bash
# run_corpus.sh -- sign every message of tests/data/dkim-corpus with Signpost (or another
# signer) for each algorithm x canonicalization, and check each signature with four
# verifiers: three independent ones, dkimpy, Mail::DKIM (RSA only: Debian's has no Ed25519)
# and OpenDKIM's test mode, and Signpost's own (`signpost dkim verify --record-dir`, named
# "signpost"), whatever the signer. No network and no DNS: keys come from the corpus
# records/ folder.
#
#   bash run_corpus.sh [--self-test] [--sign-with CMD] [--only REGEX] [--work-dir DIR] [--keep]
#
# Signer: by default "$SIGNPOST_BIN dkim sign" (ctest sets SIGNPOST_BIN). --sign-with CMD, or
# env SIGNPOST_DKIM_SIGNER=CMD, replaces it with CMD (split on spaces), e.g.
#   --sign-with "/usr/bin/python3 tests/integration/dkim/sign_dkimpy.py"
# SIGNPOST_BIN is needed either way: the "signpost" verifier runs it. With dkimpy signing,
# that verifier checks that Signpost accepts what another implementation signs.
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
# --self-test proves the verifiers can say "no", and "yes" after harmless changes: it signs
# 01-plain-minimal with each algorithm in relaxed/relaxed and simple/simple, makes tampered
# copies and requires of every verifier (Mail::DKIM: "skip" for Ed25519):
#   good        untouched                                        pass
#   subject     one letter of the signed Subject changed         fail  signature_mismatch
#   from-added  a second From above the first (From oversigned)  fail  signature_mismatch
#   body        one body octet changed                           fail  body_hash_mismatch
#   b-cut       the last 10 base64 characters of b= removed      fail  signature_mismatch
#                                                                      or syntax_error
#   bh          the first character of bh= changed               fail  body_hash_mismatch
#   x-foo       an X-Foo field (never signed) added              pass
#   sender      a Sender field added (signed only if present)    pass
#   list-id     a List-Id field added (likewise)                 pass
#   unsigned    the message without a signature                  fail (exit 1)
# The reason names (signer/verify.hpp FailReason) are checked for the signpost verifier.
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
VERIFIERS=(dkimpy maildkim opendkim signpost)
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
# Signpost's verifier runs whatever the signer is.
[[ -n ${SIGNPOST_BIN:-} ]] \
  || die "SIGNPOST_BIN is not set (the signpost verifier, and the default signer, run it)"
[[ -x $SIGNPOST_BIN ]] || die "SIGNPOST_BIN=$SIGNPOST_BIN is not an executable file"
export SIGNPOST_BIN

if [[ -n $sign_with ]]; then
  read -r -a signer <<<"$sign_with"
  signer_name="$sign_with"
else
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

canon_tag() { echo "${1/\//-}"; }          # relaxed/simple -> relaxed-simple

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
    signpost) bash "$here/verify_signpost.sh" -H "$records" "$@" ;;
  esac >"$out" 2>"$out.stderr"
  echo $? >"$out.rc"
}

# ======================================================================================
# tamper KIND < SIGNED > TAMPERED: one change of the kinds listed at the top (the header
# comment's table); fails if the message has nothing to change for that kind. The first
# header field must be the DKIM-Signature (sign_one checked it).
tamper() {
  perl -e '
    my $kind = shift;
    local $/;
    my $m = <STDIN>;
    my ($head, $body) = $m =~ /\A(.*?\r\n)\r\n(.*)\z/s
      or die "no empty line after the header section\n";
    my ($sig, $rest) = $head =~ /\A(DKIM-Signature[ \t]*:.*?\r\n)((?![ \t]).*)\z/si
      or die "the first header field is not a DKIM-Signature\n";
    # the last $n base64 characters of a tag value go, folding whitespace stays
    sub cut { my ($v, $n) = (scalar reverse($_[0]), $_[1]);
              $v =~ s{[A-Za-z0-9+/=]}{$n-- > 0 ? "" : $&}ge; scalar reverse $v }
    my $done =
        $kind eq "subject"    ? $rest =~ s/^((?i:Subject)[ \t]*:[^\r\n]*?)([a-z])/$1 . uc($2)/me
      : $kind eq "from-added" ? $rest =~ s/^(?=(?i:From)[ \t]*:)/From: Mallory <mallory\@example.test>\r\n/m
      : $kind eq "body"       ? $body =~ s/([A-Za-z])/$1 ^ " "/e
      : $kind eq "b-cut"      ? $sig =~ s/([;:]\s*b\s*=)([^;]*)/$1 . cut($2, 10)/e
      : $kind eq "bh"         ? $sig =~ s{([;:]\s*bh\s*=\s*)([A-Za-z0-9+/])}{$1 . ($2 eq "A" ? "B" : "A")}e
      : $kind eq "x-foo"      ? ($rest .= "X-Foo: added after signing\r\n")
      : $kind eq "sender"     ? ($rest .= "Sender: <list-bounces\@example.test>\r\n")
      : $kind eq "list-id"    ? ($rest .= "List-Id: A test list <list.example.test>\r\n")
      : die "unknown tampering \"$kind\"\n";
    $done or die "tampering \"$kind\" found nothing to change\n";
    print $sig, $rest, "\r\n", $body;
  ' "$1"
}

if [[ $self_test -eq 1 ]]; then
  msg=$corpus/01-plain-minimal.eml
  SELF_CANONS=(relaxed/relaxed simple/simple)
  VARIANTS=(good subject from-added body b-cut bh x-foo sender list-id)
  # expected verdict of every verifier, and the reason signpost must give (an ERE)
  declare -A EXPECT=([good]=pass [subject]=fail [from-added]=fail [body]=fail [b-cut]=fail
                     [bh]=fail [x-foo]=pass [sender]=pass [list-id]=pass [unsigned]=fail)
  declare -A REASON=([subject]=signature_mismatch [from-added]=signature_mismatch
                     [body]=body_hash_mismatch [b-cut]='signature_mismatch|syntax_error'
                     [bh]=body_hash_mismatch)
  problems=() files=() rows=()
  for alg in "${ALGS[@]}"; do
    for canon in "${SELF_CANONS[@]}"; do
      tag="$alg@$(canon_tag "$canon")"
      good=$work/signed/good@$tag.eml
      if ! sign_one "$msg" "$alg" "$canon" "$good"; then
        problems+=("sign 01-plain-minimal $alg $canon: $(tr '\n' ' ' <"$work/sign-errors/$(basename "$good").err")")
        continue
      fi
      for variant in "${VARIANTS[@]}"; do
        f=$work/signed/$variant@$tag.eml
        if [[ $variant != good ]]; then
          if ! tamper "$variant" <"$good" >"$f" 2>"$f.err"; then
            problems+=("tamper $variant ($alg $canon): $(cat "$f.err")"); continue
          elif cmp -s "$good" "$f"; then
            problems+=("tamper $variant ($alg $canon): tampering changed nothing"); continue
          fi
        fi
        files+=("$f"); rows+=("$variant $alg $canon")
      done
    done
  done
  files+=("$msg"); rows+=("unsigned - -")

  for v in "${VERIFIERS[@]}"; do run_verifier "$v" "$work/out/self.$v" "${files[@]}" & done
  wait
  declare -A line_of=() lines_of=()
  for v in "${VERIFIERS[@]}"; do
    out=$work/out/self.$v
    rc=$(cat "$out.rc")
    if [[ $rc -ne 0 && $rc -ne 1 ]]; then
      problems+=("$v could not run (exit $rc): $(head -c 300 "$out.stderr")")
    fi
    while IFS= read -r line; do
      file=${line%%: *}
      lines_of["$v $file"]=$(( ${lines_of["$v $file"]:-0} + 1 ))
      line_of["$v $file"]=${line#*: }
    done <"$out"
  done

  printf '\n%-10s %-14s %-15s %-8s %-8s %-8s %s\n' tampering algorithm canon \
    dkimpy maildkim opendkim signpost
  for i in "${!files[@]}"; do
    f=${files[$i]}
    read -r variant alg canon <<<"${rows[$i]}"
    want=${EXPECT[$variant]}
    row=()
    for v in "${VERIFIERS[@]}"; do
      got=${line_of["$v $f"]:-}
      verdict=${got%% *}
      shown=$verdict
      if [[ -z $got ]]; then
        problems+=("$v ${rows[$i]}: no output for this message"); shown="none!"
      elif [[ ${lines_of["$v $f"]} -ne 1 ]]; then
        problems+=("$v ${rows[$i]}: ${lines_of["$v $f"]} result lines for one signature"); shown="$verdict!"
      elif [[ $v == maildkim && $alg == ed25519-sha256 ]]; then
        # Mail::DKIM cannot check Ed25519; it must say "skip", never "pass" or "fail"
        [[ $verdict == skip ]] || { problems+=("$v ${rows[$i]}: expected skip, got: $got"); shown="$verdict!"; }
      elif [[ $verdict != "$want" ]]; then
        problems+=("$v ${rows[$i]}: expected $want, got: $got"); shown="$verdict!"
      elif [[ $want == pass && $got != "pass d=$DOMAIN s=${SELECTOR[$alg]} a=$alg" ]]; then
        problems+=("$v ${rows[$i]}: passed, but not the expected signature: $got"); shown="pass!"
      elif [[ $v == signpost && -n ${REASON[$variant]:-} ]]; then
        reason=$(grep -oE 'reason=[a-z_]+' <<<"$got" | head -n 1)
        reason=${reason#reason=}
        shown="fail:${reason:-?}"
        if [[ ! $reason =~ ^(${REASON[$variant]})$ ]]; then
          problems+=("$v ${rows[$i]}: expected reason ${REASON[$variant]}, got: $got"); shown+="!"
        fi
      fi
      row+=("$shown")
    done
    printf '%-10s %-14s %-15s %-8s %-8s %-8s %s\n' "$variant" "$alg" "$canon" "${row[@]}"
  done
  echo "(expected: good, x-foo, sender, list-id pass; the rest fail; '!' marks a wrong verdict)"
  if [[ ${#problems[@]} -gt 0 ]]; then
    echo
    echo "FAILURES:"
    printf '  %s\n' "${problems[@]}"
    echo "self-test FAILED (signer: $signer_name)"; exit 1
  fi
  echo "self-test passed (signer: $signer_name)"; exit 0
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

# 2. verify: each verifier gets all files in one invocation; the four run side by side
start=$SECONDS
all_signed=("$work"/signed/*.eml)
mapfile -t rsa_signed < <(printf '%s\n' "${all_signed[@]}" | grep -F '@rsa-sha256@')
no_files() { : >"$1"; : >"$1.stderr"; echo 0 >"$1.rc"; }   # nothing was signed
if [[ ${#all_signed[@]} -gt 0 ]]; then
  run_verifier dkimpy "$work/out/dkimpy" "${all_signed[@]}" &
  run_verifier opendkim "$work/out/opendkim" "${all_signed[@]}" &
  run_verifier signpost "$work/out/signpost" "${all_signed[@]}" &
else
  no_files "$work/out/dkimpy"; no_files "$work/out/opendkim"; no_files "$work/out/signpost"
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
