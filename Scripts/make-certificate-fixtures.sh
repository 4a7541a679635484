#!/usr/bin/env bash
# Writes Tests/Fixtures/certs: certificates signed by the real `ssh-keygen -s` over the committed fixture keys,
# valid and deliberately invalid ones, and what `ssh-keygen -L` prints for each (run with TZ=UTC).
set -euo pipefail
cd "$(dirname "$0")/.."
keys=Tests/Fixtures/keys
out=Tests/Fixtures/certs
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$keys"/{ed25519,rsa3072,ecdsa256,ecdsa384,ecdsa521}{,.pub} "$work/"
chmod 600 "$work"/ed25519 "$work"/rsa3072
sign() { # name, subject key, then ssh-keygen -s arguments
    local name=$1 subject=$2; shift 2
    cp "$work/$subject.pub" "$work/$name.pub"
    ssh-keygen -q "$@" "$work/$name.pub"
    cp "$work/$name-cert.pub" "$out/$name-cert.pub"
    TZ=UTC ssh-keygen -L -f "$out/$name-cert.pub" > "$out/$name.expected-L"
}
sign user ecdsa256 -s "$work/ed25519" -I "alice@example.com" -n alice,deploy -V 20250101:20350101 -z 42 \
    -O force-command="/usr/bin/backup --now" -O source-address=192.0.2.0/24,2001:db8::/32
sign host ecdsa384 -s "$work/rsa3072" -h -I host.example.com -n host.example.com,10.0.0.1
sign expired ecdsa521 -s "$work/ed25519" -I expired -n alice -V 20200101:20210101
sign future ecdsa521 -s "$work/ed25519" -I future -n alice -V 20400101:20500101
sign noprincipals ecdsa256 -s "$work/ed25519" -I anyone
sign restricted ecdsa256 -s "$work/rsa3072" -I restricted -n bob -O clear -O permit-pty -O extension:custom@example.com=data
echo "certificates written to $out"
