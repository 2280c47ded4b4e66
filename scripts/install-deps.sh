#!/usr/bin/env bash
# Installs Signpost's dependencies with apt (Debian 12).
#   scripts/install-deps.sh           build and test dependencies (the README's commands)
#   scripts/install-deps.sh --build   build dependencies only: enough to build the binary,
#                                     and the unit tests, in every CMake build type (the
#                                     Docker image's build stage uses this)
# Idempotent: when everything is already installed it returns in about a second
# without touching the network.
#
# Besides Debian packages, the full install sets up two test-only peers that cannot be
# installed as packages beside the others:
#   - Exim 4 (tests/integration/interop): exim4 conflicts with the postfix package, so its
#     .debs are fetched with `apt-get download` and unpacked into $EXIM_ROOT (dpkg -x; no
#     maintainer scripts, no system service), with the Debian-exim system user it runs as;
#   - nodemailer, from the npm registry, pinned by tests/integration/interop/node's
#     package-lock.json (`npm ci` into that directory's node_modules).
#
# Package installs on Debian run the packages' init scripts; a test peer such as
# postfix, nginx or unbound would otherwise start a system daemon on :25, :80 or :53.
# A policy-rc.d that answers 101 ("action forbidden") is put in place for the
# duration of the install and removed afterwards if this script created it.
set -euo pipefail

mode=all
case "${1:-}" in
  "" | --all) ;;
  --build) mode=build ;;
  *) echo "usage: install-deps.sh [--build | --all]" >&2; exit 2 ;;
esac

BUILD_PKGS=(
  build-essential cmake pkg-config ninja-build
  libboost1.81-dev libssl-dev zlib1g-dev libbotan-2-dev
  libunbound-dev libevent-dev nettle-dev   # libunbound.pc requires libevent, nettle and hogweed
  libpsl-dev publicsuffix     # signpost doctor: organizational domains (DMARC, RFC 7489 §3.2)
  libtomlplusplus-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libcli11-dev libspdlog-dev libfmt-dev
)

# Real peers used by the test suite.
TEST_PKGS=(
  openssl ca-certificates dns-root-data
  python3 python3-dkim python3-nacl python3-dnspython
  python3-aiosmtpd            # tests/integration/lib/smtp_sink.py, the receiving end of delivery tests
  python3-spf                 # tests/integration/doctor: pyspf, the reference SPF evaluation
  libmail-dkim-perl libcrypt-openssl-rsa-perl
  opendkim opendkim-tools
  swaks
  postfix libsasl2-modules   # the NAS peer; its SASL client needs the PLAIN/LOGIN plugins
  sasl2-bin                   # saslpasswd2: the sasldb for t72's Postfix smarthost (smtpd AUTH)
  unbound dnsutils curl
  nsd ldnsutils               # tests/integration/dnssec.sh: the signed test zones (NSD, ldns-signzone)
  faketime                    # tests/soak: libfaketime steps Signpost's realtime clock (LD_PRELOAD)
  prometheus                  # promtool (t05 checks /metrics); the server itself (ops/t92)
  python3-yaml                # ops/t91 parses docker/compose.yml and the Grafana provisioning
  nginx-light                 # tests/integration/mtasts: serves MTA-STS policies over HTTPS
  git                         # tests/docker: builds the image from a clean clone
  docker.io mmdebstrap        # tests/docker: a Docker daemon, and base images made from Debian packages
  docker-compose              # tests/docker: validates docker/compose.yml
  clang libclang-rt-14-dev    # tests/fuzz: libFuzzer (and its sanitizer runtimes) for the fuzz-for-time step
  msmtp s-nail golang-go      # tests/integration/interop: the clients NAS boxes, scripts and Go apps use
  nodejs                      # tests/integration/interop: nodemailer (npm: below, when npm is missing)
  # The shared libraries of the unpacked Exim (exim4-daemon-light's Depends; they do not
  # conflict with postfix, only the exim4 packages do).
  libgnutls-dane0 libgnutls30 libidn12 libidn2-0 libnsl2 libdb5.3 libpcre2-8-0 libcrypt1
)
EXIM_ROOT=/opt/signpost-peers/exim4
EXIM_DEBS=(exim4-base exim4-config exim4-daemon-light)
NODE_DIR=$(cd "$(dirname "$0")/.." && pwd)/tests/integration/interop/node

want=("${BUILD_PKGS[@]}")
if [ "$mode" = all ]; then
  want+=("${TEST_PKGS[@]}")
  # A Node.js that brings its own npm (NodeSource's) must not get Debian's npm beside it.
  command -v npm > /dev/null || want+=(npm)
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

exim_ready() { [ -x "$EXIM_ROOT/usr/sbin/exim4" ] && getent passwd Debian-exim > /dev/null; }
nodemailer_ready() {
  local want have
  want=$(sed -n '/"node_modules\/nodemailer"/,/}/s/.*"version": "\([^"]*\)".*/\1/p' "$NODE_DIR/package-lock.json")
  have=$(sed -n 's/^ *"version": "\([^"]*\)".*/\1/p' "$NODE_DIR/node_modules/nodemailer/package.json" 2> /dev/null || true)
  [ -n "$want" ] && [ "$want" = "$have" ]
}

if [ "${#missing[@]}" -eq 0 ] && { [ "$mode" = build ] || { exim_ready && nodemailer_ready; }; }; then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}) or test peers; run this script as root" >&2
  exit 1
fi

created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  created_policy=1
fi
cleanup() { if [ "$created_policy" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
updated=0
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  apt-get update -qq
  updated=1
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$mode" = all ] && ! exim_ready; then
  echo "install-deps: unpacking Exim (${EXIM_DEBS[*]}) into $EXIM_ROOT"
  [ "$updated" = 1 ] || apt-get update -qq
  debs=$(mktemp -d)
  chmod 755 "$debs"   # apt's download runs as _apt
  (cd "$debs" && apt-get download -qq "${EXIM_DEBS[@]}" 2> /dev/null)
  rm -rf "$EXIM_ROOT"
  mkdir -p "$EXIM_ROOT"
  for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$EXIM_ROOT"; done
  rm -rf "$debs"
  getent passwd Debian-exim > /dev/null \
    || useradd --system --user-group --home-dir /var/spool/exim4 --no-create-home --shell /usr/sbin/nologin Debian-exim
  exim_ready || { echo "install-deps: Exim did not unpack into $EXIM_ROOT" >&2; exit 1; }
fi

if [ "$mode" = all ] && ! nodemailer_ready; then
  echo "install-deps: npm ci in $NODE_DIR (nodemailer)"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error > /dev/null)
  nodemailer_ready || { echo "install-deps: nodemailer is not in $NODE_DIR/node_modules" >&2; exit 1; }
fi
echo "install-deps: done"
