// The orchestrator of `shh-bench run`: sets up both servers, runs every measurement interleaved, prints the tables
// and writes the JSON.
import Foundation

/// One row of a result table: a measurement per pairing, with the ratio to ssh→sshd.
struct ResultRow: Codable {
    var section: String
    var label: String
    var unit: String
    /// Median per pairing name.
    var medians: [String: Double]
    /// Median / ssh→sshd's median (for "lower is better" rows, the ratio of costs).
    var ratios: [String: Double]
}

struct Report: Codable {
    var date: String
    var machine: String
    var openssh: String
    var mode: String
    var rows: [ResultRow]
    var ceilings: [String: Double]
}

final class Harness {
    let full: Bool
    let jsonPath: String?
    let bytes: Int
    let runs: Int
    let ciphers: [(name: String, mac: String?)]
    let execRuns: Int
    let loadConnections: Int
    let idleConnections: Int
    let only: String?
    /// --pairings: comma-separated pairing names to measure (tunnels only), e.g. "ssh→sshd,ssh→shhd".
    let pairingFilter: [String]?

    let me = CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0]
        : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]
    var work = ""
    var user = ""
    var sshdPort = 0, ourPort = 0
    var sshdPID: pid_t = 0
    var ourServer: Process?
    var rows: [ResultRow] = []

    static let sshdBaseline = "ssh→sshd"
    static let sshdAgain = "ssh→sshd again"
    static let clientPairings = ["ssh→sshd", "ssh→sshd again", "shh→sshd", "lib→sshd", "ssh→shhd", "shh→shhd", "lib→shhd"]

    init(options: [String: String]) {
        full = options["full"] == "yes"
        jsonPath = options["json"]
        bytes = full ? 1 << 30 : 256 << 20
        runs = full ? 5 : 3
        ciphers = full
            ? [("aes128-gcm@openssh.com", nil), ("aes256-gcm@openssh.com", nil), ("chacha20-poly1305@openssh.com", nil),
               ("aes128-ctr", "hmac-sha2-256-etm@openssh.com")]
            : [("aes128-gcm@openssh.com", nil), ("chacha20-poly1305@openssh.com", nil)]
        execRuns = full ? 30 : 10
        loadConnections = full ? 400 : 100
        idleConnections = full ? 100 : 50
        only = options["only"]
        pairingFilter = options["pairings"].map { $0.split(separator: ",").map(String.init) }
    }

    func run() async throws {
        try setUp()
        defer { tearDown() }
        log("sshd on port \(sshdPort) (pid \(sshdPID)), shhd on port \(ourPort), sessions as \(user)")
        // --only SECTION runs one section (throughput, exec, connections, memory, tunnels).
        let only = only
        if only == nil || only == "throughput" { try throughput() }
        if only == nil || only == "exec" { try execLatency() }
        if only == nil || only == "connections" { try connectionCost() }
        if only == nil || only == "memory" { try idleMemory() }
        if only == nil || only == "tunnels" { try tunnels() }
        let ceilings = try measureCeilings()
        printReport(ceilings: ceilings)
        if let jsonPath {
            let report = Report(date: ISO8601DateFormatter().string(from: Date()), machine: machineDescription(),
                                openssh: (try? capture("/usr/bin/ssh", ["-V"])) ?? "", mode: full ? "full" : "quick", rows: rows, ceilings: ceilings)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: jsonPath))
            log("wrote \(jsonPath)")
        }
    }

    // MARK: Setup

    func setUp() throws {
        work = NSTemporaryDirectory() + "shh-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let keygen = "/usr/bin/ssh-keygen"
        for name in ["sshd_host", "shhd_host", "id"] {
            try timedRun(keygen, ["-q", "-t", "ed25519", "-N", "", "-f", "\(work)/\(name)"])
        }
        try FileManager.default.copyItem(atPath: "\(work)/id.pub", toPath: "\(work)/authorized_keys")
        chmod("\(work)/authorized_keys", 0o644)

        if getuid() == 0 {
            user = "shh-bench"
            if getpwnam(user) == nil {
                log("creating the account \(user) (shell /bin/sh) for benchmark sessions")
                try timedRun("/usr/sbin/useradd", ["--system", "--create-home", "--home-dir", "/var/lib/shh-bench", "--shell", "/bin/sh", user])
            }
            // useradd locks the password ("!"), and sshd without PAM refuses locked accounts even for keys: "*" is
            // "no password" without the lock.
            try timedRun("/usr/sbin/usermod", ["-p", "*", user])
            guard let account = getpwnam(user) else { throw HarnessFailure(description: "no account \(user)") }
            _ = account
        } else {
            user = String(cString: getpwuid(getuid()).pointee.pw_name)
        }

        // sshd
        sshdPort = try freePort()
        var config = serverConfig(port: sshdPort, hostKey: "\(work)/sshd_host") + """
            PidFile \(work)/sshd.pid
            MaxStartups 100:30:200

            """
        if (try? timedRun("/usr/sbin/sshd", ["-t", "-f", "/dev/null", "-o", "PerSourcePenalties=no"])) != nil { config += "PerSourcePenalties no\n" }
        try config.write(toFile: "\(work)/sshd_config", atomically: true, encoding: .utf8)
        try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        try timedRun("/usr/sbin/sshd", ["-f", "\(work)/sshd_config", "-E", "\(work)/sshd.log"])
        sshdPID = try waitFor("sshd's pid file") { (try? String(contentsOfFile: "\(self.work)/sshd.pid", encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }

        (ourServer, ourPort) = try startShhd()
        try rememberHostKey(port: sshdPort, publicKeyFile: "\(work)/sshd_host.pub")
        try rememberHostKey(port: ourPort)
    }

    /// What sshd and shhd are both configured with, so they are measured alike: loopback, one host key, the
    /// benchmark key, no PAM or passwords, quiet logs, the ciphers and MAC the harness measures.
    func serverConfig(port: Int, hostKey: String) -> String {
        """
        Port \(port)
        ListenAddress 127.0.0.1
        HostKey \(hostKey)
        AuthorizedKeysFile \(work)/authorized_keys
        StrictModes no
        UsePAM no
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        LogLevel ERROR
        Ciphers aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr
        MACs hmac-sha2-256-etm@openssh.com

        """
    }

    /// Adds a server's key to the known_hosts file ssh and our client check against.
    func rememberHostKey(port: Int, publicKeyFile: String? = nil) throws {
        let line = "[127.0.0.1]:\(port) \(try String(contentsOfFile: publicKeyFile ?? "\(work)/shhd_host.pub", encoding: .utf8))"
        let path = "\(work)/known_hosts"
        let existing = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        try (existing + line).write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Starts shhd (`shh-bench shhd` runs ShhdCommand, the code of the shhd executable) with a config like sshd's:
    /// as root it runs each session as the benchmark account, as sshd does; returns it with its port.
    func startShhd() throws -> (Process, Int) {
        let port = try freePort()
        let config = serverConfig(port: port, hostKey: "\(work)/shhd_host")
        try config.write(toFile: "\(work)/shhd_config", atomically: true, encoding: .utf8)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: me)
        server.arguments = ["shhd", "-D", "-e", "-f", "\(work)/shhd_config"]
        server.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        server.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try server.run()
        _ = try waitFor("shhd on port \(port)") { (try? readBanner(port: port)).flatMap { $0.hasPrefix("SSH-2.0-") ? true : nil } }
        return (server, port)
    }

    func tearDown() {
        if sshdPID > 0 { kill(sshdPID, SIGTERM) }
        ourServer?.terminate()
        ourServer?.waitUntilExit()
        try? FileManager.default.removeItem(atPath: work)
    }

    func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        return Int(UInt16(bigEndian: try bindLoopback(fd).0.sin_port))
    }

    func waitFor<T>(_ what: String, _ probe: () -> T?) throws -> T {
        for _ in 0..<200 {
            if let value = probe() { return value }
            usleep(50_000)
        }
        throw HarnessFailure(description: "timed out waiting for \(what)")
    }

    // MARK: Clients

    func port(_ pairing: String) -> Int { pairing.hasSuffix("sshd") || pairing.hasSuffix("again") ? sshdPort : ourPort }
    func hostKeyFile(_ pairing: String) -> String { port(pairing) == sshdPort ? "\(work)/sshd_host.pub" : "\(work)/shhd_host.pub" }

    func sshArguments(port: Int, cipher: String? = nil, mac: String? = nil, kex: String? = nil) -> [String] {
        var arguments = ["-F", "/dev/null", "-p", "\(port)", "-i", "\(work)/id", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                         "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(work)/known_hosts", "-o", "LogLevel=ERROR"]
        if let cipher { arguments += ["-c", cipher] }
        if let mac { arguments += ["-m", mac] }
        if let kex { arguments += ["-o", "KexAlgorithms=\(kex)"] }
        return arguments + ["\(user)@127.0.0.1"]
    }

    func libArguments(_ subcommand: String, port: Int, hostKey: String, cipher: String? = nil, mac: String? = nil, kex: String? = nil) -> [String] {
        var arguments = [subcommand, "--port", "\(port)", "--user", user, "--identity", "\(work)/id", "--host-key-pub", hostKey]
        if let cipher { arguments += ["--cipher", cipher] }
        if let mac { arguments += ["--mac", mac] }
        if let kex { arguments += ["--kex", kex] }
        return arguments
    }

    /// Runs `command` through the pairing's client, with `upload` zero bytes on stdin; returns the wall time.
    func timeCommand(_ pairing: String, _ command: String, upload: Int = 0, cipher: String? = nil, mac: String? = nil, kex: String? = nil) throws -> Double {
        let port = port(pairing)
        if pairing.hasPrefix("ssh") || pairing.hasPrefix("shh") {
            // shh takes ssh's command line unchanged.
            let program = pairing.hasPrefix("ssh") ? ["/usr/bin/ssh"] : [me, "shh"]
            let ssh = program + sshArguments(port: port, cipher: cipher, mac: mac, kex: kex) + [command]
            if upload > 0 {
                let line = "head -c \(upload) /dev/zero | " + ssh.map { "'\($0)'" }.joined(separator: " ")
                return try timedRun("/bin/sh", ["-c", line])
            }
            return try timedRun(ssh[0], Array(ssh.dropFirst()))
        }
        var arguments = libArguments("client", port: port, hostKey: hostKeyFile(pairing), cipher: cipher, mac: mac, kex: kex) + ["--command", command]
        if upload > 0 { arguments += ["--upload", "\(upload)"] }
        return try timedRun(me, arguments)
    }

    // MARK: Measurements

    func throughput() throws {
        for (cipher, mac) in ciphers {
            log("throughput: \(cipher)")
            // The fixed cost of each pairing (connect, authenticate, start the command), subtracted below.
            var fixed: [String: Double] = [:]
            for pairing in Self.clientPairings {
                fixed[pairing] = median(try (0..<3).map { _ in try timeCommand(pairing, "head -c 0 /dev/zero", cipher: cipher, mac: mac) })
            }
            for direction in ["down", "up"] {
                var samples: [String: [Double]] = [:]
                for _ in 0..<runs {
                    for pairing in Self.clientPairings {
                        let elapsed = direction == "down"
                            ? try timeCommand(pairing, "head -c \(bytes) /dev/zero", cipher: cipher, mac: mac)
                            : try timeCommand(pairing, "cat > /dev/null", upload: bytes, cipher: cipher, mac: mac)
                        samples[pairing, default: []].append(Double(bytes) / max(elapsed - (fixed[pairing] ?? 0), 1e-3) / 1e6)
                    }
                    let inProcess = try capture(URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("shh-throughput").path,
                                                [cipher, direction, "\(bytes)"] + (mac.map { [$0] } ?? []))
                    if let rate = inProcess.split(separator: " ").last.flatMap({ Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                        samples["in-process", default: []].append(rate)
                    }
                }
                addRow(section: "throughput", label: "\(cipher)\(mac.map { " + " + $0 } ?? "") \(direction)", unit: "MB/s", samples: samples)
            }
        }
    }

    func execLatency() throws {
        for kex in ["curve25519-sha256", nil] {
            log("exec latency: \(kex ?? "default KEX")")
            var samples: [String: [Double]] = [:]
            for _ in 0..<execRuns {
                for pairing in Self.clientPairings {
                    samples[pairing, default: []].append(try timeCommand(pairing, "true", kex: kex) * 1000)
                }
            }
            addRow(section: "exec latency", label: "true, \(kex ?? "default KEX")", unit: "ms", samples: samples)
        }
    }

    /// Server CPU per connection (login + `true`) and connections per second, with our load driver against both.
    func connectionCost() throws {
        log("connection cost: \(loadConnections) logins running `true`, 4 at a time, per server and round")
        var cpu: [String: [Double]] = [:], rate: [String: [Double]] = [:]
        for _ in 0..<2 {
            for (name, port, hostKey, pid) in [("sshd", sshdPort, "\(work)/sshd_host.pub", sshdPID),
                                               ("shhd", ourPort, "\(work)/shhd_host.pub", ourServer?.processIdentifier ?? 0)] {
                let before = ProcessTree.cpuSeconds(root: pid)
                let output = try capture(me, libArguments("load", port: port, hostKey: hostKey, kex: "curve25519-sha256")
                                            + ["--connections", "\(loadConnections)", "--concurrency", "4"])
                usleep(500_000)  // let the server reap what it started
                let after = ProcessTree.cpuSeconds(root: pid)
                let fields = output.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                guard fields.count == 2 else { throw HarnessFailure(description: "load driver said: \(output)") }
                cpu[name, default: []].append((after - before) / Double(loadConnections) * 1000)
                rate[name, default: []].append(fields[0] / fields[1])
            }
        }
        addRow(section: "server", label: "CPU per connection (login + true, curve25519)", unit: "ms", samples: cpu, baseline: "sshd")
        addRow(section: "server", label: "connections per second (same driver, 4 at a time)", unit: "conn/s", samples: rate, baseline: "sshd")
    }

    /// Anonymous PSS of each server's process tree per idle authenticated connection, without a session and with an idle shell.
    func idleMemory() throws {
        for shell in [false, true] {
            log("idle memory: \(idleConnections) connections\(shell ? " with an idle shell each" : "")")
            var perConnection: [String: [Double]] = [:]
            // A fresh shhd for each measurement: a long-running one reuses memory freed by the earlier phases (glibc
            // keeps it), which would hide what connections cost. Its host key is the same, so known_hosts stays
            // right; its port is new.
            let (fresh, freshPort) = try startShhd()
            defer {
                fresh.terminate()
                fresh.waitUntilExit()
            }
            try rememberHostKey(port: freshPort)
            for (name, port, hostKey, pid) in [("sshd", sshdPort, "\(work)/sshd_host.pub", sshdPID),
                                               ("shhd", freshPort, "\(work)/shhd_host.pub", fresh.processIdentifier)] {
                // One connection first, so one-time costs (the first session's buffers, lazily made tables) are in
                // the baseline.
                _ = try capture(me, libArguments("client", port: port, hostKey: hostKey, kex: "curve25519-sha256") + ["--command", "true"])
                usleep(300_000)
                let before = ProcessTree.anonymousPSSKiB(root: pid)
                var during = before
                try hold(port: port, hostKey: hostKey, shell: shell) { during = ProcessTree.anonymousPSSKiB(root: pid) }
                perConnection[name] = [Double(during - before) / Double(idleConnections)]
                usleep(500_000)
            }
            addRow(section: "server", label: "anonymous PSS per idle connection\(shell ? " with an idle shell" : "")", unit: "KiB", samples: perConnection, baseline: "sshd")
        }
    }

    /// Opens `idleConnections` idle connections through the holder agent, runs `whileHeld`, and closes them.
    func hold(port: Int, hostKey: String, shell: Bool, whileHeld: () -> Void) throws {
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: me)
        holder.arguments = libArguments("hold", port: port, hostKey: hostKey, kex: "curve25519-sha256")
            + ["--connections", "\(idleConnections)", "--shell", shell ? "yes" : "no"]
        let input = Pipe(), output = Pipe()
        holder.standardInput = input
        holder.standardOutput = output
        try holder.run()
        let ready = output.fileHandleForReading.availableData
        guard String(decoding: ready, as: UTF8.self).hasPrefix("ready") else {
            throw HarnessFailure(description: "the connection holder did not get ready")
        }
        whileHeld()
        try input.fileHandleForWriting.close()
        holder.waitUntilExit()
    }

    func measureCeilings() throws -> [String: Double] {
        log("ceilings: openssl speed, loopback TCP")
        var ceilings: [String: Double] = [:]
        for algorithm in ["aes-128-gcm", "aes-256-gcm", "chacha20-poly1305", "aes-128-ctr"] {
            if let rate = Ceilings.openssl(algorithm) { ceilings["openssl \(algorithm) MB/s"] = rate }
        }
        ceilings["loopback TCP MB/s"] = try Ceilings.loopbackTCP(bytes: bytes)
        return ceilings
    }

    func addRow(section: String, label: String, unit: String, samples: [String: [Double]], baseline: String = Harness.sshdBaseline) {
        let medians = samples.mapValues(median)
        let base = medians[baseline] ?? .nan
        rows.append(ResultRow(section: section, label: label, unit: unit, medians: medians, ratios: medians.mapValues { $0 / base }))
    }

    // MARK: Output

    func printReport(ceilings: [String: Double]) {
        print("\nshh-bench \(full ? "full" : "quick") — \(machineDescription()); \((try? capture("/usr/bin/ssh", ["-V"]))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")")
        print("(transfers of \(bytes >> 20) MiB, medians of \(runs) runs; exec latency over \(execRuns) runs; ratio = value / the baseline's)")
        for section in ["throughput", "exec latency", "server", "tunnels"] {
            let sectionRows = rows.filter { $0.section == section }
            guard let first = sectionRows.first else { continue }
            let columns = first.medians.keys.sorted { order($0) < order($1) }
            print("\n" + section)
            print(pad("", 56) + columns.map { pad($0, 22) }.joined())
            for row in sectionRows {
                let cells = columns.map { column -> String in
                    let value = row.medians[column] ?? .nan
                    let ratio = row.ratios[column] ?? .nan
                    return pad(String(format: "%.1f %@ (%.2f×)", value, row.unit, ratio), 22)
                }
                print(pad(row.label, 56) + cells.joined())
            }
        }
        print("\nceilings")
        for (name, value) in ceilings.sorted(by: { $0.key < $1.key }) { print(pad(name, 48) + String(format: "%.0f", value)) }
    }

    func order(_ column: String) -> Int {
        ["ssh→sshd", "ssh→sshd again", "sshd", "shh→sshd", "lib→sshd", "ssh→shhd", "shh→shhd", "lib→shhd", "shhd", "in-process"].firstIndex(of: column) ?? 99
    }

    func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    func machineDescription() -> String {
        let model = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        return "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(model)"
    }
}

func log(_ message: String) {
    FileHandle.standardError.write(Data("shh-bench: \(message)\n".utf8))
}
