# Runs a program with a pseudo-terminal as its controlling terminal (as when a person types at it), answers every
# prompt ending in PROMPT_SUFFIX that appears on that terminal with ANSWER, and prints a JSON object:
# {"status", "stdout", "stderr", "terminal", "prompts"}. The program's stdin is /dev/null and its stdout and stderr
# are pipes, so what it writes to the terminal is apart from its output. Used by ShhToolsInteropTests.swift.
#   answer_on_terminal.py PROMPT_SUFFIX ANSWER PROGRAM [ARGUMENT ...]
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import termios
import time

suffix, answer, command = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3:]
master, slave = os.openpty()


def become_terminal_session():
    # The test runner's threads block signals and children inherit that; a person's shell would not.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for number in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)


with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True,
                             preexec_fn=become_terminal_session, pass_fds=(slave,))
    os.close(slave)
    terminal, answered, deadline = b"", 0, time.time() + 30
    while time.time() < deadline:
        if select.select([master], [], [], 0.1)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: no process has the terminal open any more
                chunk = b""
            terminal += chunk
            # A prompt is answered once it has been written in full: the terminal text ends with the suffix.
            prompts = terminal.count(suffix)
            if prompts > answered and terminal.rstrip(b" ").endswith(suffix.rstrip(b" ")):
                os.write(master, answer + b"\n")
                answered = prompts
        if child.poll() is not None:
            break
    else:
        child.kill()
    status = child.wait()
    stdout.seek(0)
    stderr.seek(0)
    print(json.dumps({"status": status, "stdout": stdout.read().decode(errors="replace"),
                      "stderr": stderr.read().decode(errors="replace"),
                      "terminal": terminal.decode(errors="replace"), "prompts": answered}))
