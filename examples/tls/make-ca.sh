#!/usr/bin/env bash
# examples/tls/make-ca.sh [DIR] — a throwaway certificate authority and leaf
# certificates for trying and testing Shoal's HTTPS gateway (openssl CLI only).
#
#   examples/tls/make-ca.sh                  # into examples/tls/certs (gitignored)
#   KEY=rsa examples/tls/make-ca.sh /tmp/c   # RSA 2048 keys instead of ECDSA P-256
#
# Writes into DIR (default examples/tls/certs), regenerating everything on each run
# (a new CA too, so certificates of an earlier run no longer verify against it):
#   ca.pem, ca.key            the CA: self-signed, basicConstraints critical CA:TRUE,
#                             keyUsage critical keyCertSign+cRLSign, 10 years
#   shoal.pem, shoal.key      leaf for localhost, shoal.test, *.shoal.test, IP 127.0.0.1
#   api.pem, api.key          leaf for api.test (a second certificate, chosen by SNI)
#   expired.pem, expired.key  leaf for the same names as shoal.pem (and expired.test),
#                             valid 2020-01-01 .. 2020-04-01 only: it expired long ago
# Each leaf .pem holds the leaf certificate ONLY (no CA appended): the CA signs the
# leaves directly, so a client that trusts ca.pem needs nothing else, and sending the
# root in the handshake would only add bytes. For a chain file: cat shoal.pem ca.pem.
# Leaves: basicConstraints CA:FALSE, keyUsage digitalSignature (+keyEncipherment for
# RSA), extendedKeyUsage serverAuth, subject/authority key identifiers, SHA-256, valid
# LEAF_DAYS days (default 365; at most 825, what Apple's and other clients accept).
# No CRL or OCSP URI is written in the leaves (nothing would serve them): testssl 3.0
# rates that HIGH (cert_revocation), see scripts/tls-scan.sh's TLS_SCAN_IGNORE.
# Keys are PEM PKCS#8 ("BEGIN PRIVATE KEY"), mode 600: ECDSA P-256 by default, KEY=rsa
# for RSA 2048.
#
# Check:  openssl verify -CAfile DIR/ca.pem DIR/shoal.pem DIR/api.pem   (expired.pem fails)
#         openssl x509 -noout -text -in DIR/shoal.pem
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${1:-$ROOT/examples/tls/certs}"
KEY="${KEY:-ec}"
LEAF_DAYS="${LEAF_DAYS:-365}"
CA_DAYS="${CA_DAYS:-3650}"

command -v openssl >/dev/null || { echo "make-ca.sh: needs the openssl command" >&2; exit 1; }
if [ "$LEAF_DAYS" -gt 825 ] || [ "$LEAF_DAYS" -lt 1 ]; then
    echo "make-ca.sh: LEAF_DAYS must be 1..825 (longer leaves are refused by modern clients)" >&2
    exit 1
fi
case "$KEY" in
    ec | ecdsa) KEY=ec; KU="digitalSignature" ;;
    rsa) KU="digitalSignature, keyEncipherment" ;;
    *) echo "make-ca.sh: KEY must be ec (default) or rsa, got '$KEY'" >&2; exit 1 ;;
esac

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
WORK="$(mktemp -d "$DIR/.make-ca.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# newkey FILE: a fresh private key, PKCS#8 PEM, readable by its owner only.
newkey() {
    rm -f "$1"
    if [ "$KEY" = rsa ]; then
        (umask 077 && openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1")
    else
        (umask 077 && openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1")
    fi
}

# A random positive 128-bit serial (leading byte 0x10..0x7f keeps it positive).
serial() { echo "0x$(printf '%02x' $((16 + RANDOM % 112)))$(openssl rand -hex 15)"; }

# --- the CA ------------------------------------------------------------------
newkey "$DIR/ca.key"
cat > "$WORK/ca.ext" <<'EXT'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
O = Shoal example CA (not for production)
CN = Shoal example root CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EXT
openssl req -new -x509 -config "$WORK/ca.ext" -key "$DIR/ca.key" -sha256 \
    -days "$CA_DAYS" -set_serial "$(serial)" -out "$DIR/ca.pem"

# leaf_ext FILE SAN: the extensions of a server leaf with these subjectAltNames.
leaf_ext() {
    cat > "$1" <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, $KU
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
subjectAltName = $2
EXT
}

# leaf NAME CN SAN: NAME.key and NAME.pem, signed by the CA, valid LEAF_DAYS from now.
leaf() {
    newkey "$DIR/$1.key"
    openssl req -new -key "$DIR/$1.key" -subj "/O=Shoal example/CN=$2" -out "$WORK/$1.csr"
    leaf_ext "$WORK/$1.ext" "$3"
    openssl x509 -req -in "$WORK/$1.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" \
        -set_serial "$(serial)" -days "$LEAF_DAYS" -sha256 -extfile "$WORK/$1.ext" \
        -out "$DIR/$1.pem" 2>/dev/null
}

SHOAL_SAN="DNS:localhost, DNS:shoal.test, DNS:*.shoal.test, IP:127.0.0.1"
leaf shoal localhost "$SHOAL_SAN"
leaf api api.test "DNS:api.test"

# --- the expired leaf ----------------------------------------------------------
# `openssl x509` of OpenSSL 3.0 cannot set dates in the past (-not_before/-not_after
# came in 3.4), so this one is signed with `openssl ca`, which takes explicit
# -startdate/-enddate, with a throwaway CA database in $WORK. (Its notBefore lies before
# the CA's own: verifiers check each certificate's dates against the current time only,
# so the single error it gives is "certificate has expired".)
newkey "$DIR/expired.key"
openssl req -new -key "$DIR/expired.key" -subj "/O=Shoal example/CN=localhost" -out "$WORK/expired.csr"
leaf_ext "$WORK/expired.ext" "$SHOAL_SAN, DNS:expired.test"
mkdir -p "$WORK/db"
: > "$WORK/db/index.txt"
serial | sed 's/^0x//' > "$WORK/db/serial"
cat > "$WORK/ca.cnf" <<CNF
[ca]
default_ca = example
[example]
database = $WORK/db/index.txt
new_certs_dir = $WORK/db
serial = $WORK/db/serial
default_md = sha256
policy = any
unique_subject = no
[any]
organizationName = optional
commonName = supplied
CNF
openssl ca -batch -config "$WORK/ca.cnf" -cert "$DIR/ca.pem" -keyfile "$DIR/ca.key" \
    -startdate 20200101000000Z -enddate 20200401000000Z \
    -extfile "$WORK/expired.ext" -notext -in "$WORK/expired.csr" -out "$DIR/expired.pem" 2>"$WORK/ca.err" || { cat "$WORK/ca.err" >&2; exit 1; }

# --- report --------------------------------------------------------------------
ALG="ECDSA P-256"; [ "$KEY" != rsa ] || ALG="RSA 2048"
echo "made in $DIR ($ALG keys, PKCS#8 PEM):"
for n in ca shoal api expired; do
    subj="$(openssl x509 -noout -subject -nameopt RFC2253 -in "$DIR/$n.pem" | sed 's/^subject=//')"
    end="$(openssl x509 -noout -enddate -in "$DIR/$n.pem" | sed 's/^notAfter=//')"
    san="$(openssl x509 -noout -ext subjectAltName -in "$DIR/$n.pem" 2>/dev/null | sed -n '2p' | sed 's/^ *//')"
    printf '  %-12s %-12s %s; until %s%s\n' "$n.pem" "$n.key" "$subj" "$end" "${san:+; $san}"
done
openssl verify -CAfile "$DIR/ca.pem" "$DIR/shoal.pem" "$DIR/api.pem" | sed 's/^/  verify: /'
if openssl verify -CAfile "$DIR/ca.pem" "$DIR/expired.pem" >/dev/null 2>&1; then
    echo "make-ca.sh: expired.pem verifies, but it should have expired" >&2
    exit 1
fi
echo "  verify: $DIR/expired.pem: fails as intended (certificate has expired)"
