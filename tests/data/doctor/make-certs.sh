#!/usr/bin/env bash
# tests/data/doctor/make-certs.sh — how the certificate files here were made (run once; the
# outputs are committed, and the unit test never runs this).
#
# The chains `signpost doctor` judges (relay/doctor/host_checks.hpp, check_certificate),
# from the openssl command line of Debian 12 (OpenSSL 3.0). `openssl x509 -req` has no
# -not_before/-not_after there, so every certificate is issued by `openssl ca` with fixed
# -startdate/-enddate: the unit test moves its `now` around these dates.
#
#   root.pem                  "Signpost doctor test root" (2025-01-01 .. 2045-01-01); the
#                             test points SSL_CERT_FILE at it
#   inter.pem                 "Signpost doctor test intermediate", issued by the root
#   leaf.pem                  mail.example.test (2026-01-01 .. 2027-01-05 12:00 UTC) issued by
#                             the intermediate, followed by the intermediate (a full chain)
#   leaf-no-intermediate.pem  the same leaf alone
#   wrong-name.pem            other.example.test (same dates) + the intermediate
#   self-signed.pem           mail.example.test, self-signed (same dates)
#   untrusted-root.pem        mail.example.test issued by "Signpost doctor untrusted root",
#                             followed by that root (which the test does not trust)
# Keys are thrown away: the unit test only reads certificates.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

ca_start=20250101000000Z ca_end=20450101000000Z
leaf_start=20260101000000Z leaf_end=20270105120000Z

cat > "$tmp/ca.cnf" <<CNF
[ ca ]
default_ca = test_ca
[ test_ca ]
database = $tmp/index.txt
serial = $tmp/serial
new_certs_dir = $tmp
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = supplied
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:\$ENV::SAN
CNF
: > "$tmp/index.txt"
echo 1000 > "$tmp/serial"
export SAN=unused

# key + request: $1 name, $2 common name
request() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/$1.key" \
    -subj "/CN=$2" -out "$tmp/$1.csr" 2>/dev/null
}
# issue: $1 name, $2 issuer name ("self" = self-signed), $3 extensions, $4 start, $5 end
issue() {
  if [ "$2" = self ]; then
    signer=(-selfsign -keyfile "$tmp/$1.key")
  else
    signer=(-cert "$tmp/$2.pem" -keyfile "$tmp/$2.key")
  fi
  openssl ca -batch -notext -config "$tmp/ca.cnf" "${signer[@]}" -in "$tmp/$1.csr" \
    -extensions "$3" -startdate "$4" -enddate "$5" -out "$tmp/$1.pem" 2>/dev/null
}

request root "Signpost doctor test root";            issue root self v3_ca $ca_start $ca_end
cp "$tmp/root.pem" root.pem
request inter "Signpost doctor test intermediate";   issue inter root v3_ca $ca_start $ca_end
cp "$tmp/inter.pem" inter.pem
SAN=mail.example.test
request leaf mail.example.test;                      issue leaf inter v3_leaf $leaf_start $leaf_end
SAN=other.example.test
request wrong other.example.test;                    issue wrong inter v3_leaf $leaf_start $leaf_end
SAN=mail.example.test
request self mail.example.test;                      issue self self v3_leaf $leaf_start $leaf_end
request uroot "Signpost doctor untrusted root";      issue uroot self v3_ca $ca_start $ca_end
request uleaf mail.example.test;                     issue uleaf uroot v3_leaf $leaf_start $leaf_end

cat "$tmp/leaf.pem" inter.pem > leaf.pem
cp "$tmp/leaf.pem" leaf-no-intermediate.pem
cat "$tmp/wrong.pem" inter.pem > wrong-name.pem
cp "$tmp/self.pem" self-signed.pem
cat "$tmp/uleaf.pem" "$tmp/uroot.pem" > untrusted-root.pem
