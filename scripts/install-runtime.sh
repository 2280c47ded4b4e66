#!/usr/bin/env bash
# The runtime half of the Docker image: the shared libraries the `signpost` binary links
# against, CA certificates, the DNSSEC root trust anchor (dns-root-data:
# /usr/share/dns/root.key, for [dns] dnssec = true), the Public Suffix List (publicsuffix,
# read by libpsl for `signpost doctor`), a non-root user and the data
# directories. No openssl or curl:
# `signpost init --self-signed` and `signpost health` do their work.
#   scripts/install-runtime.sh            install (as root, in the image's runtime stage)
#   scripts/install-runtime.sh --check BIN
#                                         check that every library BIN needs belongs to a
#                                         package listed here (run by the test suite, so the
#                                         image cannot miss a library)
set -euo pipefail

RUNTIME_PKGS=(
  ca-certificates dns-root-data libssl3 libbotan-2-19 libunbound8 libevent-2.1-7 libtomlplusplus3
  libprometheus-cpp-core1.0 libspdlog1.10 libfmt9
  libstdc++6 libgcc-s1 libc6 zlib1g libbz2-1.0 liblzma5 libsqlite3-0 libtspi1
  libnettle8 libhogweed6 libgmp10
  libpsl5 libidn2-0 libunistring2 publicsuffix
)

if [ "${1:-}" = "--check" ]; then
  bin=${2:?usage: install-runtime.sh --check BIN}
  status=0
  while read -r lib; do
    pkg=$(dpkg -S "$lib" 2>/dev/null | head -n1 | cut -d: -f1) || true
    if [ -z "$pkg" ]; then
      real=$(readlink -f "$lib")
      pkg=$(dpkg -S "$real" 2>/dev/null | head -n1 | cut -d: -f1) || true
    fi
    if [ -z "$pkg" ]; then
      echo "install-runtime: $lib belongs to no package"; status=1
    # A word match, not `printf | grep -q`: with pipefail, grep -q leaving early makes the
    # pipeline fail (SIGPIPE) now and then.
    elif [[ " ${RUNTIME_PKGS[*]} " != *" $pkg "* ]]; then
      echo "install-runtime: $lib comes from $pkg, which RUNTIME_PKGS does not list"; status=1
    fi
  done < <(ldd "$bin" | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | sort -u)
  [ "$status" -eq 0 ] && echo "install-runtime: every library of $bin is covered"
  exit "$status"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${RUNTIME_PKGS[@]}" >/dev/null
# Downloaded packages and apt's caches are ~80 MB an image layer would keep for nothing
# (the published Debian images clean them by an apt hook; images made otherwise do not).
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
id signpost >/dev/null 2>&1 || useradd --system --home-dir /var/lib/signpost --shell /usr/sbin/nologin signpost
install -d -o signpost -g signpost -m 0750 /etc/signpost /var/lib/signpost /var/spool/signpost
install -d -o signpost -g signpost -m 0700 /var/lib/signpost/keys
