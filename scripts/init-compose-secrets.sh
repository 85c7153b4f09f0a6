#!/usr/bin/env bash
# Prepares docker-compose.yml's secrets on the host that will run it:
#   .env                 passwords and the public host name
#   deploy/secrets/      ES256 token keys, a TLS certificate (self-signed
#                        until replaced by the hospital's own) and, in
#                        recording-keys/, the recording key-encryption key
#                        (RSA-3072) and manifest-signing key (RSA-3072);
#                        readable only by the container user (uid 10001)
# Existing files are kept, so re-running never rotates anything by accident.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$HUIZHEN_ROOT"

host=${1:-}
[ -n "$host" ] || die "usage: bash scripts/init-compose-secrets.sh <public IP or DNS name>"
command -v openssl >/dev/null 2>&1 || apt_ensure openssl

secret() { openssl rand -hex 24; }
if [ ! -f .env ]; then
  umask 077
  cat > .env <<ENV
# single: one Huizhen node; cluster: two nodes on Redis behind nginx.
COMPOSE_PROFILES=single
HUIZHEN_PUBLIC_HOST=$host
POSTGRES_PASSWORD=$(secret)
MINIO_ROOT_PASSWORD=$(secret)
REDIS_PASSWORD=$(secret)
TURN_SECRET=$(secret)
ENV
  say "wrote .env"
fi

dir=deploy/secrets
mkdir -p "$dir"
if [ ! -f "$dir/token-signing.key.pem" ]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/token-signing.key.pem"
  openssl pkey -in "$dir/token-signing.key.pem" -pubout -out "$dir/token-signing.pub.pem"
  say "generated the token-signing key pair"
fi
if [ ! -f "$dir/tls.key.pem" ]; then
  san="DNS:localhost"
  if [[ "$host" =~ ^[0-9.]+$ ]]; then san="$san,IP:$host"; else san="$san,DNS:$host"; fi
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$host/O=Huizhen" \
    -addext "subjectAltName=$san" -keyout "$dir/tls.key.pem" -out "$dir/tls.crt.pem" 2>/dev/null
  say "generated a self-signed TLS certificate for $host (replace with the hospital's)"
fi
keys=$dir/recording-keys
mkdir -p "$keys"
chmod 700 "$keys"
if ! ls "$keys"/recording-kek-*.key.pem >/dev/null 2>&1; then
  # The file name carries the key id: the first 16 hex digits of the SHA-256
  # of the public key (DER SubjectPublicKeyInfo), as the server checks.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$keys/new-kek.pem" 2>/dev/null
  id=$(openssl pkey -in "$keys/new-kek.pem" -pubout -outform DER | sha256sum | cut -c1-16)
  mv "$keys/new-kek.pem" "$keys/recording-kek-$id.key.pem"
  say "generated the recording key-encryption key $id (back it up: recordings cannot be opened without it)"
fi
if [ ! -f "$keys/manifest-signing.key.pem" ]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$keys/manifest-signing.key.pem" 2>/dev/null
  say "generated the manifest-signing key"
fi
if [ ! -f "$keys/id-document-hmac.key" ]; then
  # Keys the hashes of practitioners' identity-document numbers.
  openssl rand -hex 32 > "$keys/id-document-hmac.key"
  say "generated the identity-document hash key"
fi
chmod 600 "$dir"/*.pem "$keys"/*.pem "$keys/id-document-hmac.key"
chown 10001 "$dir"/*.pem "$keys" "$keys"/*.pem "$keys/id-document-hmac.key" 2>/dev/null || say "run as root to give the key files to the container user (uid 10001)"
say "ready: docker-compose up -d"
