// Our transport against real OpenSSH, both directions, for every algorithm the installed OpenSSH supports (one
// dimension at a time against the defaults): Debian 12's OpenSSH 9.2 on this machine, and OpenSSH 10 from the
// Debian 13 root that Scripts/openssh10-chroot.sh prepares (CI prepares it; as root a test prepares it itself).
import Foundation
import NIOCore
import SSH
import SSHKeys
import SSHProtocol
import Testing

/// One OpenSSH installation: this machine's, or the one in the Debian 13 root.
struct OpenSSHInstallation: Sendable, CustomStringConvertible {
    let chrootRoot: String?
    var prefix: [String] { chrootRoot.map { ["/usr/sbin/chroot", $0] } ?? [] }
    var description: String { chrootRoot == nil ? "OpenSSH (system)" : "OpenSSH 10 (Debian 13 root)" }

    /// ssh with the given arguments, in the installation's root.
    @available(*, noasync, message: "blocks a cooperative pool thread")
    func ssh(_ arguments: [String], stdin: [UInt8] = []) throws -> ProcessResult {
        chrootRoot == nil ? try run("/usr/bin/ssh", arguments, stdin: stdin)
            : try run("/usr/sbin/chroot", [chrootRoot ?? "", "/usr/bin/ssh"] + arguments, stdin: stdin)
    }

    /// `ssh` off the cooperative thread pool, for tests whose server runs in this process.
    func sshAsync(_ arguments: [String], stdin: [UInt8] = []) async throws -> ProcessResult {
        chrootRoot == nil ? try await runAsync("/usr/bin/ssh", arguments, stdin: stdin)
            : try await runAsync("/usr/sbin/chroot", [chrootRoot ?? "", "/usr/bin/ssh"] + arguments, stdin: stdin)
    }

    static let system = OpenSSHInstallation(chrootRoot: nil)

    /// The Debian 13 root, prepared now if needed (root only), or nil with the reason.
    static let openSSH10: Result<OpenSSHInstallation, InteropError> = {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Scripts/openssh10-chroot.sh").path
        guard isRootUser else { return .failure(.missingProgram("OpenSSH 10: the Debian 13 root needs root to prepare and use (CI runs as root)")) }
        guard let result = try? run("/bin/bash", [script]), result.status == 0,
              let root = result.stdout.split(separator: "\n").last.map(String.init)
        else { return .failure(.missingProgram("OpenSSH 10: Scripts/openssh10-chroot.sh failed")) }
        // Its sshd reads the root's own account database: the test login must be there too.
        ensureTestLogin(inRoot: root)
        return .success(OpenSSHInstallation(chrootRoot: root))
    }()
}

let installationsUnderTest: [OpenSSHInstallation] = {
    var installations = [OpenSSHInstallation.system]
    if case .success(let modern) = OpenSSHInstallation.openSSH10 { installations.append(modern) }
    return installations
}()

@Suite("Transport against OpenSSH", .enabled(if: isRootUser, "starting sshd on a test port needs root; CI runs as root"), .timeLimit(.minutes(10)))
struct TransportInteropTests {
    @Test func openSSH10IsAvailableWhenRoot() async throws {
        if case .failure(let error) = OpenSSHInstallation.openSSH10 { Issue.record("\(error)") }
    }

    /// The one-dimension-at-a-time algorithm sets for an installation: (label, algorithms).
    static func algorithmCases(for installation: OpenSSHInstallation) throws -> [(String, SSHAlgorithms)] {
        let kex = try openSSHSupports("kex", prefix: installation.prefix)
        let ciphers = try openSSHSupports("cipher", prefix: installation.prefix)
        let macs = try openSSHSupports("mac", prefix: installation.prefix)
        let hostKeys = try openSSHSupports("HostKeyAlgorithms", prefix: installation.prefix)
        var cases: [(String, SSHAlgorithms)] = []
        for algorithm in SSHKeyExchangeAlgorithm.allCases where kex.contains(algorithm.rawValue) {
            cases.append((algorithm.rawValue, SSHAlgorithms(keyExchange: [algorithm])))
        }
        for algorithm in SSHCipherAlgorithm.allCases where ciphers.contains(algorithm.rawValue) {
            cases.append((algorithm.rawValue, SSHAlgorithms(ciphers: [algorithm])))
        }
        for algorithm in SSHMACAlgorithm.allCases where macs.contains(algorithm.rawValue) {
            cases.append(("aes128-ctr+" + algorithm.rawValue, SSHAlgorithms(ciphers: [.aes128CTR], macs: [algorithm])))
        }
        for algorithm in SSHHostKeyAlgorithm.defaults where hostKeys.contains(algorithm.name) {
            // Certificates: the servers here certify their ed25519 key only.
            if algorithm.isCertificate && algorithm.keyType != .ed25519 { continue }
            cases.append((algorithm.name, SSHAlgorithms(hostKey: [algorithm])))
        }
        return cases
    }

    @Test(arguments: installationsUnderTest)
    func ourClientAgainstSSHD(_ installation: OpenSSHInstallation) async throws {
        let sshd = try await offThePool { try TestSSHD(
            hostKeyType: "ed25519", additionalHostKeyTypes: ["ecdsa", "ecdsa-384", "ecdsa-521", "rsa"], certifyHostKey: true,
            chrootRoot: installation.chrootRoot, extraConfig: installation.chrootRoot == nil ? "" : "PerSourcePenalties no"
        ) }
        defer { sshd.stop() }
        let hostKeys = Set(try sshd.hostKeyPublicLines.values.map { try SSHPublicKeyLine(parsing: $0).key })
        let authority = try SSHPublicKeyLine(parsing: try #require(sshd.hostCertificateAuthorityLine)).key
        let cases = try Self.algorithmCases(for: installation)
        #expect(cases.count >= 20)
        for (label, algorithms) in cases {
            do {
                let result = try await probeTransport(port: sshd.port, algorithms: algorithms, validator: PinnedHostKeys(hostKeys))
                #expect(result.authenticationMethods.contains("publickey"), "\(installation) \(label)")
                #expect(result.serverSignatureAlgorithms?.contains("rsa-sha2-256") == true, "\(installation) \(label): server-sig-algs")
                if let kex = algorithms.keyExchange.first, algorithms.keyExchange.count == 1 {
                    #expect(result.algorithms.keyExchange == kex)
                }
                if algorithms.hostKey.count == 1, let hostKey = algorithms.hostKey.first {
                    #expect(result.algorithms.hostKey == hostKey, "\(label)")
                    if hostKey.isCertificate {
                        guard case .certificate(let certificate) = result.hostKey else {
                            Issue.record("\(label): no certificate presented"); continue
                        }
                        #expect(certificate.signatureKey == authority && certificate.hasValidSignature)
                    }
                }
                if algorithms.ciphers.count == 1 { #expect(result.algorithms.cipherClientToServer == algorithms.ciphers[0], "\(label)") }
                if algorithms.macs.count == 1 { #expect(result.algorithms.macServerToClient == algorithms.macs[0], "\(label)") }
            } catch {
                Issue.record("\(installation) \(label): \(error)\nsshd log: \((try? readText(sshd.directory + "/sshd.log").suffix(2000)) ?? "")")
            }
        }
    }

    @Test(arguments: installationsUnderTest)
    func openSSHClientAgainstOurServer(_ installation: OpenSSHInstallation) async throws {
        let keys = try SSHKeyType.allCases.map { type in try SSHPrivateKey.generate(type: type, bits: type == .rsa ? 2048 : nil) }
        let authority = try SSHPrivateKey.generate(type: .ed25519)
        let ed25519 = try #require(keys.first { $0.type == .ed25519 })
        let certificate = try SSHCertificate.issue(for: ed25519.publicKey, authority: authority, kind: .host, keyID: "shh test", principals: ["127.0.0.1"])
        let server = try await TransportTestServer(
            hostKeys: keys.map { SSHServerHostKey(privateKey: $0) } + [SSHServerHostKey(privateKey: ed25519, certificate: certificate)]
        )
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let knownHosts = directory + "/known_hosts"
        let host = "[127.0.0.1]:\(server.port)"
        let lines = keys.map { "\(host) \($0.publicKey)" } + ["@cert-authority \(host) \(authority.publicKey)"]
        try (lines.joined(separator: "\n") + "\n").write(toFile: knownHosts, atomically: true, encoding: .utf8)

        let cases = try Self.algorithmCases(for: installation)
        for (label, algorithms) in cases {
            var options = ["-v", "-F", "/dev/null", "-p", "\(server.port)", "-o", "BatchMode=yes",
                           "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(knownHosts)",
                           "-o", "GlobalKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no",
                           "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
                           "-o", "GSSAPIAuthentication=no", "-o", "ConnectTimeout=10"]
            if algorithms.keyExchange.count == 1 { options += ["-o", "KexAlgorithms=\(algorithms.keyExchange[0].rawValue)"] }
            if algorithms.ciphers.count == 1 { options += ["-o", "Ciphers=\(algorithms.ciphers[0].rawValue)"] }
            if algorithms.macs.count == 1 { options += ["-o", "MACs=\(algorithms.macs[0].rawValue)"] }
            if algorithms.hostKey.count == 1 { options += ["-o", "HostKeyAlgorithms=\(algorithms.hostKey[0].name)"] }
            let result = try await installation.sshAsync(options + ["\(testLogin)@127.0.0.1", "true"])
            let log = withoutCarriageReturns(result.stderr)
            #expect(log.contains("Authentications that can continue: publickey,password"), "\(installation) \(label):\n\(log.suffix(3000))")
            if algorithms.keyExchange.count == 1 { #expect(log.contains("kex: algorithm: \(algorithms.keyExchange[0].rawValue)"), "\(label)") }
            if algorithms.hostKey.count == 1 { #expect(log.contains("kex: host key algorithm: \(algorithms.hostKey[0].name)"), "\(label)") }
            if algorithms.ciphers.count == 1 { #expect(log.contains("kex: server->client cipher: \(algorithms.ciphers[0].rawValue)"), "\(label)") }
            if algorithms.macs.count == 1 { #expect(log.contains("MAC: \(algorithms.macs[0].rawValue)"), "\(label)") }
            #expect(!log.contains("WARNING"), "\(label): host key not verified")
        }
        #expect(server.errors.isEmpty, "\(server.errors)")
        #expect(server.completedHandshakes == cases.count)
        await server.stop()
    }

    /// OpenSSH does not rekey before authentication (sshd answers KEXINIT with UNIMPLEMENTED there): a rekey we
    /// start at that point must end in a clear error, not a connection that waits forever. (Rekeying with OpenSSH
    /// after authentication is tested with the connection layer, issue 5.)
    @Test(arguments: installationsUnderTest)
    func rekeyRefusedBySSHDBeforeAuthenticationFailsClearly(_ installation: OpenSSHInstallation) async throws {
        let sshd = try await offThePool { try TestSSHD(chrootRoot: installation.chrootRoot, extraConfig: installation.chrootRoot == nil ? "" : "PerSourcePenalties no") }
        defer { sshd.stop() }
        let hostKey = try SSHPublicKeyLine(parsing: sshd.hostKeyPublic).key
        do {
            _ = try await probeTransport(port: sshd.port, validator: PinnedHostKeys([hostKey]), rekeyFirst: true)
            Issue.record("\(installation): sshd accepted a rekey before authentication")
        } catch let error as SSHProtocolError {
            #expect(error.description.contains("refused to start a key exchange"), "\(installation): \(error)")
        }
    }
}

/// Hostile bytes on a real socket: the server answers with DISCONNECT (reason 8 for a bad version line) and goes
/// on serving everyone else.
@Suite(.timeLimit(.minutes(10))) struct TransportServerResilienceTests {
    @Test func garbageInsteadOfAVersionLineGetsADisconnectAndTheServerGoesOn() async throws {
        let key = try SSHPrivateKey.generate(type: .ed25519)
        let server = try await TransportTestServer(hostKeys: [SSHServerHostKey(privateKey: key)])
        var generator = SystemRandomNumberGenerator()
        let garbage = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let reply = try await offThePool { try exchangeRaw(port: server.port, send: garbage) }
        let text = String(decoding: reply.prefix(40), as: UTF8.self)
        #expect(text.hasPrefix(ShhVersion.identification + "\r\n"))
        // After the identification line: plaintext packets, our KEXINIT then DISCONNECT.
        var offset = (reply.firstIndex(of: UInt8(ascii: "\n")) ?? 0) + 1
        var disconnectReason: UInt32?
        while offset + 5 < reply.count {
            let length = reply[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            guard offset + 4 + length <= reply.count else { break }
            let payloadStart = offset + 5
            if reply[payloadStart] == 1 {
                disconnectReason = reply[payloadStart + 1..<payloadStart + 5].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            }
            offset += 4 + length
        }
        #expect(disconnectReason == SSHDisconnectReason.protocolVersionNotSupported.rawValue)
        let result = try await probeTransport(port: server.port, validator: PinnedHostKeys([key.publicKey]))
        #expect(result.authenticationMethods == ["publickey", "password"])
        await server.stop()
    }
}

/// Sends `bytes` to 127.0.0.1:port and returns everything read until the server closes (5 s at most).
func exchangeRaw(port: Int, send bytes: [UInt8]) throws -> [UInt8] {
    guard let fd = connectLoopback(port: port, receiveTimeoutSeconds: 5) else {
        throw InteropError.missingProgram("a connection to port \(port)")
    }
    defer { close(fd) }
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count <= 0 { break }
        received += buffer[0..<count]
    }
    return received
}
