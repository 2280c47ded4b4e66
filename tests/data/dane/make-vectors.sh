#!/usr/bin/env bash
# tests/data/dane/make-vectors.sh — how the DANE vectors here were made (run once; the
# outputs are committed, and the unit test never runs this).
#
# A chain as a DANE-TA publisher has it: root CA -> intermediate CA -> leaf for
# mx.dane.test, all from the openssl command line (OpenSSL 3.0, Debian 12), and TLSA
# records for each certificate in every selector/matching-type combination, computed by the
# openssl and sha256sum/sha512sum commands (RFC 6698 §2.1.2: selector 0 hashes the DER
# certificate, selector 1 its DER SubjectPublicKeyInfo), independently of relay/dane.
# Output: root.pem inter.pem leaf.pem (and .der), other.pem (an unrelated certificate for
# mx.dane.test, self-signed), tlsa.txt: "<cert> <selector> <matching> <hex>" lines.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
days=7300  # 20 years: the unit test checks validity at a fixed time inside this window
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/root.key" -subj "/CN=DANE test root" \
  -days $days -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign -out root.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/inter.key" -subj "/CN=DANE test intermediate" \
  -out "$tmp/inter.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n' > "$tmp/inter.ext"
openssl x509 -req -in "$tmp/inter.csr" -CA root.pem -CAkey "$tmp/root.key" -CAcreateserial -days $days \
  -extfile "$tmp/inter.ext" -out inter.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/leaf.key" -subj "/CN=mx.dane.test" \
  -out "$tmp/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:mx.dane.test\nextendedKeyUsage=serverAuth\n' > "$tmp/leaf.ext"
openssl x509 -req -in "$tmp/leaf.csr" -CA inter.pem -CAkey "$tmp/inter.key" -CAcreateserial -days $days \
  -extfile "$tmp/leaf.ext" -out leaf.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/other.key" -subj "/CN=mx.dane.test" \
  -days $days -addext subjectAltName=DNS:mx.dane.test -out other.pem 2>/dev/null
rm -f ./*.srl
: > tlsa.txt
for c in root inter leaf other; do
  openssl x509 -in $c.pem -outform DER -out $c.der
  openssl x509 -in $c.pem -noout -pubkey | openssl pkey -pubin -outform DER -out "$tmp/$c.spki"
  for sel in 0 1; do
    if [ $sel = 0 ]; then f=$c.der; else f=$tmp/$c.spki; fi
    echo "$c $sel 0 $(od -An -v -tx1 "$f" | tr -d ' \n')" >> tlsa.txt
    echo "$c $sel 1 $(sha256sum "$f" | cut -d' ' -f1)" >> tlsa.txt
    echo "$c $sel 2 $(sha512sum "$f" | cut -d' ' -f1)" >> tlsa.txt
  done
done
