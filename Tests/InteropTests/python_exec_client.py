# paramiko and asyncssh as clients of our server, used by ServerSessionInteropTests.swift:
#   python_exec_client.py paramiko|asyncssh PORT KEYFILE KNOWN_HOSTS KEX COMMAND [USER]
# Prints "STATUS <n>", then "STDOUT <text>", then "STDERR <text>" ("-" for KEX: the library's default).
import asyncio
import sys

library, port, key_file, known_hosts, kex, command = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
user = sys.argv[7] if len(sys.argv) > 7 else "alice"


def report(status, out, err):
    print("STATUS", status)
    print("STDOUT", out.strip())
    print("STDERR", err.strip())


if library == "paramiko":
    import paramiko
    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect("127.0.0.1", port=port, username=user, key_filename=key_file, allow_agent=False, look_for_keys=False)
    stdin, stdout, stderr = client.exec_command(command)
    out, err = stdout.read().decode(), stderr.read().decode()
    report(stdout.channel.recv_exit_status(), out, err)
    client.close()
else:
    import asyncssh

    async def main():
        options = dict(known_hosts=known_hosts, username=user, client_keys=[key_file], agent_path=None)
        if kex != "-":
            options["kex_algs"] = [kex]
        async with asyncssh.connect("127.0.0.1", port, **options) as connection:
            result = await connection.run(command, check=False)
            report(result.exit_status, result.stdout, result.stderr)

    asyncio.run(main())
