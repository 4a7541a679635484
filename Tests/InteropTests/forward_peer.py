#!/usr/bin/env python3
"""Both ends of a forwarded connection, for shhd's forwarding tests.

  forward_peer.py serve echo|digest|http tcp         print the TCP port on 127.0.0.1, then serve until killed
  forward_peer.py serve echo|digest|http unix PATH   the same on a Unix socket (prints "ready")
  forward_peer.py send tcp HOST PORT SIZE | unix PATH SIZE

echo: everything read is written back; at the client's end of input (half-close) the server's writing side is shut
too. digest: reads until the client's end of input, then answers with the SHA-256 of what it read (nc -N's use).
whoami: answers "uid=N" with the connecting process's uid (SO_PEERCRED; Unix sockets).
http: one small HTTP/1.0 answer ("forwarded-http-ok") per request.
send: writes SIZE pseudo-random bytes while reading what comes back, shuts its writing side, reads to the end, and
prints "sent HEX received HEX bytes N" (SHA-256 of each direction)."""
import hashlib, os, socket, struct, sys, threading


def serve_one(conn, kind):
    try:
        if kind == "echo":
            while True:
                data = conn.recv(1 << 16)
                if not data:
                    conn.shutdown(socket.SHUT_WR)
                    break
                conn.sendall(data)
            # Wait for the other side to close too.
            while conn.recv(1 << 16):
                pass
        elif kind == "digest":
            digest = hashlib.sha256()
            while True:
                data = conn.recv(1 << 16)
                if not data:
                    break
                digest.update(data)
            conn.sendall(digest.hexdigest().encode() + b"\n")
            conn.shutdown(socket.SHUT_WR)
        elif kind == "whoami":
            # Who connected, as the kernel recorded it at connect (a Unix socket's peer credentials).
            pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
            conn.sendall(b"uid=%d\n" % uid)
            conn.shutdown(socket.SHUT_WR)
        elif kind == "http":
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(4096)
                if not data:
                    break
                request += data
            body = b"forwarded-http-ok\n"
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    except OSError:
        pass
    finally:
        conn.close()


def serve(kind, family, path=None):
    if family == "tcp":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        print(listener.getsockname()[1], flush=True)
    else:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        if len(sys.argv) > 5:
            os.chmod(path, int(sys.argv[5], 8))
        listener.listen(64)
        print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve_one, args=(conn, kind), daemon=True).start()


def send(sock, size):
    sent = hashlib.sha256()
    received = hashlib.sha256()
    count = [0]

    def reader():
        while True:
            data = sock.recv(1 << 16)
            if not data:
                break
            received.update(data)
            count[0] += len(data)

    thread = threading.Thread(target=reader)
    thread.start()
    seed = hashlib.sha256(b"shh forwarding").digest()
    block = b""
    while len(block) < (1 << 16):
        seed = hashlib.sha256(seed).digest()
        block += seed
    left = size
    while left > 0:
        chunk = block[: min(left, len(block))]
        sock.sendall(chunk)
        sent.update(chunk)
        left -= len(chunk)
    sock.shutdown(socket.SHUT_WR)
    thread.join()
    print("sent %s received %s bytes %d" % (sent.hexdigest(), received.hexdigest(), count[0]), flush=True)


def main():
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    elif sys.argv[1] == "send":
        if sys.argv[2] == "tcp":
            sock = socket.create_connection((sys.argv[3], int(sys.argv[4])), timeout=60)
            size = int(sys.argv[5])
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(60)
            sock.connect(sys.argv[3])
            size = int(sys.argv[4])
        send(sock, size)


if __name__ == "__main__":
    main()
