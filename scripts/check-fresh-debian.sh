#!/usr/bin/env bash
# Checks the README's promise "on a fresh Debian 12 machine, as root, from a clone":
# in a new minimal Debian 12 container (debian:12, made from Debian's packages when absent,
# scripts/lib/docker-local.sh) holding only a clean clone of this checkout's HEAD, it runs
#   1. ./scripts/dev.sh  until Signpost is ready, submits the README's swaks message and
#      finds it signed in .dev/outbox/, then stops it with SIGTERM (exit 0 expected);
#   2. every CMake build type not built by test.sh with GCC (RelWithDebInfo at its stock -O2,
#      MinSizeRel, Debug) with warnings as errors;
#   3. ./scripts/test.sh, the whole suite, with SIGNPOST_DOCKER_BUILDKIT=1 (the Docker test
#      also builds the image with BuildKit), and prints its closing ctest summary.
# The container shares the host's network (loopback included) and the host's Docker daemon
# (its socket), has an init process (--init) that reaps what the steps leave behind, so the suite's Docker test builds and runs the image there; it gets
# CAP_SYS_ADMIN for the suite's tmpfs test. Takes 40-60 minutes on 2 cores; not part of
# every CI run: run it before a release and whenever scripts/install-deps.sh changes.
#   scripts/check-fresh-debian.sh [--keep] [--deps-only]
#     --keep: leave the container for a look
#     --deps-only: only scripts/install-deps.sh, run twice (the second must install nothing),
#                  then what it sets up besides packages (Exim, nodemailer, clang's libFuzzer)
#                  is checked: a few minutes, for changes to install-deps.sh
# npm in the container trusts the host's CA bundle too (npm_config_cafile): the registry may
# be reached through a TLS-intercepting proxy whose CA only the host knows.
# Output: progress here, the full logs in the printed work directory. Exit 0 when all passed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
keep=0 deps_only=0
for a in "$@"; do
  case $a in
    --keep) keep=1 ;;
    --deps-only) deps_only=1 ;;
    *) echo "usage: check-fresh-debian.sh [--keep] [--deps-only]" >&2; exit 2 ;;
  esac
done
source scripts/lib/docker-local.sh

work=$(mktemp -d /tmp/signpost-fresh.XXXXXX)
name=signpost-fresh-$$
docker_local_init
cleanup() {
  if [ "$keep" = 0 ]; then "$DOCKER" rm -f "$name" > /dev/null 2>&1 || true; else echo "container kept: $name"; fi
  docker_stop_daemon
}
trap cleanup EXIT
echo "fresh-debian: logs in $work"

docker_ensure_daemon "$work"
docker_ensure_base_images
git clone -q --no-hardlinks "$repo" "$work/signpost"
echo "fresh-debian: clean clone of $(git -C "$work/signpost" log -1 --format='%h %s')"

"$DOCKER" run -d --init --name "$name" --network host --cap-add SYS_ADMIN \
  -v /var/run/docker.sock:/var/run/docker.sock -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/host-ca.crt:ro \
  -e npm_config_cafile=/etc/ssl/host-ca.crt debian:12 sleep infinity > /dev/null
"$DOCKER" cp "$work/signpost" "$name:/root/signpost"
in_box() { "$DOCKER" exec -w /root/signpost "$name" bash -c "$1"; }

if [ "$deps_only" = 1 ]; then
  start=$(date +%s)
  in_box './scripts/install-deps.sh > /root/deps.log 2>&1' \
    || { "$DOCKER" cp "$name:/root/deps.log" "$work/"; tail -n 40 "$work/deps.log"; echo "fresh-debian: FAIL: install-deps.sh"; exit 1; }
  echo "fresh-debian: install-deps.sh in $(($(date +%s) - start))s"
  in_box './scripts/install-deps.sh' > "$work/deps-again.log" 2>&1 || true
  grep -q 'all .* packages present' "$work/deps-again.log" \
    || { cat "$work/deps-again.log"; echo "fresh-debian: FAIL: a second install-deps.sh still had work to do"; exit 1; }
  in_box 'mkdir -p /tmp/exim-spool && chown Debian-exim: /tmp/exim-spool &&
          printf "spool_directory = /tmp/exim-spool\nlog_file_path = /tmp/exim-%%slog\n" > /tmp/exim.conf &&
          /opt/signpost-peers/exim4/usr/sbin/exim4 -C /tmp/exim.conf -bV > /tmp/exim-bV.txt 2>&1 &&
          grep "^Exim version" /tmp/exim-bV.txt &&
          node -e "require(\"./tests/integration/interop/node/node_modules/nodemailer\"); console.log(\"nodemailer loads on node\", process.version)" &&
          printf "int LLVMFuzzerTestOneInput(const char*d,long n){return 0;}" > /tmp/f.c &&
          clang -fsanitize=fuzzer,address,undefined /tmp/f.c -o /tmp/f && /tmp/f -runs=10 2>&1 | tail -n 1' \
    > "$work/deps-check.log" 2>&1 || { cat "$work/deps-check.log"; echo "fresh-debian: FAIL: a test peer is not usable"; exit 1; }
  cat "$work/deps-check.log"
  echo "fresh-debian: dependencies ok"
  exit 0
fi

# 1. The development command: runs in the foreground, so in the background here.
start=$(date +%s)
in_box './scripts/dev.sh > /root/dev.log 2>&1 & echo $! > /root/dev.pid'
ready=0
for ((i = 0; i < 3600; i++)); do
  if in_box 'grep -qE "\] ready$" /root/dev.log' 2> /dev/null; then ready=1; break; fi
  if ! in_box 'kill -0 "$(cat /root/dev.pid)"' 2> /dev/null; then break; fi
  sleep 1
done
"$DOCKER" cp "$name:/root/dev.log" "$work/dev.log"
[ "$ready" = 1 ] || { tail -n 40 "$work/dev.log"; echo "fresh-debian: FAIL: scripts/dev.sh did not start Signpost"; exit 1; }
echo "fresh-debian: scripts/dev.sh installed, built and started Signpost in $(($(date +%s) - start))s"
in_box 'swaks --server 127.0.0.1:2587 --tls --auth PLAIN --auth-user dev --auth-password "$(cat .dev/dev-password)" \
          --from you@example.test --to someone@example.org --header "Subject: hello" > /root/swaks.log 2>&1' \
  || { "$DOCKER" cp "$name:/root/swaks.log" "$work/"; cat "$work/swaks.log"; echo "fresh-debian: FAIL: the README's swaks submission"; exit 1; }
for ((i = 0; i < 100; i++)); do
  in_box 'ls .dev/outbox/*.eml > /dev/null 2>&1' && break
  sleep 0.1
done
in_box 'grep -q "^DKIM-Signature:" .dev/outbox/*.eml' || { echo "fresh-debian: FAIL: no signed message in .dev/outbox"; exit 1; }
in_box 'kill -TERM "$(cat /root/dev.pid)"; for i in $(seq 100); do kill -0 "$(cat /root/dev.pid)" 2>/dev/null || exit 0; sleep 0.1; done; exit 1' \
  || { echo "fresh-debian: FAIL: Signpost did not stop on SIGTERM"; exit 1; }
echo "fresh-debian: the README's message was accepted and written signed to .dev/outbox; SIGTERM stopped it"

# 2. The build types test.sh does not build, warnings as errors.
for type in RelWithDebInfo MinSizeRel Debug; do
  start=$(date +%s)
  in_box "./scripts/build.sh /root/build-$type -DCMAKE_BUILD_TYPE=$type -DSIGNPOST_WERROR=ON > /root/build-$type.log 2>&1" \
    || { "$DOCKER" cp "$name:/root/build-$type.log" "$work/"; grep -m5 -B5 'error' "$work/build-$type.log"; echo "fresh-debian: FAIL: $type build"; exit 1; }
  echo "fresh-debian: $type build with -Werror: ok ($(($(date +%s) - start))s)"
done

# 3. The test command.
start=$(date +%s)
rc=0
in_box 'SIGNPOST_DOCKER_BUILDKIT=1 ./scripts/test.sh > /root/test.log 2>&1' || rc=$?
"$DOCKER" cp "$name:/root/test.log" "$work/test.log"
echo "fresh-debian: scripts/test.sh exited $rc after $(($(date +%s) - start))s; its summary:"
# From the last ctest summary line to the end (no pipe: under pipefail a reader that
# stops early would fail the script).
awk '/tests passed|tests failed/ { out = "" } { out = out $0 "\n" } END { printf "%s", out }' "$work/test.log"
exit "$rc"
