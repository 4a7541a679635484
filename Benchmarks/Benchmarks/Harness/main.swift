// shh-bench: side-by-side benchmarks of shh against OpenSSH on this machine, in one run.
//
//   shh-bench run [--full] [--json FILE]
//
// starts a private sshd and shhd on free loopback ports and measures, interleaving the pairings
// (A B C ... A B C ...) so that load from elsewhere hits all alike, and reports medians and ratios against ssh→sshd
// from the same run — with ssh→sshd measured twice, so the noise is visible:
//   • bulk throughput per cipher, both directions;   • exec latency (`true`), curve25519-sha256 and default KEX;
//   • server CPU per connection and connections per second, one driver (ours) against both servers;
//   • server memory (anonymous PSS of the process tree) per idle connection, without and with an idle shell;
//   • this machine's ceilings: openssl speed per cipher, raw loopback TCP.
// Quick mode (default) takes under two minutes; --full moves 1 GiB per transfer and repeats more.
//
// Pairings: ssh→sshd; shh→sshd (the shh command: `shh-bench shh ...` runs ShhCommand, the code of the shh
// executable, with ssh's own arguments); lib→sshd (a bare SSHClient process); ssh→shhd, shh→shhd and lib→shhd
// (`shh-bench shhd ...` runs ShhdCommand, the code of the shhd executable, as root like sshd); in-process (client and
// server in one process, shh-throughput). As root, sessions on both servers run as the account "shh-bench" (created
// if missing, shell /bin/sh), so no shell start-up file weighs on either side. The other subcommands are the
// harness's own agents (see Agents.swift).
import Foundation
import ShhCommand
import ShhdCommand

func parseOptions(_ arguments: ArraySlice<String>) -> [String: String] {
    var options: [String: String] = [:]
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        guard argument.hasPrefix("--") else { continue }
        let name = String(argument.dropFirst(2))
        if ["full", "quick"].contains(name) {
            options[name] = "yes"
        } else {
            options[name] = iterator.next() ?? ""
        }
    }
    return options
}

let arguments = CommandLine.arguments
let options = parseOptions(arguments.dropFirst(2))
do {
    switch arguments.count > 1 ? arguments[1] : "" {
    case "run": try await Harness(options: options).run()
    case "client": exit(try await runClient(options))
    case "load": try await runLoad(options)
    case "hold": try await runHold(options)
    case "shh": exit(await Shh.run(Array(arguments.dropFirst(2))))
    case "shhd": exit(await Shhd.run(Array(arguments.dropFirst(2))))
    default:
        FileHandle.standardError.write(Data("usage: shh-bench run [--full] [--json FILE]\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("shh-bench: \(error)\n".utf8))
    exit(1)
}
