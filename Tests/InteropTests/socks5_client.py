#!/usr/bin/env python3
"""A minimal SOCKS5 client (RFC 1928, "no authentication", CONNECT by domain name) for the interop tests.

    socks5_client.py PROXY_PORT HOST PORT

Connects through the SOCKS5 proxy on 127.0.0.1:PROXY_PORT (as `shh -D PROXY_PORT` or `ssh -D` offers it) to
HOST:PORT, sends stdin to the target and half-closes at stdin's end, and writes everything the target sends to
stdout. Exits 0 when the relay ran to the end, 1 with a message on stderr when the proxy refuses (naming its
reply code) or breaks the protocol. Standard library only, so the tests need nothing installed for it.
"""

import socket
import struct
import sys
import threading

REPLY_NAMES = {
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused",
    0x06: "TTL expired",
    0x07: "command not supported",
    0x08: "address type not supported",
}


class Refused(Exception):
    pass


def read_exactly(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise Refused(f"proxy closed the connection after {len(data)} of {count} bytes of its reply")
        data += chunk
    return data


def handshake(sock, host, port):
    sock.sendall(b"\x05\x01\x00")                       # version 5, one method: no authentication
    version, method = read_exactly(sock, 2)
    if version != 5:
        raise Refused(f"proxy answered the greeting with version {version}, not 5")
    if method != 0x00:
        raise Refused(f"proxy refused method selection: reply code 0x{method:02x}")
    name = host.encode("utf-8")
    if not 0 < len(name) <= 255:
        raise Refused(f"host name must be 1 to 255 bytes, not {len(name)}")
    sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", port))
    version, code, _reserved, address_type = read_exactly(sock, 4)
    if version != 5:
        raise Refused(f"proxy answered the request with version {version}, not 5")
    # Read the bound address whatever the outcome, so nothing of the reply is mistaken for data.
    if address_type == 1:
        read_exactly(sock, 4 + 2)
    elif address_type == 4:
        read_exactly(sock, 16 + 2)
    elif address_type == 3:
        (length,) = read_exactly(sock, 1)
        read_exactly(sock, length + 2)
    else:
        raise Refused(f"proxy replied with address type {address_type}")
    if code != 0x00:
        raise Refused(f"proxy refused the connection: reply code 0x{code:02x} ({REPLY_NAMES.get(code, 'unknown')})")


def pump_stdin(sock):
    stdin = sys.stdin.buffer
    try:
        while True:
            chunk = stdin.read1(65536)
            if not chunk:
                break
            sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass                                            # the target went away; the reader reports the end


def main():
    if len(sys.argv) != 4:
        print("usage: socks5_client.py PROXY_PORT HOST PORT", file=sys.stderr)
        return 2
    proxy_port, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    try:
        sock = socket.create_connection(("127.0.0.1", proxy_port))
    except OSError as error:
        print(f"socks5_client: cannot connect to the proxy on 127.0.0.1:{proxy_port}: {error}", file=sys.stderr)
        return 1
    try:
        handshake(sock, host, port)
    except Refused as refusal:
        print(f"socks5_client: {refusal}", file=sys.stderr)
        return 1
    writer = threading.Thread(target=pump_stdin, args=(sock,), daemon=True)
    writer.start()
    stdout = sys.stdout.buffer
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            stdout.write(chunk)
            stdout.flush()
    except OSError as error:
        print(f"socks5_client: connection failed: {error}", file=sys.stderr)
        return 1
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
