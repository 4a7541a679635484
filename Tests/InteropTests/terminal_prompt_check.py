# Drives shh-keygen through a pseudo-terminal (its controlling terminal, like a person's):
# waits for the passphrase prompt, checks echo is off, then either types a passphrase or sends Ctrl-C,
# and reports the terminal's echo flag afterwards. Used by TerminalPromptTests.swift.
import fcntl, os, signal, sys, termios, time, subprocess, select

binary, key, action = sys.argv[1], sys.argv[2], sys.argv[3]
master, slave = os.openpty()


def become_terminal_session():
    # A person's shell gives the program default signal handling; a test runner may not (blocked or
    # ignored SIGINT would be inherited), so reset it before making the pty the controlling terminal.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for number in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


child = subprocess.Popen(
    [binary, "-y", "-f", key],
    stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
    preexec_fn=become_terminal_session, close_fds=True)
output = b""
deadline = time.time() + 20
while b"Enter passphrase: " not in output and time.time() < deadline:
    ready, _, _ = select.select([master], [], [], 0.2)
    if ready:
        output += os.read(master, 4096)
echo_during = bool(termios.tcgetattr(slave)[3] & termios.ECHO)
if action == "interrupt":
    os.write(master, b"\x03")
else:
    os.write(master, action.encode() + b"\n")
status = child.wait(timeout=20)
time.sleep(0.1)
while select.select([master], [], [], 0.1)[0]:
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    output += chunk
echo_after = bool(termios.tcgetattr(slave)[3] & termios.ECHO)
print(f"prompted={b'Enter passphrase: ' in output} echo_during={echo_during} echo_after={echo_after} status={status}")
print(output.decode(errors="replace").replace("\r", ""))
