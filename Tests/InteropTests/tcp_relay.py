#!/usr/bin/env python3
"""A ProxyCommand for tests: connects to HOST PORT and relays its standard input and output to the socket,
logging its arguments (and a note on stderr) so a test can tell the connection really went through it."""
import os, select, socket, sys

host, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(log, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\n")
sys.stderr.write("relay: connecting to %s port %d\n" % (host, port))
sock = socket.create_connection((host, port))
inputs = [0, sock]
while inputs:
    readable, _, _ = select.select(inputs, [], [])
    if 0 in readable:
        data = os.read(0, 65536)
        if data:
            sock.sendall(data)
        else:
            sock.shutdown(socket.SHUT_WR)
            inputs.remove(0)
    if sock in readable:
        data = sock.recv(65536)
        if not data:
            break
        os.write(1, data)
