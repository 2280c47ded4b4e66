#!/usr/bin/env bash
# Installs Signpost's dependencies with apt (Debian 12).
#   scripts/install-deps.sh           build and test dependencies (the README's commands)
#   scripts/install-deps.sh --build   build dependencies only: enough to build the binary,
#                                     and the unit tests, in every CMake build type (the
#                                     Docker image's build stage uses this)
# Idempotent: when every package is already installed it returns in about a second
# without touching the network.
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
  libboost1.81-dev libssl-dev libbotan-2-dev
  libunbound-dev libevent-dev nettle-dev   # libunbound.pc requires libevent, nettle and hogweed
  libtomlplusplus-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libcli11-dev libspdlog-dev libfmt-dev
)

# Real peers used by the test suite.
TEST_PKGS=(
  openssl ca-certificates
  python3 python3-dkim python3-nacl python3-dnspython
  python3-aiosmtpd            # tests/integration/lib/smtp_sink.py, the receiving end of delivery tests
  libmail-dkim-perl libcrypt-openssl-rsa-perl
  opendkim opendkim-tools
  swaks
  postfix libsasl2-modules   # the NAS peer; its SASL client needs the PLAIN/LOGIN plugins
  sasl2-bin                   # saslpasswd2: the sasldb for t72's Postfix smarthost (smtpd AUTH)
  unbound dnsutils curl
  prometheus                  # promtool (t05 checks /metrics); the server itself (ops/t92)
  python3-yaml                # ops/t91 parses docker/compose.yml and the Grafana provisioning
  nginx-light                 # tests/integration/mtasts: serves MTA-STS policies over HTTPS
  git                         # tests/docker: builds the image from a clean clone
  docker.io mmdebstrap        # tests/docker: a Docker daemon, and base images made from Debian packages
  docker-compose              # tests/docker: validates docker/compose.yml
  msmtp s-nail golang-go      # tests/integration/interop: the clients NAS boxes, scripts and Go apps use
)

want=("${BUILD_PKGS[@]}")
[ "$mode" = build ] || want+=("${TEST_PKGS[@]}")

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run this script as root" >&2
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

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
