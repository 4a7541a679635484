#!/usr/bin/env python3
"""Generate Tests/Fixtures/transport/vectors.json: known answers for the SSH transport.

The point of these vectors (see ../shared/ARCHITECTURE.md, "Known-answer vectors") is that our client and our
server cannot agree on a wrong implementation. So nothing here uses shh's code or swift-crypto: every value is
computed from the specifications with Python's hashlib/hmac/struct and pyca/cryptography (which links its own
OpenSSL, a different code base from swift-crypto's BoringSSL), from fixed private keys, cookies, IVs and padding.

What is computed, and from which text:
  * Exchange hash H (RFC 4253 §8 with RFC 5656 §4's Q_C/Q_S) and the six keys A..F (RFC 4253 §7.2, with the
    K_n extension) for
      - curve25519-sha256 / curve25519-sha256@libssh.org (RFC 8731 §3; private keys from RFC 7748 §6.1, whose
        shared secret the script checks against the RFC's printed value),
      - ecdh-sha2-nistp256/384/521 (RFC 5656 §4, K = x coordinate as an mpint; the server's scalar is searched
        deterministically so that the mpint encoding has to strip a leading zero (P-256), add a zero byte for a
        set high bit (P-384), or both (P-521)),
      - mlkem768x25519-sha256 (draft-ietf-sshm-mlkem-hybrid-kex §2: C_INIT = ML-KEM-768 public key ‖ X25519 public
        key, S_REPLY = ML-KEM ciphertext ‖ X25519 public key, K = SHA-256(K_PQ ‖ K_CL) encoded as a *string*).
        The client's ML-KEM key comes from a fixed FIPS 203 seed d ‖ z; keygen and decapsulation are OpenSSL's
        (via pyca/cryptography), independent of swift-crypto's BoringSSL. ML-KEM encapsulation is randomised and
        neither library lets us fix its randomness, so the server's ciphertext is an *input*: made once by
        OpenSSL's encapsulate() and committed as mlkem768-ciphertext.hex, which this script reads (and writes only
        if it is missing). The server side's encapsulation is therefore not covered by a known answer, only by
        end-to-end agreement with the client side, which is.
    The host key is the RFC 8032 §7.1 TEST 1 Ed25519 key; its signature over H (Ed25519 is deterministic) is
    included so the client's verification path is exercised with a signature we did not make.
  * Packet framing (RFC 4253 §6) and protection, for packets whose padding is fixed here:
      - chacha20-poly1305@openssh.com (OpenSSH PROTOCOL.chacha20poly1305): K_2 = key[0:32] for the payload and the
        Poly1305 key, K_1 = key[32:64] for the length; original ChaCha20 (64-bit block counter, 64-bit nonce =
        sequence number big-endian). The ChaCha20 block function is written out here from RFC 8439 §2.3 (checked
        against RFC 8439 §2.3.2's test vector) and cross-checked against pyca/cryptography's ChaCha20, whose 16-byte
        "nonce" is the initial state words 12..15: a 64-bit little-endian block counter, then the 8-byte nonce.
      - aes128/256-gcm@openssh.com (RFC 5647 §7.1): nonce = 4-byte fixed field ‖ 64-bit invocation counter,
        incremented per packet; vectors of consecutive packets where the counter carries across a byte boundary
        and wraps at 2^64 without touching the fixed field; the length is associated data.
      - aes-ctr (RFC 4344 §4: the whole 128-bit counter block increments, across packets; computed here with AES
        in ECB mode on counter blocks, so OpenSSL's CTR counter handling is not assumed) with hmac-sha2-256/512
        (RFC 6668, MAC over uint32 sequence number ‖ plaintext packet) and the -etm@openssh.com forms (OpenSSH
        PROTOCOL §1.7: clear length, MAC over sequence number ‖ length ‖ ciphertext).

Usage:
  Scripts/make-transport-vectors.py            # (re)write Tests/Fixtures/transport/vectors.json
  Scripts/make-transport-vectors.py --check    # exit 1 if the committed file differs from what this computes
"""

import argparse
import hashlib
import hmac
import json
import pathlib
import struct
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.poly1305 import Poly1305

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "Tests" / "Fixtures" / "transport"
VECTORS = OUT_DIR / "vectors.json"
MLKEM_CIPHERTEXT = OUT_DIR / "mlkem768-ciphertext.hex"


# --- RFC 4251 §5 data types ---------------------------------------------------------------------------------

def u32(value):
    return struct.pack(">I", value)


def string(data):
    if isinstance(data, str):
        data = data.encode()
    return u32(len(data)) + data


def mpint_unsigned(magnitude):
    """RFC 4251 §5 mpint of a non-negative integer given as big-endian bytes: no leading zero bytes, except one
    zero byte when the high bit of the first byte would otherwise be set."""
    stripped = magnitude.lstrip(b"\x00")
    if stripped and stripped[0] & 0x80:
        stripped = b"\x00" + stripped
    return string(stripped)


def name_list(names):
    return string(",".join(names))


def label_bytes(label, length):
    """Deterministic filler bytes (keys, IVs, padding): SHA-512 in counter mode over a label."""
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha512(label.encode() + u32(counter)).digest()
        counter += 1
    return out[:length]


# --- Key exchange --------------------------------------------------------------------------------------------

CLIENT_ID = "SSH-2.0-shh_0.1.0"
SERVER_ID = "SSH-2.0-OpenSSH_10.0"

# RFC 7748 §6.1.
ALICE_X25519 = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
BOB_X25519 = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
RFC7748_SHARED = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")

# RFC 8032 §7.1 TEST 1.
HOST_ED25519_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
HOST_ED25519_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")


def kexinit_payload(cookie, kex, host_key, ciphers, macs):
    """RFC 4253 §7.1 SSH_MSG_KEXINIT, the same lists in both directions, no languages, no guess."""
    payload = bytes([20]) + cookie
    for names in [kex, host_key, ciphers, ciphers, macs, macs, ["none"], ["none"], [], []]:
        payload += name_list(names)
    return payload + b"\x00" + u32(0)


def hash_function(name):
    return {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}[name]


def derive_key(hash_name, k_wire, h, letter, session_id, length):
    """RFC 4253 §7.2: K1 = HASH(K ‖ H ‖ letter ‖ session_id), K_n = HASH(K ‖ H ‖ K1 ‖ ... ‖ K_{n-1})."""
    fn = hash_function(hash_name)
    key = fn(k_wire + h + letter.encode() + session_id).digest()
    while len(key) < length:
        key += fn(k_wire + h + key).digest()
    return key[:length]


def host_key():
    private = ed25519.Ed25519PrivateKey.from_private_bytes(HOST_ED25519_SEED)
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert public == HOST_ED25519_PUBLIC, "RFC 8032 TEST 1 public key"
    return private, string("ssh-ed25519") + string(public)


def x25519_public(private):
    key = x25519.X25519PrivateKey.from_private_bytes(private)
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def x25519_shared(private, peer_public):
    key = x25519.X25519PrivateKey.from_private_bytes(private)
    return key.exchange(x25519.X25519PublicKey.from_public_bytes(peer_public))


CURVES = {
    "ecdh-sha2-nistp256": (ec.SECP256R1(), 32, "sha256"),
    "ecdh-sha2-nistp384": (ec.SECP384R1(), 48, "sha384"),
    "ecdh-sha2-nistp521": (ec.SECP521R1(), 66, "sha512"),
}


def scalar_from_label(name, label):
    """A fixed scalar below the group order: label bytes with the top bit cleared (P-256, P-384: the order
    exceeds 2^255 / 2^383) or the top nine bits cleared (P-521: below 2^520)."""
    _, size, _ = CURVES[name]
    value = int.from_bytes(label_bytes(label, size), "big")
    bits = 520 if size == 66 else size * 8 - 1
    return (value % (1 << bits)) or 1


def ec_private(name, scalar):
    curve, _, _ = CURVES[name]
    return ec.derive_private_key(scalar, curve)


def ec_public_bytes(key):
    return key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def ecdh_vector_keys(name, wants):
    """Client scalar from a fixed label; server scalar = first label index whose shared x satisfies `wants`."""
    client_scalar = scalar_from_label(name, f"shh kat {name} client")
    client = ec_private(name, client_scalar)
    for index in range(100_000):
        server_scalar = scalar_from_label(name, f"shh kat {name} server {index}")
        server = ec_private(name, server_scalar)
        shared = server.exchange(ec.ECDH(), client.public_key())
        if wants(shared):
            return client_scalar, server_scalar, shared
    raise SystemExit(f"no server scalar found for {name}")


def curve25519_server_key_with_leading_zero():
    for index in range(100_000):
        candidate = label_bytes(f"shh kat curve25519 server {index}", 32)
        if x25519_shared(candidate, x25519_public(ALICE_X25519))[0] == 0:
            return candidate
    raise SystemExit("no curve25519 server key found")


def mlkem_ciphertext(public_key):
    if MLKEM_CIPHERTEXT.exists():
        return bytes.fromhex("".join(MLKEM_CIPHERTEXT.read_text().split()))
    _, ciphertext = public_key.encapsulate()
    hex_text = ciphertext.hex()
    MLKEM_CIPHERTEXT.write_text("\n".join(hex_text[i:i + 64] for i in range(0, len(hex_text), 64)) + "\n")
    print(f"wrote {MLKEM_CIPHERTEXT.relative_to(ROOT)} (a new random encapsulation; commit it)", file=sys.stderr)
    return ciphertext


def key_exchange_vector(name, hash_name, client_public, server_public, k_wire, extra):
    client_cookie = label_bytes(f"shh kat {name} client cookie", 16)
    server_cookie = label_bytes(f"shh kat {name} server cookie", 16)
    client_kex = [name, "ext-info-c", "kex-strict-c-v00@openssh.com"]
    server_kex = [name, "ext-info-s", "kex-strict-s-v00@openssh.com"]
    client_init = kexinit_payload(client_cookie, client_kex, ["ssh-ed25519"],
                                  ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com"],
                                  ["hmac-sha2-256-etm@openssh.com"])
    server_init = kexinit_payload(server_cookie, server_kex, ["ssh-ed25519", "rsa-sha2-512"],
                                  ["aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr"],
                                  ["hmac-sha2-512", "hmac-sha2-256-etm@openssh.com"])
    host_private, host_blob = host_key()
    hashed = (string(CLIENT_ID) + string(SERVER_ID) + string(client_init) + string(server_init) + string(host_blob)
              + string(client_public) + string(server_public) + k_wire)
    h = hash_function(hash_name)(hashed).digest()
    signature = host_private.sign(h)
    vector = {
        "name": name,
        "hash": hash_name,
        "clientIdentification": CLIENT_ID,
        "serverIdentification": SERVER_ID,
        "clientCookie": client_cookie.hex(),
        "serverCookie": server_cookie.hex(),
        "clientKexinit": {"kex": client_kex, "hostKey": ["ssh-ed25519"],
                          "ciphers": ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com"],
                          "macs": ["hmac-sha2-256-etm@openssh.com"], "payload": client_init.hex()},
        "serverKexinit": {"kex": server_kex, "hostKey": ["ssh-ed25519", "rsa-sha2-512"],
                          "ciphers": ["aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr"],
                          "macs": ["hmac-sha2-512", "hmac-sha2-256-etm@openssh.com"], "payload": server_init.hex()},
        "hostKeyBlob": host_blob.hex(),
        "clientPublic": client_public.hex(),
        "serverPublic": server_public.hex(),
        "sharedSecretWire": k_wire.hex(),
        "exchangeHash": h.hex(),
        "signatureBlob": (string("ssh-ed25519") + string(signature)).hex(),
        # First exchange: session_id = H. Each key at 64 bytes; shorter keys are prefixes.
        "keys": {letter: derive_key(hash_name, k_wire, h, letter, h, 64).hex() for letter in "ABCDEF"},
    }
    vector.update(extra)
    return vector


def key_exchange_vectors():
    vectors = []

    # curve25519-sha256: RFC 7748 §6.1's Alice (client) and Bob (server).
    shared = x25519_shared(ALICE_X25519, x25519_public(BOB_X25519))
    assert shared == RFC7748_SHARED, "RFC 7748 §6.1 shared secret"
    vectors.append(key_exchange_vector(
        "curve25519-sha256", "sha256", x25519_public(ALICE_X25519), x25519_public(BOB_X25519),
        mpint_unsigned(shared),
        {"clientPrivate": ALICE_X25519.hex(), "serverPrivate": BOB_X25519.hex(), "rawSharedSecret": shared.hex()}))

    # curve25519-sha256@libssh.org with a shared secret whose first byte is zero (the mpint must drop it).
    server = curve25519_server_key_with_leading_zero()
    shared = x25519_shared(ALICE_X25519, x25519_public(server))
    assert shared[0] == 0
    vectors.append(key_exchange_vector(
        "curve25519-sha256@libssh.org", "sha256", x25519_public(ALICE_X25519), x25519_public(server),
        mpint_unsigned(shared),
        {"clientPrivate": ALICE_X25519.hex(), "serverPrivate": server.hex(), "rawSharedSecret": shared.hex()}))

    edge_cases = {
        "ecdh-sha2-nistp256": lambda x: x[0] == 0 and x[1] & 0x80 == 0,    # strip one zero byte
        "ecdh-sha2-nistp384": lambda x: x[0] & 0x80 != 0,                   # prepend a zero byte
        "ecdh-sha2-nistp521": lambda x: x[0] == 0 and x[1] & 0x80 != 0,     # strip, then prepend again
    }
    for name, wants in edge_cases.items():
        _, size, hash_name = CURVES[name]
        client_scalar, server_scalar, shared = ecdh_vector_keys(name, wants)
        client = ec_private(name, client_scalar)
        server = ec_private(name, server_scalar)
        assert client.exchange(ec.ECDH(), server.public_key()) == shared
        vectors.append(key_exchange_vector(
            name, hash_name, ec_public_bytes(client), ec_public_bytes(server), mpint_unsigned(shared),
            {"clientPrivate": client_scalar.to_bytes(size, "big").hex(),
             "serverPrivate": server_scalar.to_bytes(size, "big").hex(), "rawSharedSecret": shared.hex()}))

    # mlkem768x25519-sha256.
    seed = label_bytes("shh kat mlkem768 seed d||z", 64)
    kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed)
    kem_public = kem.public_key().public_bytes_raw()
    assert len(kem_public) == 1184
    ciphertext = mlkem_ciphertext(kem.public_key())
    assert len(ciphertext) == 1088
    kem_shared = kem.decapsulate(ciphertext)
    classical_shared = x25519_shared(ALICE_X25519, x25519_public(BOB_X25519))
    k = hashlib.sha256(kem_shared + classical_shared).digest()
    vectors.append(key_exchange_vector(
        "mlkem768x25519-sha256", "sha256", kem_public + x25519_public(ALICE_X25519),
        ciphertext + x25519_public(BOB_X25519), string(k),
        {"clientMLKEMSeed": seed.hex(), "clientPrivate": ALICE_X25519.hex(), "serverPrivate": BOB_X25519.hex(),
         "mlkemSharedSecret": kem_shared.hex(), "x25519SharedSecret": classical_shared.hex(),
         "rawSharedSecret": k.hex()}))
    return vectors


# --- ChaCha20 (RFC 8439 §2.3), original layout ----------------------------------------------------------------

def _rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def _quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 7)


def chacha20_block(key, words12to15):
    state = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    state += list(struct.unpack("<8I", key)) + list(words12to15)
    working = state[:]
    for _ in range(10):
        _quarter(working, 0, 4, 8, 12); _quarter(working, 1, 5, 9, 13)
        _quarter(working, 2, 6, 10, 14); _quarter(working, 3, 7, 11, 15)
        _quarter(working, 0, 5, 10, 15); _quarter(working, 1, 6, 11, 12)
        _quarter(working, 2, 7, 8, 13); _quarter(working, 3, 4, 9, 14)
    return struct.pack("<16I", *[(w + s) & 0xFFFFFFFF for w, s in zip(working, state)])


def chacha20_djb(key, nonce8, counter, data):
    """Original ChaCha20: words 12,13 = 64-bit block counter (little-endian), words 14,15 = the 8-byte nonce."""
    out = bytearray()
    for offset in range(0, len(data), 64):
        block_counter = counter + offset // 64
        words = [block_counter & 0xFFFFFFFF, block_counter >> 32] + list(struct.unpack("<2I", nonce8))
        stream = chacha20_block(key, words)
        out += bytes(a ^ b for a, b in zip(data[offset:offset + 64], stream))
    pure = bytes(out)
    # Cross-check with OpenSSL through pyca/cryptography: its 16-byte nonce is state words 12..15 as bytes.
    library = Cipher(algorithms.ChaCha20(key, counter.to_bytes(8, "little") + nonce8), mode=None).encryptor()
    assert library.update(data) + library.finalize() == pure, "ChaCha20 implementations disagree"
    return pure


def check_chacha20_block():
    # RFC 8439 §2.3.2: key 00..1f, counter 1, nonce 000000090000004a00000000 (IETF layout: word 12 = counter).
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a00000000")
    words = [1] + list(struct.unpack("<3I", nonce))
    expected = bytes.fromhex(
        "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
        "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e")
    assert chacha20_block(key, words) == expected, "RFC 8439 §2.3.2 block"


# --- Packet framing --------------------------------------------------------------------------------------------

def frame(payload, padding_length, label):
    """packet_length ‖ padding_length ‖ payload ‖ padding (RFC 4253 §6), padding bytes fixed."""
    padding = label_bytes(label, padding_length)
    return u32(1 + len(payload) + padding_length) + bytes([padding_length]) + payload + padding


def minimal_padding(payload_length, block, length_outside):
    aligned = (0 if length_outside else 4) + 1 + payload_length
    padding = block - aligned % block
    if padding < 4:
        padding += block
    return padding


def check_alignment(packet, block, length_outside):
    padding_length = packet[4]
    assert 4 <= padding_length <= 255
    aligned = len(packet) - (4 if length_outside else 0)
    assert aligned % block == 0, "RFC 4253 §6 alignment"


def channel_data(index, size):
    """An SSH_MSG_CHANNEL_DATA-shaped payload (94, recipient channel, data)."""
    data = label_bytes(f"shh kat payload {index}", size)
    return bytes([94]) + u32(index) + string(data)


def chacha20_poly1305_seal(key, sequence_number, packet):
    k2, k1 = key[:32], key[32:]
    nonce = struct.pack(">Q", sequence_number)
    encrypted_length = chacha20_djb(k1, nonce, 0, packet[:4])
    poly_key = chacha20_djb(k2, nonce, 0, bytes(32))
    encrypted_body = chacha20_djb(k2, nonce, 1, packet[4:])
    mac = Poly1305(poly_key)
    mac.update(encrypted_length + encrypted_body)
    return encrypted_length + encrypted_body + mac.finalize(), poly_key


def chacha20_vectors():
    check_chacha20_block()
    key = label_bytes("shh kat chacha20-poly1305 key", 64)
    vectors = []
    for index, (sequence_number, size, extra_padding) in enumerate([(0, 0, 0), (7, 150, 0), (0xFFFFFFFF, 300, 8)]):
        payload = channel_data(index, size) if size else bytes([2]) + string(b"")  # an empty SSH_MSG_IGNORE
        padding = minimal_padding(len(payload), 8, True) + extra_padding
        packet = frame(payload, padding, f"shh kat chacha padding {index}")
        check_alignment(packet, 8, True)
        sealed, poly_key = chacha20_poly1305_seal(key, sequence_number, packet)
        vectors.append({"key": key.hex(), "sequenceNumber": sequence_number, "payload": payload.hex(),
                        "plaintextPacket": packet.hex(), "polyKey": poly_key.hex(), "sealed": sealed.hex()})
    return vectors


def aes_gcm_vectors():
    vectors = []
    cases = [
        # (cipher, key length, fixed field, initial invocation counter, packets)
        ("aes128-gcm@openssh.com", 16, bytes.fromhex("a1b2c3d4"), 0x00000000000000FF, [(0, 100), (1, 37), (2, 0)]),
        ("aes256-gcm@openssh.com", 32, bytes.fromhex("00ff00ff"), 0x00FFFFFFFFFFFFFF, [(3, 64), (4, 10)]),
        ("aes256-gcm@openssh.com", 32, bytes.fromhex("deadbeef"), 0xFFFFFFFFFFFFFFFF, [(5, 20), (6, 20)]),
    ]
    for case_index, (name, key_length, fixed, counter, packets) in enumerate(cases):
        key = label_bytes(f"shh kat gcm key {case_index}", key_length)
        iv = fixed + counter.to_bytes(8, "big")
        aead = AESGCM(key)
        out_packets = []
        for sequence_number, (index, size) in enumerate(packets):
            payload = channel_data(index, size) if size else bytes([21])  # NEWKEYS-sized
            packet = frame(payload, minimal_padding(len(payload), 16, True), f"shh kat gcm padding {index}")
            check_alignment(packet, 16, True)
            nonce = fixed + counter.to_bytes(8, "big")
            sealed = packet[:4] + aead.encrypt(nonce, packet[4:], packet[:4])
            out_packets.append({"sequenceNumber": sequence_number, "payload": payload.hex(),
                                "plaintextPacket": packet.hex(), "nonce": nonce.hex(), "sealed": sealed.hex()})
            counter = (counter + 1) % (1 << 64)  # RFC 5647 §7.1: only the invocation counter changes
        vectors.append({"cipher": name, "key": key.hex(), "iv": iv.hex(), "packets": out_packets})
    return vectors


def aes_ctr_keystream(key, counter_block, block_count):
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    value = int.from_bytes(counter_block, "big")
    blocks = b"".join(((value + i) % (1 << 128)).to_bytes(16, "big") for i in range(block_count))
    return ecb.update(blocks) + ecb.finalize(), ((value + block_count) % (1 << 128)).to_bytes(16, "big")


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def aes_ctr_hmac_vectors():
    vectors = []
    cases = [
        ("aes128-ctr", 16, "hmac-sha2-256", 32, hashlib.sha256),
        ("aes128-ctr", 16, "hmac-sha2-256-etm@openssh.com", 32, hashlib.sha256),
        ("aes256-ctr", 32, "hmac-sha2-512", 64, hashlib.sha512),
        ("aes192-ctr", 24, "hmac-sha2-512-etm@openssh.com", 64, hashlib.sha512),
    ]
    for case_index, (cipher, key_length, mac_name, mac_key_length, digest) in enumerate(cases):
        etm = mac_name.endswith("-etm@openssh.com")
        key = label_bytes(f"shh kat ctr key {case_index}", key_length)
        mac_key = label_bytes(f"shh kat ctr mac key {case_index}", mac_key_length)
        # The counter's low 64 bits are two blocks short of carrying into the high half, so the carry happens
        # inside the first packet and the count runs on into the second (RFC 4344 §4).
        iv = label_bytes(f"shh kat ctr iv {case_index}", 8) + bytes.fromhex("fffffffffffffffe")
        counter = iv
        out_packets = []
        for offset, (index, size) in enumerate([(10 + case_index, 90), (20 + case_index, 33)]):
            sequence_number = 41 + offset
            payload = channel_data(index, size)
            packet = frame(payload, minimal_padding(len(payload), 16, etm), f"shh kat ctr padding {case_index} {index}")
            check_alignment(packet, 16, etm)
            encrypted_region = packet[4:] if etm else packet
            stream, counter = aes_ctr_keystream(key, counter, len(encrypted_region) // 16)
            ciphertext = xor(encrypted_region, stream)
            if etm:
                wire = packet[:4] + ciphertext
                tag = hmac.new(mac_key, u32(sequence_number) + wire, digest).digest()
            else:
                wire = ciphertext
                tag = hmac.new(mac_key, u32(sequence_number) + packet, digest).digest()
            out_packets.append({"sequenceNumber": sequence_number, "payload": payload.hex(),
                                "plaintextPacket": packet.hex(), "sealed": (wire + tag).hex()})
        vectors.append({"cipher": cipher, "mac": mac_name, "key": key.hex(), "iv": iv.hex(),
                        "macKey": mac_key.hex(), "packets": out_packets})
    return vectors


def build():
    return {
        "comment": "Generated by Scripts/make-transport-vectors.py from the RFCs with Python's hashlib and "
                   "pyca/cryptography (OpenSSL); see the script for each value's provenance. Do not edit.",
        "keyExchange": key_exchange_vectors(),
        "chacha20Poly1305": chacha20_vectors(),
        "aesGCM": aes_gcm_vectors(),
        "aesCTRHMAC": aes_ctr_hmac_vectors(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed vectors are stale")
    args = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    if args.check and not MLKEM_CIPHERTEXT.exists():
        print(f"{MLKEM_CIPHERTEXT.relative_to(ROOT)} is missing", file=sys.stderr)
        return 1
    text = json.dumps(build(), indent=1) + "\n"
    if args.check:
        if not VECTORS.exists() or VECTORS.read_text() != text:
            print(f"{VECTORS.relative_to(ROOT)} is stale: run {pathlib.Path(__file__).name}", file=sys.stderr)
            return 1
        print(f"{VECTORS.relative_to(ROOT)} is up to date")
        return 0
    VECTORS.write_text(text)
    print(f"wrote {VECTORS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
