#!/usr/bin/env bash
# Writes Tests/Fixtures/known_hosts from the committed fixture keys: a plain file covering every syntax
# (names, lists, [host]:port, patterns, negation, markers, comments, a broken line), and the same file
# hashed by the real `ssh-keygen -H`. Tests read both and compare our -F/-R/-H with ssh-keygen's.
set -euo pipefail
cd "$(dirname "$0")/.."
keys=Tests/Fixtures/keys
out=Tests/Fixtures/known_hosts
mkdir -p "$out"
key() { cut -d' ' -f1,2 "$keys/$1.pub"; }
cat > "$out/plain" <<LINES
# known_hosts fixture (Scripts/make-known-hosts-fixtures.sh)
server.example.com,192.0.2.10 $(key ed25519)
server.example.com $(key ecdsa256) ecdsa key with a comment
[server.example.com]:2222 $(key rsa2048)
*.internal.example,!bastion.internal.example $(key ecdsa384)
Mixed.Case.Example $(key ecdsa521)

@cert-authority *.example.com $(key ed25519-enc)
@revoked * $(key rsa3072)
bastion.internal.example $(key rsa4096)
broken.example.com ssh-ed25519 AAAAnot-base64!!
dss.example.com ssh-dss AAAAB3NzaC1kc3MAAACBAP1/U4EddRIpUt9KnC7s5Of2EbdSPO9EAMMeP4C2USZpRV1AIlH7WT2NWPq/xfW6MPbLm1Vs14E7gB00b/JmYLdrmVClpJ+f6AR7ECLCT7up1/63xhv4O1fnxqimFQ8E+4P208UewwI1VBNaFpEy9nXzrith1yrv8iIDGZ3RSAHHAAAAFQCXYFCPFSMLzLKSuYKi64QL8Fgc9QAAAIEA9+GghdabPd7LvKtcNrhXuXmUr7v6OuqC+VdMCz0HgmdRWVeOutRZT+ZxBxCBgLRJFnEj6EwoFhO3zwkyjMim4TwWeotUfI0o4KOuHiuzpnWRbqN/C/ohNWLx+2J6ASQ7zKTxvqhRkImog9/hWuWfBpKLZl6Ae1UlZAFMO/7PSSoAAACBAPDRQi0M9D09WSr7PYRkhOLPpk1KG3k1u9tnm2EmDZVEMPrvL3UrYKCJr0nTJkFQ1KybxufTiytCP0ADvqtOhytQ2FEwQOXX2vABWf4R2CgbzLeqVy5ni7tehmNHn3EY+QFzLnUfTnEbm3VamSiPKPHx6ye9ASIzefyiZcUdrTFl
truncated.example.com ssh-ed25519
LINES
# valid: only lines we can use; unusable: plus lines ssh-keygen edits but we cannot use (damaged blob, ssh-dss).
grep -v -e '^broken' -e '^dss' -e '^truncated' "$out/plain" > "$out/valid"
grep -v '^truncated' "$out/plain" > "$out/unusable"
cp "$out/valid" "$out/hashed"
ssh-keygen -q -H -f "$out/hashed" >/dev/null 2>&1
rm -f "$out/hashed.old"
echo "written: $out/plain $out/valid $out/hashed"
