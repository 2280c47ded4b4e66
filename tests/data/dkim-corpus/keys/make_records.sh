#!/usr/bin/env bash
# Derives the DNS TXT records in ../records/ from the committed test keys in this folder.
# RSA:     p= is base64 of the SubjectPublicKeyInfo DER (RFC 6376 §3.6.1).
# Ed25519: p= is base64 of the raw 32-byte public key (RFC 8463 §4.2), i.e. the last 32
#          octets of the SubjectPublicKeyInfo DER.
# Run with --new-keys to generate fresh keys first (the corpus results do not depend on them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
records=$here/../records
domain=example.test

if [[ ${1:-} == --new-keys ]]; then
  (umask 077
   openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$here/rsa2048.pem"
   openssl genpkey -algorithm ED25519 -out "$here/ed25519.pem")
fi

mkdir -p "$records"
rsa_p=$(openssl pkey -in "$here/rsa2048.pem" -pubout -outform DER | base64 -w0)
ed_p=$(openssl pkey -in "$here/ed25519.pem" -pubout -outform DER | tail -c 32 | base64 -w0)
printf 'v=DKIM1; k=rsa; p=%s\n' "$rsa_p" >"$records/rsa2048._domainkey.$domain.txt"
printf 'v=DKIM1; k=ed25519; p=%s\n' "$ed_p" >"$records/ed25519._domainkey.$domain.txt"
echo "wrote $records/rsa2048._domainkey.$domain.txt and $records/ed25519._domainkey.$domain.txt"
