# A hostile crowd for shhd's startup limits: `hanging` connections from one address that connect and never say a
# word, and `kex_workers` threads from another that complete key exchanges (paramiko) and leave without
# authenticating, over and over, until standard input closes. Prints what happened to each kind at the end.
import socket, sys, threading, time
import paramiko

port, hang_source, hanging, kex_source, kex_workers = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
stop = threading.Event()
counts = {"hang_open": 0, "hang_closed": 0, "kex_done": 0, "kex_refused": 0}
lock = threading.Lock()

def count(name):
    with lock:
        counts[name] += 1

def hang():
    sockets = []
    for _ in range(hanging):
        if stop.is_set():
            break
        s = socket.socket()
        s.bind((hang_source, 0))
        try:
            s.connect(("127.0.0.1", port))
            sockets.append(s)
        except OSError:
            count("hang_closed")
            s.close()
    # A connection shhd refused ends at once (EOF); the admitted ones stay open, silent, until the end.
    for s in sockets:
        s.settimeout(0.2)
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
        s = socket.socket()
        s.bind((kex_source, 0))
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
