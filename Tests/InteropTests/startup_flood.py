# A hostile crowd for shhd's startup limits: `hanging` connections from one address that connect and never say a
# word, and `kex_workers` threads from another that complete key exchanges (paramiko) and leave without
# authenticating, over and over, until standard input closes. Prints what happened to each kind at the end.
import socket, struct, sys, threading, time
import paramiko

port, hang_source, hanging, kex_source, kex_workers = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
stop = threading.Event()
counts = {"hang_open": 0, "hang_closed": 0, "kex_done": 0, "kex_refused": 0}
lock = threading.Lock()

# Linux's IP_BIND_ADDRESS_NO_PORT: with a source address bound, take the port at connect time (per destination)
# rather than from the machine's whole ephemeral range at bind time.
IP_BIND_ADDRESS_NO_PORT = 24

def attacker_socket(source):
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    # Closed with a reset, as a flood's sockets are: no TIME_WAIT piles up on this machine's ports, which the rest
    # of the test suite needs (thousands of short connections a second would otherwise exhaust them).
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.bind((source, 0))
    return s

def count(name):
    with lock:
        counts[name] += 1

def hang():
    sockets = []
    for _ in range(hanging):
        if stop.is_set():
            break
        s = attacker_socket(hang_source)
        try:
            s.connect(("127.0.0.1", port))
            sockets.append(s)
        except OSError:
            count("hang_closed")
            s.close()
    # A connection shhd refused ends (EOF); an admitted one gets shhd's version line. Either comes soon, but on a
    # busy machine (shhd is also fighting the key-exchange flood) not always within a fraction of a second: a
    # refused connection whose EOF was late was counted as admitted.
    for s in sockets:
        s.settimeout(5)
        try:
            if s.recv(1) == b"":
                count("hang_closed")
                continue
        except socket.timeout:
            pass
        except OSError:
            count("hang_closed")
            continue
        count("hang_open")
    stop.wait()
    for s in sockets:
        s.close()

def kex():
    while not stop.is_set():
        s = attacker_socket(kex_source)
        try:
            s.settimeout(10)
            s.connect(("127.0.0.1", port))
            transport = paramiko.Transport(s)
            transport.start_client(timeout=10)
            count("kex_done")
            transport.close()
        except Exception:
            count("kex_refused")
        finally:
            s.close()

threads = [threading.Thread(target=hang, daemon=True)] + [threading.Thread(target=kex, daemon=True) for _ in range(kex_workers)]
for thread in threads:
    thread.start()
print("started", flush=True)
sys.stdin.read()
stop.set()
for thread in threads:
    thread.join(timeout=15)
print(" ".join(f"{name}={value}" for name, value in counts.items()), flush=True)
