// SSHAgentClient against OpenSSH's own ssh-agent (started by each test on a socket of its own, keys made by
// ssh-keygen and added by ssh-add): it lists keys with their comments and its signatures verify, RSA with the
// SHA-2 algorithm asked for. Then what a user meets when things go wrong: no agent at the path, an agent that
// refuses, and replies that break the protocol (the parsers directly, and a fake agent for the framing).
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import SSHAgent
import SSHKeys
import SSHProtocol
import SSHWire
import Testing

@Suite(.timeLimit(.minutes(2))) struct RealAgentTests {
    @Test func listsAnEd25519KeyAndSignsWithIt() async throws {
        try await withAgent { socket, directory in
            let path = directory + "/id_ed25519"
            try await makeKey(type: "ed25519", comment: "shh agent test ed25519", path: path)
            let added = try await runTool("/usr/bin/ssh-add", [path], environment: ["SSH_AUTH_SOCK": socket, "PATH": "/usr/bin:/bin"])
            try #require(added.status == 0, "ssh-add: \(added.errors)")
            let publicKey = try SSHPublicKeyLine(parsing: String(contentsOfFile: path + ".pub", encoding: .utf8)).key

            let agent = SSHAgentClient(socketPath: socket)
            let identities = try await agent.identities()
            #expect(identities.map(\.key) == [.key(publicKey)])
            #expect(identities.map(\.comment) == ["shh agent test ed25519"])
            let identity = try #require(identities.first)
            let data = Array("the session identifier and the rest of a userauth request".utf8)
            let signature = try await agent.sign(data, with: identity.key, algorithm: .ed25519)
            #expect(signature.algorithm == .ed25519)
            #expect(publicKey.isValidSignature(signature, for: data))
            #expect(!publicKey.isValidSignature(signature, for: data + [0]))
            // The credentials a client connects with are the agent's keys.
            #expect(try await agent.credentials().count == 1)
        }
    }

    /// An RSA key signs with the SHA-2 algorithm asked for (the flag in the request), never SHA-1.
    @Test func rsaSignsWithTheSHA2AlgorithmAskedFor() async throws {
        try await withAgent { socket, directory in
            let path = directory + "/id_rsa"
            try await makeKey(type: "rsa", bits: 2048, comment: "shh agent test rsa", path: path)
            let added = try await runTool("/usr/bin/ssh-add", [path], environment: ["SSH_AUTH_SOCK": socket, "PATH": "/usr/bin:/bin"])
            try #require(added.status == 0, "ssh-add: \(added.errors)")
            let publicKey = try SSHPublicKeyLine(parsing: String(contentsOfFile: path + ".pub", encoding: .utf8)).key

            let agent = SSHAgentClient(socketPath: socket)
            let identity = try #require(try await agent.identities().first)
            #expect(identity.comment == "shh agent test rsa" && identity.key == .key(publicKey))
            let data = Array("signed twice".utf8)
            for algorithm in [SSHSignatureAlgorithm.rsaSHA256, .rsaSHA512] {
                let signature = try await agent.sign(data, with: identity.key, algorithm: algorithm)
                #expect(signature.algorithm == algorithm)
                #expect(publicKey.isValidSignature(signature, for: data, allowedAlgorithms: [algorithm]))
            }
        }
    }

    /// A key the agent does not hold (removed since it was listed): the agent says no, and the error says so.
    @Test func signingWithAKeyTheAgentLacksIsRefused() async throws {
        try await withAgent { socket, _ in
            let agent = SSHAgentClient(socketPath: socket)
            #expect(try await agent.identities().isEmpty)
            let stranger = try SSHPrivateKey.generate(type: .ed25519)
            await #expect(throws: SSHAgentError(.refused("sign"))) {
                _ = try await agent.sign([1, 2, 3], with: .key(stranger.publicKey), algorithm: .ed25519)
            }
        }
    }

    @Test func noAgentAtThePathIsUnreachable() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/no-agent.sock"
        do {
            _ = try await SSHAgentClient(socketPath: path).identities()
            Issue.record("an agent answered at \(path)")
        } catch let error as SSHAgentError {
            guard case .unreachable(let reported, let reason) = error.kind else { Issue.record("\(error)"); return }
            #expect(reported == path)
            #expect(reason == String(cString: strerror(ENOENT)))
            #expect(error.description == "cannot connect to the agent at \(path): \(reason)")
        }
        let tooLong = "/tmp/" + String(repeating: "x", count: 200)
        await #expect(throws: SSHAgentError(.unreachable(path: tooLong, reason: "not a usable socket path (too long, or a NUL in it)"))) {
            _ = try await SSHAgentClient(socketPath: tooLong).identities()
        }
    }

    @Test func fromEnvironment() {
        #expect(SSHAgentClient.fromEnvironment(["SSH_AUTH_SOCK": "/run/agent.sock"])?.socketPath == "/run/agent.sock")
        #expect(SSHAgentClient.fromEnvironment(["SSH_AUTH_SOCK": ""]) == nil)
        #expect(SSHAgentClient.fromEnvironment(["HOME": "/root"]) == nil)
    }
}

/// Replies built by hand, fed to the parsers the client uses.
@Suite struct AgentReplyParsingTests {
    let key: SSHPrivateKey

    init() throws {
        key = try SSHPrivateKey.generate(type: .ed25519)
    }

    static func identitiesAnswer(_ entries: [([UInt8], String)], count: UInt32? = nil) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeSSHByte(12)
        buffer.writeSSHUInt32(count ?? UInt32(entries.count))
        for (blob, comment) in entries {
            buffer.writeSSHString(blob)
            buffer.writeSSHString(Array(comment.utf8))
        }
        return Array(buffer.readableBytesView)
    }

    static func signResponse(_ blob: [UInt8]) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeSSHByte(14)
        buffer.writeSSHString(blob)
        return Array(buffer.readableBytesView)
    }

    private func identities(_ bytes: [UInt8]) throws -> [SSHAgentIdentity] {
        var buffer = ByteBuffer(bytes: bytes)
        return try SSHAgentClient.parseIdentities(&buffer)
    }

    private func signature(_ bytes: [UInt8]) throws -> SSHSignature {
        var buffer = ByteBuffer(bytes: bytes)
        return try SSHAgentClient.parseSignature(&buffer)
    }

    private func isMalformed(_ body: () throws -> Any) -> Bool {
        do {
            _ = try body()
            return false
        } catch let error as SSHAgentError {
            if case .malformedReply = error.kind { return true }
            return false
        } catch {
            return false
        }
    }

    @Test func aValidAnswerListsItsKeys() throws {
        let unknownType: [UInt8] = [0, 0, 0, 7] + Array("ssh-foo".utf8) + [0, 0, 0, 1, 9]
        let answer = Self.identitiesAnswer([(key.publicKey.wireBlob, "one"), (unknownType, "skipped"), (key.publicKey.wireBlob, "")])
        let listed = try identities(answer)
        #expect(listed.map(\.key) == [.key(key.publicKey), .key(key.publicKey)])
        #expect(listed.map(\.comment) == ["one", ""])
        #expect(try identities(Self.identitiesAnswer([])) == [])
    }

    /// Cut anywhere, an answer is malformed, never a shorter list.
    @Test func aTruncatedAnswerIsMalformed() throws {
        let answer = Self.identitiesAnswer([(key.publicKey.wireBlob, "a comment")])
        for length in 0..<answer.count {
            #expect(isMalformed { try identities(Array(answer.prefix(length))) }, "cut at \(length)")
        }
        let response = Self.signResponse(try key.signature(for: [1], algorithm: .ed25519).wireBlob)
        for length in 0..<response.count {
            #expect(isMalformed { try signature(Array(response.prefix(length))) }, "cut at \(length)")
        }
        #expect(isMalformed { try identities(Self.identitiesAnswer([(key.publicKey.wireBlob, "x")], count: 2)) }, "one key short")
    }

    @Test func theWrongMessageIsMalformed() throws {
        let response = Self.signResponse(try key.signature(for: [1], algorithm: .ed25519).wireBlob)
        let answer = Self.identitiesAnswer([(key.publicKey.wireBlob, "x")])
        #expect(throws: SSHAgentError(.malformedReply("message 14 where the list of keys belongs"))) { try identities(response) }
        #expect(throws: SSHAgentError(.malformedReply("message 12 where a signature belongs"))) { try signature(answer) }
        #expect(throws: SSHAgentError(.malformedReply("message 6 where the list of keys belongs"))) { try identities([6]) }
        // A sign response whose blob is not a signature.
        #expect(isMalformed { try signature(Self.signResponse([0, 0, 0, 3, 0x61, 0x62])) })
        #expect(isMalformed { try signature(Self.signResponse([])) })
    }

    /// SSH_AGENT_FAILURE (5) is a refusal, whatever follows it.
    @Test func failureIsARefusal() {
        #expect(throws: SSHAgentError(.refused("list its keys"))) { try identities([5]) }
        #expect(throws: SSHAgentError(.refused("sign"))) { try signature([5]) }
        #expect(throws: SSHAgentError(.refused("sign"))) { try signature([5, 1, 2, 3]) }
    }

    @Test func aValidSignResponse() throws {
        let data: [UInt8] = [1, 2, 3]
        let made = try key.signature(for: data, algorithm: .ed25519)
        let parsed = try signature(Self.signResponse(made.wireBlob))
        #expect(parsed == made)
        #expect(key.publicKey.isValidSignature(parsed, for: data))
    }
}

/// The fuzzer's seeds are real replies: the identities answers list keys, the sign responses hold signatures, and
/// the failure is a refusal.
@Test func fuzzSeedsAreReplies() throws {
    let seeds = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/Seeds/FuzzAgentReply")
    let names = try FileManager.default.contentsOfDirectory(atPath: seeds.path).sorted()
    #expect(names.count >= 5)
    for name in names {
        var reply = ByteBuffer(bytes: [UInt8](try Data(contentsOf: seeds.appendingPathComponent(name))))
        if name.hasPrefix("identities-") {
            let listed = try SSHAgentClient.parseIdentities(&reply)
            #expect(name == "identities-none" ? listed.isEmpty : !listed.isEmpty, "\(name)")
        } else if name.hasPrefix("sign-response-") {
            _ = try SSHAgentClient.parseSignature(&reply)
        } else {
            #expect(throws: SSHAgentError(.refused("sign")), "\(name)") { try SSHAgentClient.parseSignature(&reply) }
        }
    }
}

/// A one-shot fake agent: the framing of a reply (its length prefix) is checked before any parsing.
@Suite(.timeLimit(.minutes(10))) struct AgentFramingTests {
    @Test(arguments: [
        ([0, 0, 0, 0] as [UInt8], "a reply of 0 bytes"),
        ([0, 4, 0, 1] as [UInt8], "a reply of 262145 bytes"),
        ([0, 0, 0, 9, 12, 0, 0] as [UInt8], "the agent closed the connection mid-reply"),
        ([0, 0] as [UInt8], "the agent closed the connection mid-reply"),
    ])
    func badFraming(reply: [UInt8], expected: String) async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/fake.sock"
        let listener = try listen(at: path)
        let served = answerOnce(listener, with: reply)
        await #expect(throws: SSHAgentError(.malformedReply(expected))) {
            _ = try await SSHAgentClient(socketPath: path).identities()
        }
        #expect(await served.value == [0, 0, 0, 1, 11], "the request was REQUEST_IDENTITIES, framed")
    }

    private func listen(at path: String) throws -> CInt {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw ToolError(description: "socket: \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { destination in
            for (index, byte) in path.utf8.enumerated() where index < destination.count - 1 { destination[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, Glibc.listen(descriptor, 1) == 0 else {
            close(descriptor)
            throw ToolError(description: "bind/listen: \(errno)")
        }
        return descriptor
    }

    /// Accepts one connection (within 30 s), reads the request (5 bytes), answers `reply`, closes; returns the
    /// request's bytes. Runs on a thread of its own: these calls block.
    private func answerOnce(_ listener: CInt, with reply: [UInt8]) -> Task<[UInt8], Never> {
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream()
        Thread.detachNewThread {
            defer { close(listener) }
            var waiting = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&waiting, 1, 30_000) == 1 else { continuation.finish(); return }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continuation.finish(); return }
            defer { close(connection) }
            var timeout = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var request = [UInt8](repeating: 0, count: 5)
            var got = 0
            while got < request.count {
                let count = request[got...].withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
                guard count > 0 else { break }
                got += count
            }
            _ = reply.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            continuation.yield(Array(request.prefix(got)))
            continuation.finish()
        }
        return Task {
            for await request in stream { return request }
            return []
        }
    }
}
