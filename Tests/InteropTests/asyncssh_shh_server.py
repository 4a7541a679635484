# asyncssh as a second server for the shh command (after OpenSSH's sshd), used by ShhToolsInteropTests.swift.
#   HOSTKEY AUTHORIZED_KEYS PORTFILE PASSWORD
# Serves on 127.0.0.1 (the random port is written to PORTFILE once listening) until killed. Public keys in
# AUTHORIZED_KEYS are let in, and the password PASSWORD ("-" for no password authentication). Each exec request
# runs its command with /bin/sh, stdin, stdout and stderr streamed both ways, and ends with the command's exit
# status; ASYNCSSH_USER in the command's environment is the user name the client logged in as. asyncssh's debug
# log goes to standard output (the test's server log): its "Key exchange alg:" lines say what was negotiated.
import asyncio
import logging
import os
import signal
import sys

import asyncssh


class Server(asyncssh.SSHServer):
    def __init__(self, password):
        self.password = password

    def begin_auth(self, username):
        return True

    def password_auth_supported(self):
        return self.password is not None

    def validate_password(self, username, password):
        return password == self.password


async def pump(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()


async def feed(process, child):
    try:
        await pump(process.stdin, child.stdin)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        child.stdin.close()


async def run_command(process):
    environment = dict(os.environ, ASYNCSSH_USER=process.get_extra_info("username") or "")
    child = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", process.command or "", env=environment,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    feeder = asyncio.ensure_future(feed(process, child))
    await asyncio.gather(pump(child.stdout, process.stdout), pump(child.stderr, process.stderr))
    status = await child.wait()
    feeder.cancel()
    process.exit(status if status >= 0 else 128 - status)


async def serve(host_key, authorized_keys, port_file, password):
    server = await asyncssh.create_server(
        lambda: Server(None if password == "-" else password), "127.0.0.1", 0,
        server_host_keys=[host_key], authorized_client_keys=authorized_keys,
        process_factory=run_command, encoding=None, allow_scp=False)
    port = server.sockets[0].getsockname()[1]
    with open(port_file + ".tmp", "w") as handle:
        handle.write(str(port))
    os.rename(port_file + ".tmp", port_file)
    await asyncio.Event().wait()


# A long-lived server must not hold descriptors it inherited by accident (other tests' pipes, which their readers
# wait to see closed), and must hear the test's SIGTERM although the test runner's threads block signals.
os.closerange(3, 65536)
logging.basicConfig(stream=sys.stdout, level=logging.DEBUG, format="%(message)s")
asyncssh.set_debug_level(2)
signal.pthread_sigmask(signal.SIG_SETMASK, [])
signal.signal(signal.SIGTERM, signal.SIG_DFL)
asyncio.run(serve(*sys.argv[1:5]))
