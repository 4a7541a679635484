"""Both ends of a forwarded connection for the port forwarding tests.

echo-server tcp PORT | unix PATH
    Listens (127.0.0.1 for TCP), prints "ready" once it does, and echoes each connection until the client's end
    of input, then shuts its own writing side down: a client that half-closes still gets every byte back.
echo-client tcp HOST PORT SIZE | unix PATH SIZE
    Sends SIZE random bytes while reading, shuts its writing side down after the last one (a half-close), reads
    to the end, and prints "sent=SHA256 received=SHA256 bytes=N". Every socket operation has a 120 s deadline.
"""
import hashlib
import os
import socket
import sys
import threading


def serve(listener):
    print("ready", flush=True)
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=echo, args=(connection,), daemon=True).start()


def echo(connection):
    try:
        while True:
            data = connection.recv(65536)
            if not data:
                break
            connection.sendall(data)
        connection.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        connection.close()


def client(connection, size):
    connection.settimeout(120)
    payload = os.urandom(size)
    received = hashlib.sha256()
    count = 0

    def send():
        connection.sendall(payload)
        connection.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    while True:
        data = connection.recv(65536)
        if not data:
            break
        received.update(data)
        count += len(data)
    sender.join(120)
    print(f"sent={hashlib.sha256(payload).hexdigest()} received={received.hexdigest()} bytes={count}", flush=True)


def main():
    role, family = sys.argv[1], sys.argv[2]
    if role == "echo-server":
        if family == "tcp":
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", int(sys.argv[3])))
        else:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(sys.argv[3])
        listener.listen(64)
        serve(listener)
    elif family == "tcp":
        connection = socket.create_connection((sys.argv[3], int(sys.argv[4])), timeout=120)
        client(connection, int(sys.argv[5]))
    else:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(120)
        connection.connect(sys.argv[3])
        client(connection, int(sys.argv[4]))


if __name__ == "__main__":
    main()
