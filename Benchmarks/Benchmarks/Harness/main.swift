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
// shhd first, on the main thread (no top-level await in this file: that would end the main thread before any of it
// ran): its network process changes user on every thread, the main one included, and is started again as
// `shh-bench shhd ...`.
if arguments.count > 1, arguments[1] == "shhd" {
    exit(Shhd.runWithMainThreadWaiting(Array(arguments.dropFirst(2)), relaunchPrefix: ["shhd"]))
}

/// The harness's async work, its exit status back to the waiting main thread.
func runHarness(_ arguments: [String]) async -> Int32 {
    let options = parseOptions(arguments.dropFirst(2))
    do {
        switch arguments.count > 1 ? arguments[1] : "" {
        case "run": try await Harness(options: options).run()
        case "client": return try await runClient(options)
        case "load": try await runLoad(options)
        case "hold": try await runHold(options)
        case "shh": return await Shh.run(Array(arguments.dropFirst(2)))
        default:
            FileHandle.standardError.write(Data("usage: shh-bench run [--full] [--json FILE]\n".utf8))
            return 2
        }
        return 0
    } catch {
        FileHandle.standardError.write(Data("shh-bench: \(error)\n".utf8))
        return 1
    }
}

final class HarnessOutcome: @unchecked Sendable {
    // Written once by the task, read after the semaphore says so.
    var status: Int32 = 1
    let done = DispatchSemaphore(value: 0)
}
let outcome = HarnessOutcome()
Task.detached {
    outcome.status = await runHarness(arguments)
    outcome.done.signal()
}
outcome.done.wait()
exit(outcome.status)
