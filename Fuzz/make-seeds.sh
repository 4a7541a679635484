#!/usr/bin/env bash
# Regenerates Fuzz/Seeds/: a few fixture files from Tests/Fixtures/keys, their decoded bodies/blobs (so the
# raw-bytes parsers start from real structure), keys encrypted with passphrase "x" and 1 bcrypt round (the
# passphrase FuzzPrivateKey tries, cheap enough per execution), and hand-made SSHWire inputs.
# Needs ssh-keygen and python3. The seeds are committed; run this only to refresh them.
set -euo pipefail
cd "$(dirname "$0")"
keys=../Tests/Fixtures/keys
rm -rf Seeds
mkdir -p Seeds/FuzzPrivateKey Seeds/FuzzPublicKey Seeds/FuzzSSHWire

body() { sed -e '/^-----/d' "$1" | base64 -d; }     # the bytes inside the armour
blob() { awk '{ print $2 }' "$1" | base64 -d; }      # the key blob of a .pub line

# FuzzPrivateKey: armoured files in every format, and openssh-key-v1 bodies.
for name in ed25519 ecdsa256 ecdsa384-sec1 ecdsa521-pkcs8 rsa2048 rsa2048-pkcs1 rsa2048-pkcs8 rsa2048-pkcs1-enc \
            ed25519-aes256-gcm ecdsa256-enc-rounds4; do
    cp "$keys/$name" "Seeds/FuzzPrivateKey/$name"
done
for name in ed25519 ecdsa256 rsa2048 ecdsa256-enc-rounds4; do
    body "$keys/$name" > "Seeds/FuzzPrivateKey/$name.body"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for cipher in aes256-ctr aes128-cbc aes256-gcm@openssh.com; do
    name="ed25519-x-${cipher%@*}"
    ssh-keygen -q -t ed25519 -a 1 -N x -Z "$cipher" -C "fuzz-$name" -f "$tmp/$name" </dev/null
    cp "$tmp/$name" "Seeds/FuzzPrivateKey/$name"
    body "$tmp/$name" > "Seeds/FuzzPrivateKey/$name.body"
done
ssh-keygen -q -t ecdsa -b 256 -a 1 -N x -C fuzz-ecdsa256-x -f "$tmp/ecdsa256-x" </dev/null
cp "$tmp/ecdsa256-x" Seeds/FuzzPrivateKey/ecdsa256-x
body "$tmp/ecdsa256-x" > Seeds/FuzzPrivateKey/ecdsa256-x.body

# FuzzPublicKey: key lines, key blobs, SSHSIG files, signature blobs, allowed_signers files.
for name in ed25519 ecdsa256 ecdsa521 rsa2048; do
    cp "$keys/$name.pub" "Seeds/FuzzPublicKey/$name.pub"
    blob "$keys/$name.pub" > "Seeds/FuzzPublicKey/$name.blob"
done
for name in ed25519 ecdsa256 rsa3072; do
    cp "$keys/message-$name.txt.sig" "Seeds/FuzzPublicKey/$name.sig"
    body "$keys/message-$name.txt.sig" | python3 -c '
import struct, sys
data = sys.stdin.buffer.read()
at = 6 + 4                                  # "SSHSIG", uint32 version
for _ in range(5):                          # public key, namespace, reserved, hash algorithm, signature
    (length,) = struct.unpack(">I", data[at:at + 4])
    field = data[at:at + 4 + length]
    at += 4 + length
sys.stdout.buffer.write(field[4:])          # the signature blob
' > "Seeds/FuzzPublicKey/$name.sigblob"
done
cp "$keys/allowed_signers" Seeds/FuzzPublicKey/allowed_signers
ed25519=$(awk '{ print $1, $2 }' "$keys/ed25519.pub")
cat > Seeds/FuzzPublicKey/allowed_signers-options <<SIGNERS
# comment
"alice@example.com,*@example.org" namespaces="file,git",valid-after="20240101",valid-before="203001011200Z" $ed25519 alice
!bob*,carol cert-authority $ed25519
dave valid-after="20240101123059" $ed25519
SIGNERS

# FuzzSSHWire: a selector byte (read kind = byte % 12) before each value.
python3 - <<'PY'
import struct
def s(b): return struct.pack(">I", len(b)) + b
seeds = {
    "scalars": bytes([0, 0x41, 1, 1, 2]) + struct.pack(">I", 7) + bytes([3]) + struct.pack(">Q", 1 << 40),
    "strings": bytes([4]) + s(b"abc") + bytes([5]) + s(b"") + bytes([6]) + s("h\u00e9llo".encode()),
    "mpints": bytes([7]) + s(b"\x00\x80") + bytes([8]) + s(b"\x01\x00") + bytes([7]) + s(b"\xff\x7f") + bytes([0x39]) + s(b"\x00\xff\xff") + bytes([0x19]) + s(b"\x01\x02"),
    "namelist": bytes([10]) + s(b"curve25519-sha256,ecdh-sha2-nistp256,ext-info-c") + bytes([10]) + s(b"") + bytes([11]),
}
for name, data in seeds.items():
    open(f"Seeds/FuzzSSHWire/{name}", "wb").write(data)
PY
chmod 644 Seeds/*/*
