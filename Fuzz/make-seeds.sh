#!/usr/bin/env bash
# Regenerates Fuzz/Seeds/: a few fixture files from Tests/Fixtures/keys, their decoded bodies/blobs (so the
# raw-bytes parsers start from real structure), keys encrypted with passphrase "x" and 1 bcrypt round (the
# passphrase FuzzPrivateKey tries, cheap enough per execution), hand-made SSHWire inputs, and client byte streams
# for FuzzServerTransport and FuzzConnection in their input formats. Needs ssh-keygen, openssl and python3. The seeds are committed; run this only to refresh them.
set -euo pipefail
cd "$(dirname "$0")"
keys=../Tests/Fixtures/keys
# Only the directories this script writes are replaced: FuzzKnownHosts, FuzzAuthorizedKeys, FuzzCertificate and
# FuzzServerConfig hold hand-made seeds that are committed and not generated here.
rm -rf Seeds/FuzzPrivateKey Seeds/FuzzPublicKey Seeds/FuzzSSHWire Seeds/FuzzServerTransport Seeds/FuzzConnection \
    Seeds/FuzzBrokerMessage Seeds/FuzzAgentReply Seeds/FuzzSOCKSRequest
mkdir -p Seeds/FuzzPrivateKey Seeds/FuzzPublicKey Seeds/FuzzSSHWire Seeds/FuzzServerTransport Seeds/FuzzConnection

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
# FuzzServerTransport: a header byte (mode | feeding << 2 | cipher << 4), then records (UInt16 n, n bytes; top bit
# set: raw bytes, else one packet payload). See the header comment of Sources/FuzzServerTransport. The NIST points
# are fresh public keys from openssl (the last bytes of the DER SubjectPublicKeyInfo are the uncompressed point).
point() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:"$1" 2>/dev/null | openssl pkey -pubout -outform DER | tail -c "$2" | od -An -tx1 | tr -d ' \n'; }
P256=$(point P-256 65) P384=$(point P-384 97) P521=$(point P-521 133) python3 - <<'PY'
import os, struct
def u32(n): return struct.pack(">I", n)
def s(b): return u32(len(b)) + b
def names(*n): return s(",".join(n).encode())
def kexinit(kex, hostkey=("ssh-ed25519",), cipher=("chacha20-poly1305@openssh.com",),
            mac=("hmac-sha2-256-etm@openssh.com",), follows=False):
    return (bytes([20]) + bytes(range(16)) + names(*kex) + names(*hostkey) + names(*cipher) * 2 + names(*mac) * 2
            + names("none") * 2 + names() * 2 + bytes([1 if follows else 0]) + u32(0))
def ecdh_init(value): return bytes([30]) + s(value)
NEWKEYS = bytes([21])
def record(payload): return struct.pack(">H", len(payload)) + payload
def raw(data): return struct.pack(">H", 0x8000 | len(data)) + data
def packet(payload):                       # RFC 4253 §6 framing without keys, as the harness does it
    padding = 8 - (5 + len(payload)) % 8
    if padding < 4: padding += 8
    return u32(1 + len(payload) + padding) + bytes([padding]) + payload + bytes(padding)
def header(mode, feeding=0, cipher=0): return bytes([mode | feeding << 2 | cipher << 4])
def service(name): return bytes([5]) + s(name)
def ping(data): return bytes([192]) + s(data)
def debug(text): return bytes([4, 1]) + s(text) + s(b"")
def disconnect(reason, text): return bytes([1]) + u32(reason) + s(text) + s(b"")
def ext_info(*pairs): return bytes([7]) + u32(len(pairs)) + b"".join(s(n) + s(v) for n, v in pairs)
def channel_data(n): return bytes([94]) + u32(0) + s(bytes(n))

MARKERS = ("ext-info-c", "kex-strict-c-v00@openssh.com")
AUTHENTICATED = 7                           # added to the cipher number in the header: see the harness
x25519 = bytes(range(1, 33))                # any 32 bytes but the few low-order points is an X25519 public key
mlkem = bytes(1184) + x25519                # all-zero coefficients pass ML-KEM-768's modulus check
nist = {name: bytes.fromhex(os.environ[var]) for name, var in
        (("ecdh-sha2-nistp256", "P256"), ("ecdh-sha2-nistp384", "P384"), ("ecdh-sha2-nistp521", "P521"))}

seeds = {
    # mode 0: the whole client stream as bytes
    "raw-openssh-client-start": header(0) + b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
        + packet(kexinit(("curve25519-sha256",) + MARKERS)) + packet(ecdh_init(x25519)),
    "raw-preamble-line": header(0) + b"hello\r\nSSH-2.0-x\r\n",
    "raw-ssh-1.5": header(0, 1) + b"SSH-1.5-old\r\n",
    "raw-length-35000": header(0) + b"SSH-2.0-x\r\n" + u32(35000) + bytes(16),
    # mode 1: plaintext packets after "SSH-2.0-fuzz"
    "plain-curve25519-newkeys": header(1) + record(kexinit(("curve25519-sha256",) + MARKERS))
        + record(ecdh_init(x25519)) + record(NEWKEYS),
    "plain-curve25519-bytewise": header(1, 1) + record(kexinit(("curve25519-sha256@libssh.org", "ext-info-c")))
        + record(ecdh_init(x25519)) + record(NEWKEYS) + record(channel_data(8)),
    "plain-mlkem768x25519": header(1) + record(kexinit(("mlkem768x25519-sha256",) + MARKERS,
        cipher=("aes256-gcm@openssh.com",))) + record(ecdh_init(mlkem)) + record(NEWKEYS),
    "plain-wrong-guess": header(1, 2) + record(kexinit(("ecdh-sha2-nistp256", "curve25519-sha256"),
        hostkey=("rsa-sha2-512", "ssh-ed25519"), follows=True)) + record(ecdh_init(bytes(65)))
        + record(ecdh_init(nist["ecdh-sha2-nistp256"])) + record(NEWKEYS),
    "plain-no-strict-ignore-debug": header(1) + record(bytes([2]) + s(b"ignored")) + record(debug(b"hi"))
        + record(kexinit(("curve25519-sha256",), cipher=("aes128-ctr",), mac=("hmac-sha2-256",)))
        + record(bytes([2]) + s(b"")) + record(ecdh_init(x25519)) + record(NEWKEYS),
    "plain-newkeys-first": header(1) + record(NEWKEYS) + record(kexinit(("curve25519-sha256",) + MARKERS)),
    "plain-nothing-in-common": header(1) + record(kexinit(("diffie-hellman-group1-sha1",), hostkey=("ssh-dss",))),
    "plain-then-bad-length": header(1, 3) + record(kexinit(("curve25519-sha256",) + MARKERS)) + raw(u32(0xFFFFFFF0) + bytes(8)),
}
for name, point in nist.items():
    seeds["plain-" + name] = header(1) + record(kexinit((name,) + MARKERS, cipher=("aes128-gcm@openssh.com",))) \
        + record(ecdh_init(point)) + record(NEWKEYS)
# mode 2: the client's encrypted stream, one seed per cipher (where the length is in the clear, a valid one, so
# the MAC check is reached)
for cipher in range(7):
    seeds[f"encrypted-cipher{cipher}"] = header(2, 0, cipher) + u32(32) + bytes(range(96))
# mode 3: payloads sealed by the established client
seeds.update({
    "sealed-service-and-messages": header(3) + record(service(b"ssh-userauth")) + record(channel_data(32))
        + record(ping(b"abc")) + record(bytes([193]) + s(b"pong")) + record(bytes([2]) + s(b"x"))
        + record(debug(b"debug text")) + record(bytes([3]) + u32(7)) + record(bytes([150])),
    "sealed-ext-info-disconnect": header(3, 0, 3) + record(ext_info((b"server-sig-algs", b"ssh-ed25519"),
        (b"ping@openssh.com", b"0"))) + record(disconnect(11, b"bye")),
    "sealed-rekey": header(3, 0, 4) + record(kexinit(("curve25519-sha256",), cipher=("aes256-ctr",),
        mac=("hmac-sha2-512",))) + record(channel_data(4)) + record(ecdh_init(x25519)) + record(NEWKEYS) + record(channel_data(4)),
    "sealed-rekey-bytewise": header(3, 1, 1) + record(kexinit(("curve25519-sha256",), cipher=("aes128-gcm@openssh.com",)))
        + record(ecdh_init(x25519)) + record(NEWKEYS),
    "sealed-unknown-service": header(3, 2, 5) + record(service(b"ssh-connection")),
    "sealed-then-garbage": header(3, 0, 6) + record(channel_data(16)) + raw(u32(0x00040000) + bytes(40)),
    # cipher n + 7: the server has sent USERAUTH_SUCCESS, so it takes rekeys, answers pings, delivers channel messages
    "sealed-authenticated-rekey": header(3, 0, 4 + AUTHENTICATED) + record(kexinit(("curve25519-sha256",),
        cipher=("aes256-ctr",), mac=("hmac-sha2-512",))) + record(ecdh_init(x25519)) + record(NEWKEYS) + record(channel_data(4)),
    "sealed-authenticated-rekey-bytewise": header(3, 1, 1 + AUTHENTICATED)
        + record(kexinit(("curve25519-sha256",), cipher=("aes128-gcm@openssh.com",))) + record(ecdh_init(x25519)) + record(NEWKEYS),
    "sealed-authenticated-messages": header(3, 0, AUTHENTICATED) + record(channel_data(32)) + record(ping(b"abc"))
        + record(bytes([193]) + s(b"pong")) + record(bytes([2]) + s(b"x")) + record(debug(b"debug text"))
        + record(bytes([3]) + u32(7)) + record(bytes([50]) + s(b"late") + s(b"ssh-connection") + s(b"none")) + record(bytes([150])),
})
for name, data in seeds.items():
    open(f"Seeds/FuzzServerTransport/{name}", "wb").write(data)
PY
# FuzzConnection: a header byte (window | small limits << 2 | answer at once << 3 | accept pattern << 4), then records
# (kind, UInt16 n, n bytes): kind 0 a client message payload, 1-12 a server caller action. See the header comment of
# Sources/FuzzConnection. The server numbers its channels from 0 in the order they are opened.
python3 - <<'PY'
import struct
def u32(n): return struct.pack(">I", n)
def s(b): return u32(len(b)) + (b.encode() if isinstance(b, str) else b)
def msg(payload): return bytes([0]) + struct.pack(">H", len(payload)) + payload
def act(kind, *args): return bytes([kind]) + struct.pack(">H", len(args)) + bytes(args)
def open_(kind, sender, window=2 << 20, packet=32768, extra=b""): return msg(bytes([90]) + s(kind) + u32(sender) + u32(window) + u32(packet) + extra)
def confirm(recipient, sender, window=2 << 20, packet=32768): return msg(bytes([91]) + u32(recipient) + u32(sender) + u32(window) + u32(packet))
def request(channel, name, want, data=b""): return msg(bytes([98]) + u32(channel) + s(name) + bytes([want]) + data)
def data(channel, n): return msg(bytes([94]) + u32(channel) + s(bytes(n)))
def stderr(channel, n): return msg(bytes([95]) + u32(channel) + u32(1) + s(bytes(n)))
def adjust(channel, n): return msg(bytes([93]) + u32(channel) + u32(n))
def eof(channel): return msg(bytes([96]) + u32(channel))
def close(channel): return msg(bytes([97]) + u32(channel))
def success(channel): return msg(bytes([99]) + u32(channel))
def glob(name, want, data=b""): return msg(bytes([80]) + s(name) + bytes([want]) + data)
def header(window=0, small=False, at_once=True, pattern=0xF): return bytes([window | small << 2 | at_once << 3 | pattern << 4])
pty = s("xterm") + u32(80) + u32(24) + u32(640) + u32(480) + s(bytes([53, 0, 0, 0, 1, 0]))
seeds = {
    "session-exec": header() + open_("session", 0) + request(0, "pty-req", 1, pty) + request(0, "env", 0, s("LANG") + s("C"))
        + request(0, "exec", 1, s("uptime")) + data(0, 100) + eof(0) + act(1, 0, 0, 200) + act(2, 0, 0, 10) + act(3, 0)
        + act(7, 0, 0, 0) + act(4, 0, 0) + close(0),
    "session-shell-signals": header() + open_("session", 5) + request(0, "shell", 1) + request(0, "window-change", 0, u32(100) + u32(50) + u32(0) + u32(0))
        + request(0, "signal", 0, s("INT")) + request(0, "break", 1, u32(100)) + request(0, "keepalive@openssh.com", 1)
        + request(0, "auth-agent-req@openssh.com", 1) + request(0, "eow@openssh.com", 0) + request(0, "winadj@putty.projects.tartarus.org", 1)
        + act(1, 0, 1, 0) + close(0),
    "small-window-overrun": header(window=1) + open_("session", 0) + data(0, 1024) + data(0, 1024) + act(5, 0, 4, 0)
        + data(0, 1024) + data(0, 1024) + data(0, 1024),
    "tiny-peer-window": header() + open_("session", 0, window=100, packet=10) + act(1, 0, 3, 232) + adjust(0, 50) + adjust(0, 1000)
        + act(3, 0) + act(4, 0, 0) + adjust(0, 5000) + close(0),
    "deferred-answers": header(at_once=False) + open_("session", 0) + open_("direct-tcpip", 1, extra=s("localhost") + u32(22) + s("127.0.0.1") + u32(4000))
        + act(9, 0, 1) + act(9, 0, 0) + request(0, "exec", 1, s("id")) + request(0, "x11-req", 1, bytes([0]) + s("MIT-MAGIC-COOKIE-1") + s("00") + u32(0))
        + glob("keepalive@openssh.com", 1) + act(10, 0) + stderr(0, 5),
    "many-opens-small-limits": header(small=True, pattern=0x5) + b"".join(open_("session", n) for n in range(8))
        + b"".join(request(0, "shell", 1) for _ in range(9)),
    "global-requests": header() + glob("tcpip-forward", 1, s("") + u32(0)) + glob("tcpip-forward", 1, s("localhost") + u32(8080))
        + glob("cancel-tcpip-forward", 1, s("localhost") + u32(8080)) + glob("streamlocal-forward@openssh.com", 1, s("/tmp/s"))
        + glob("hostkeys-prove-00@openssh.com", 1, s(bytes(10)) + s(bytes(3))) + glob("unknown@example", 1, b"xyz")
        + glob("no-more-sessions@openssh.com", 0) + open_("session", 0),
    "our-channels": header() + act(6, 0, 0) + act(6, 0, 2) + confirm(0, 7, window=300, packet=100) + act(1, 0, 2, 0)
        + msg(bytes([92]) + u32(1) + u32(2) + s("connect failed") + s("")) + act(8, 0, 3, 1) + msg(bytes([81]) + u32(40000))
        + act(7, 0, 2, 1) + success(0) + adjust(0, 1000) + act(4, 0, 0) + close(0),
}
for name, data in seeds.items():
    open(f"Seeds/FuzzConnection/{name}", "wb").write(data)
PY
chmod 644 Seeds/*/*

# FuzzBrokerMessage: one datagram of each kind of the privilege broker's protocol (BrokerMessages.swift).
mkdir -p Seeds/FuzzBrokerMessage
python3 - Seeds/FuzzBrokerMessage <<'PYTHON'
import struct, sys, os
out = sys.argv[1]
def s(b):
    if isinstance(b, str): b = b.encode()
    return struct.pack(">I", len(b)) + b
def u32(v): return struct.pack(">I", v)
def u64(v): return struct.pack(">Q", v)
def boolean(v): return b"\x01" if v else b"\x00"
seeds = {
    "hello": bytes([1]) + u32(1) + u32(2) + s(b"\x00\x00\x00\x0bssh-ed25519" + b"\x00\x00\x00\x20" + b"A"*32) + boolean(False) + s(b"key2") + boolean(True) + s(b"cert"),
    "sign": bytes([10]) + u32(7) + u64(9) + s(b"\xab"*32) + s("ssh-ed25519") + s(b"blob"),
    "authenticate-publickey": bytes([11]) + u32(8) + u64(1) + bytes([1]) + s("alice") + s("rsa-sha2-512") + s(b"keyblob") + boolean(True) + s(b"sig")
        + boolean(True) + u32(1) + s("publickey") + s("10.0.0.1") + u32(5555) + s("10.0.0.2") + u32(22),
    "authenticate-kbdint": bytes([11]) + u32(9) + u64(1) + bytes([3]) + s("bob") + boolean(True) + u32(2) + s("a") + s("b")
        + boolean(False) + u32(0) + s("::1") + u32(1) + s("::1") + u32(2),
    "banner": bytes([12]) + u32(11) + u64(3) + s("dave") + s("1.2.3.4") + s("5.6.7.8") + u32(2222),
    "closed": bytes([14]) + u32(13) + u64(3),
    "reply-grant": bytes([41]) + u32(8) + bytes([4]) + s("publickey") + boolean(True) + s("true") + boolean(False) + u32(2) + s("A") + s("1") + s("B") + s("2")
        + boolean(True) + u32(1) + s("LANG") + u32(3)
        + boolean(False) + boolean(True) + boolean(True) + u32(1) + s("db:5432") + boolean(False),
    "reply-ask": bytes([41]) + u32(9) + bytes([3]) + s("n") + s("i") + u32(1) + s("Password: ") + boolean(False),
    "reply-refused": bytes([45]) + u32(14) + s("no"),
    "start-session-terminal": bytes([15]) + u32(15) + u64(4) + s("erin") + bytes([1]) + s(b"ls -l") + u32(1) + s("LANG") + s("C.UTF-8")
        + boolean(True) + s("xterm") + u32(80) + u32(24) + u32(0) + u32(0) + s(b"\x35\x00\x00\x00\x01\x00")
        + s("10.0.0.1") + u32(5555) + s("10.0.0.2") + u32(22) + boolean(True) + s("/tmp/ssh-abcdefghij/agent.4"),
    "start-session-shell": bytes([15]) + u32(16) + u64(4) + s("erin") + bytes([0]) + u32(0) + boolean(False) + s("") + u32(0) + s("") + u32(0)
        + boolean(False),
    "signal-session": bytes([16]) + u32(17) + u64(4) + u64(7) + u32(15),
    "reply-session-started": bytes([46]) + u32(15) + u64(7) + boolean(True) + boolean(True) + s("motd\n"),
    "reply-session-refused": bytes([47]) + u32(16) + s("no account\n") + u32(254),
    "session-exited": bytes([2]) + u64(7) + boolean(True) + u32(9),
    # Forwarding (issue 18): the policy, sockets made as the user, the agent's socket, a privileged port.
    "forwarding-policy": bytes([20]) + u32(18) + u64(4),
    "connect-stream-local": bytes([21]) + u32(19) + u64(4) + s("/run/app.sock"),
    "listen-stream-local": bytes([22]) + u32(20) + u64(4) + s("/tmp/forward.sock"),
    "make-agent-socket": bytes([23]) + u32(21) + u64(4),
    "remove-agent-socket": bytes([24]) + u32(22) + u64(4) + s("/tmp/ssh-abcdefghij/agent.4"),
    "listen-privileged-tcp": bytes([25]) + u32(23) + u64(4) + s("127.0.0.1") + u32(80),
    "reply-forwarding-policy": bytes([50]) + u32(18) + bytes([3, 1, 2]) + boolean(True) + u32(2) + s("db:5432") + s("*:80")
        + boolean(False) + boolean(True) + u32(0o177) + boolean(True),
    "reply-descriptor": bytes([51]) + u32(19),
    "reply-agent-socket": bytes([52]) + u32(21) + s("/tmp/ssh-abcdefghij/agent.4"),
}
for name, data in seeds.items():
    open(os.path.join(out, name), "wb").write(data)
PYTHON

# FuzzAgentReply: ssh-agent reply bodies (after the length prefix): identities answers with an ed25519 key, with an
# RSA key, a certificate and an empty comment, and with none; a sign response; SSH_AGENT_FAILURE.
mkdir -p Seeds/FuzzAgentReply
ED25519=$(blob "$keys/ed25519.pub" | od -An -tx1 | tr -d ' \n') RSA=$(blob "$keys/rsa2048.pub" | od -An -tx1 | tr -d ' \n') \
CERT=$(blob ../Tests/Fixtures/certs/host-cert.pub | od -An -tx1 | tr -d ' \n') python3 - Seeds/FuzzAgentReply <<'PYTHON'
import os, struct, sys
out = sys.argv[1]
def s(b):
    if isinstance(b, str): b = b.encode()
    return struct.pack(">I", len(b)) + b
ed25519, rsa, cert = (bytes.fromhex(os.environ[name]) for name in ("ED25519", "RSA", "CERT"))
def identities(*entries): return bytes([12]) + struct.pack(">I", len(entries)) + b"".join(s(blob) + s(comment) for blob, comment in entries)
seeds = {
    "identities-ed25519": identities((ed25519, "fixture-ed25519")),
    "identities-three": identities((rsa, "rsa"), (cert, ""), (ed25519, "/home/me/.ssh/id_ed25519")),
    "identities-none": identities(),
    "sign-response-ed25519": bytes([14]) + s(s("ssh-ed25519") + s(bytes(range(64)))),
    "sign-response-rsa-sha2-512": bytes([14]) + s(s("rsa-sha2-512") + s(bytes(256))),
    "failure": bytes([5]),
}
for name, data in seeds.items():
    open(os.path.join(out, name), "wb").write(data)
PYTHON
chmod 644 Seeds/FuzzAgentReply/*

# FuzzSOCKSRequest: what a SOCKS client sends to `shh -D`, one stream per form (some with a pipelined payload),
# and the refusals: SOCKS4 BIND, SOCKS5 without "no authentication", UDP ASSOCIATE, an unknown address type.
mkdir -p Seeds/FuzzSOCKSRequest
python3 - Seeds/FuzzSOCKSRequest <<'PYTHON'
import os, struct, sys
out = sys.argv[1]
payload = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
greeting = b"\x05\x01\x00"
def v4(command, port, address, user=b"alice"): return bytes([4, command]) + struct.pack(">H", port) + bytes(address) + user + b"\0"
def v5(command, atyp, address, port): return bytes([5, command, 0, atyp]) + address + struct.pack(">H", port)
seeds = {
    "socks4-connect": v4(1, 22, [192, 0, 2, 7]),
    "socks4-connect-payload": v4(1, 80, [127, 0, 0, 1], b"") + payload,
    "socks4a-connect": v4(1, 443, [0, 0, 0, 1]) + b"example.com\0",
    "socks4a-connect-payload": v4(1, 80, [0, 0, 0, 9], b"") + b"localhost\0" + payload,
    "socks4-bind": v4(2, 21, [192, 0, 2, 1]),
    "socks5-ipv4": greeting + v5(1, 1, bytes([127, 0, 0, 1]), 8080),
    "socks5-domain-payload": greeting + v5(1, 3, bytes([11]) + b"example.com", 80) + payload,
    "socks5-ipv6": greeting + v5(1, 4, bytes(15) + b"\x01", 22),
    "socks5-ipv6-mapped": b"\x05\x02\x02\x00" + v5(1, 4, bytes(10) + b"\xff\xff\xc0\x00\x02\x07", 22),
    "socks5-username-only": b"\x05\x01\x02",
    "socks5-udp-associate": greeting + v5(3, 1, bytes(4), 0),
    "socks5-address-type-5": greeting + v5(1, 5, bytes(4), 80),
    "http-get": payload,
}
for name, data in seeds.items():
    open(os.path.join(out, name), "wb").write(data)
PYTHON
chmod 644 Seeds/FuzzSOCKSRequest/*
