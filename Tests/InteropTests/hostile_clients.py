# Hostile clients against shhd, one scenario per connection, cycled `count` times: garbage, absurd lengths, a NUL in
# the user name, leaving after the key exchange, pings before authentication, and (logged in) unknown message
# numbers, data for a channel that does not exist, floods of env, window-change and global requests. Prints
# "SCENARIOS n" and, for each scenario whose outcome was not what shhd should do, "UNEXPECTED name: what".
import os, socket, sys, time
import paramiko
from paramiko.message import Message

port, known_hosts, key_file, user, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
key = paramiko.Ed25519Key.from_private_key_file(key_file)
host_keys = paramiko.HostKeys(known_hosts).lookup("[127.0.0.1]:%d" % port)

def raw(data):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.recv(256)
        try:
            s.sendall(data)
            while s.recv(65536):
                pass
        except OSError:
            pass
    return True

def transport():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t = paramiko.Transport(s)
    t.start_client(timeout=10)
    server_key = t.get_remote_server_key()
    if host_keys is None or host_keys.get(server_key.get_name()) != server_key:
        raise SystemExit("unexpected host key")
    return t

def logged_in():
    t = transport()
    t.auth_publickey(user, key)
    return t

def still_runs(t):
    channel = t.open_session(timeout=10)
    channel.exec_command("echo alive")
    out = channel.makefile("rb").read()
    return channel.recv_exit_status() == 0 and out == b"alive\n"

def garbage():
    return raw(os.urandom(65536))

def absurd_length():
    return raw(b"SSH-2.0-hostile\r\n" + b"\xff\xff\xff\xff" + os.urandom(64))

def nul_user():
    t = transport()
    try:
        t.auth_password(user + "\0x", "whatever")
        return False
    except Exception:
        return True
    finally:
        t.close()

def leave_after_kex():
    transport().close()
    return True

def ping_before_auth():
    t = transport()
    m = Message()
    m.add_byte(bytes([192]))
    m.add_string(b"ping")
    t._send_message(m)
    t.auth_publickey(user, key)
    ok = still_runs(t)
    t.close()
    return ok

def unknown_message_after_auth():
    t = logged_in()
    for number in (120, 101, 127, 60):
        m = Message()
        m.add_byte(bytes([number]))
        m.add_string(b"junk")
        t._send_user_message(m)
    ok = still_runs(t)
    t.close()
    return ok

def data_for_no_channel():
    t = logged_in()
    m = Message()
    m.add_byte(bytes([94]))
    m.add_int(4242)
    m.add_string(b"x")
    t._send_user_message(m)
    deadline = time.time() + 10
    while t.is_active() and time.time() < deadline:
        time.sleep(0.02)
    return not t.is_active()

def env_flood():
    t = logged_in()
    channel = t.open_session(timeout=10)
    for index in range(300):
        channel.set_environment_variable("V%d" % index, "x" * 100)
    channel.exec_command("echo alive")
    ok = channel.makefile("rb").read() == b"alive\n"
    t.close()
    return ok

def window_change_flood():
    t = logged_in()
    channel = t.open_session(timeout=10)
    channel.exec_command("sleep 0.2; echo alive")
    for index in range(300):
        channel.resize_pty(width=80 + index % 50, height=24)
    ok = channel.makefile("rb").read() == b"alive\n"
    t.close()
    return ok

def global_request_flood():
    t = logged_in()
    for _ in range(300):
        t.global_request("hostile@example.com", wait=False)
    ok = still_runs(t)
    t.close()
    return ok

scenarios = [garbage, absurd_length, nul_user, leave_after_kex, ping_before_auth, unknown_message_after_auth,
             data_for_no_channel, env_flood, window_change_flood, global_request_flood]
ran = 0
for round in range(count):
    scenario = scenarios[round % len(scenarios)]
    try:
        ok = scenario()
    except Exception as error:
        ok = False
        print("UNEXPECTED %s: %r" % (scenario.__name__, error), flush=True)
        continue
    ran += 1
    if not ok:
        print("UNEXPECTED %s: wrong outcome" % scenario.__name__, flush=True)
print("SCENARIOS", ran, flush=True)
