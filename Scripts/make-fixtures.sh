#!/usr/bin/env bash
# Regenerates Tests/Fixtures/keys with the real OpenSSH ssh-keygen, together with what ssh-keygen prints
# for each key (-y, -l with sha256 and md5, -lv). The tests compare shh-keygen's output byte for byte with these.
# Run it only to refresh the fixtures; they are committed so CI tests against fixed OpenSSH-made files.
set -euo pipefail
cd "$(dirname "$0")/.."
out=Tests/Fixtures/keys
rm -rf "$out"
mkdir -p "$out"
pass='correct horse'
ssh-keygen -V 2>/dev/null || ssh -V 2>&1 | tee "$out/OPENSSH_VERSION"

gen() { # name, then ssh-keygen arguments
    local name=$1; shift
    ssh-keygen -q "$@" -C "fixture-$name" -f "$out/$name" </dev/null
}

gen ed25519 -t ed25519 -N ''
gen ed25519-enc -t ed25519 -N "$pass"
for bits in 256 384 521; do
    gen ecdsa$bits -t ecdsa -b $bits -N ''
    gen ecdsa$bits-enc -t ecdsa -b $bits -N "$pass"
done
for bits in 2048 3072 4096 8192; do
    gen rsa$bits -t rsa -b $bits -N ''
done
gen rsa3072-enc -t rsa -b 3072 -N "$pass"
gen rsa1024 -t rsa -b 1024 -N ''
# OpenSSH's largest RSA size, beyond BoringSSL's 8192: we list and fingerprint it but refuse to use it.
# (ssh-keygen takes a few minutes for this one.)
gen rsa16384 -t rsa -b 16384 -N ''
# Other ciphers ssh-keygen can write (-Z); chacha20-poly1305 is one we refuse clearly.
for cipher in aes128-ctr aes192-ctr aes128-cbc aes256-cbc aes128-gcm@openssh.com aes256-gcm@openssh.com chacha20-poly1305@openssh.com; do
    gen "ed25519-$(echo $cipher | cut -d@ -f1)" -t ed25519 -N "$pass" -Z "$cipher"
done
# A non-default KDF round count.
gen ecdsa256-enc-rounds4 -t ecdsa -N "$pass" -a 4
# Legacy PEM formats: PKCS#1 and SEC1 (-m PEM), PKCS#8 (-m PKCS8).
gen rsa2048-pkcs1 -t rsa -b 2048 -N '' -m PEM
gen ecdsa256-sec1 -t ecdsa -b 256 -N '' -m PEM
gen ecdsa384-sec1 -t ecdsa -b 384 -N '' -m PEM
gen rsa2048-pkcs8 -t rsa -b 2048 -N '' -m PKCS8
gen ecdsa521-pkcs8 -t ecdsa -b 521 -N '' -m PKCS8
gen rsa2048-pkcs1-enc -t rsa -b 2048 -N "$pass" -m PEM

for key in "$out"/*.pub; do
    base=${key%.pub}
    name=$(basename "$base")
    case $name in *chacha20*|*pkcs1-enc*|rsa1024) continue ;; esac  # rsa16384 keeps its expected outputs: -l must work
    passarg=()
    case $name in *enc*|*aes*) passarg=(-P "$pass") ;; esac
    ssh-keygen -y "${passarg[@]}" -f "$base" > "$base.expected-y"
    ssh-keygen -l -f "$base" > "$base.expected-l-sha256"
    ssh-keygen -l -E md5 -f "$base" > "$base.expected-l-md5"
    ssh-keygen -lv -f "$base" > "$base.expected-lv-sha256"
    ssh-keygen -lv -E md5 -f "$base.pub" > "$base.expected-lv-md5"
done

# SSHSIG signatures made by OpenSSH, for verification by shh-keygen -Y verify.
printf 'signed by OpenSSH\n' > "$out/message.txt"
for name in ed25519 ecdsa256 ecdsa384 ecdsa521 rsa3072; do
    cp "$out/message.txt" "$out/message-$name.txt"
    ssh-keygen -q -Y sign -f "$out/$name" -n file "$out/message-$name.txt" 2>/dev/null
    printf 'fixture@example.com %s\n' "$(cut -d' ' -f1,2 "$out/$name.pub")" >> "$out/allowed_signers"
done
chmod 600 "$out"/*
echo "fixtures written to $out"
