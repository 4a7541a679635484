# asyncssh as the third transport peer (after OpenSSH 9.2 and 10), used by AsyncSSHTransportTests.swift.
#   client PORT KNOWN_HOSTS KEX CIPHER MAC HOSTKEYALG  -> connects to our server; prints "REACHED-AUTH <methods>"
#                                                        when the server refused authentication (the transport worked)
#   server HOSTKEY PORTFILE KEX                        -> serves on 127.0.0.1 (random port written to PORTFILE), refusing
#                                                        all authentication after offering "password"; runs until killed
# "-" for an algorithm means asyncssh's defaults.
import asyncio
import sys

import asyncssh


def algorithms(value):
    return () if value == "-" else [value]


async def run_client(port, known_hosts, kex, cipher, mac, host_key_algorithm):
    try:
        options = asyncssh.SSHClientConnectionOptions(
            known_hosts=known_hosts, username="root", client_keys=None, password=None, agent_path=None,
            kex_algs=algorithms(kex), encryption_algs=algorithms(cipher), mac_algs=algorithms(mac),
            server_host_key_algs=algorithms(host_key_algorithm), preferred_auth="none,password,publickey",
        )
        async with asyncssh.connect("127.0.0.1", port, options=options) as connection:
            print("UNEXPECTED-LOGIN")
    except asyncssh.PermissionDenied as error:
        print("REACHED-AUTH", error)
    except Exception as error:  # the test shows the message
        print("FAILED", type(error).__name__, error)
        sys.exit(1)


class RefusingServer(asyncssh.SSHServer):
    def begin_auth(self, username):
        return True

    def password_auth_supported(self):
        return True

    def validate_password(self, username, password):
        return False


async def run_server(host_key, port_file, kex):
    server = await asyncssh.create_server(
        RefusingServer, "127.0.0.1", 0, server_host_keys=[host_key], kex_algs=algorithms(kex),
    )
    port = server.sockets[0].getsockname()[1]
    with open(port_file + ".tmp", "w") as handle:
        handle.write(str(port))
    import os
    os.rename(port_file + ".tmp", port_file)
    await asyncio.Event().wait()


if sys.argv[1] == "client":
    asyncio.run(run_client(int(sys.argv[2]), *sys.argv[3:8]))
else:
    # A long-lived server must not hold descriptors it inherited by accident (other tests' pipes, which
    # their readers wait to see closed): keep only stdin, stdout and stderr.
    import os
    import signal
    os.closerange(3, 65536)
    # The test runner's threads block signals and children inherit that mask: without this, the test's SIGTERM
    # would never arrive and the server would outlive the test.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    asyncio.run(run_server(*sys.argv[2:5]))
