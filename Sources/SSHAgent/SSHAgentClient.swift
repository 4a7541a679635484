// An ssh-agent as a source of keys (draft-miller-ssh-agent §4.4 REQUEST_IDENTITIES, §4.5 SIGN_REQUEST with the
// rsa-sha2 flags of §5.3), over the Unix socket in SSH_AUTH_SOCK (or ssh_config's IdentityAgent). Private keys
// never leave the agent; each request is one short connection, as ssh's own client makes them.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOPosix
import SSH
import SSHKeys
import SSHProtocol
import SSHWire

/// Why talking to an agent failed, in words a user can act on.
public struct SSHAgentError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The failures.
    public enum Kind: Sendable, Equatable {
        /// The socket could not be reached (no agent running, a stale SSH_AUTH_SOCK): the path and the system's text.
        case unreachable(path: String, reason: String)
        /// The agent answered with SSH_AGENT_FAILURE: it refused (a confirmation declined, a key it no longer has).
        case refused(String)
        /// The agent's answer was not what the protocol allows: cut short, too long, or of the wrong type.
        case malformedReply(String)
    }

    /// What went wrong.
    public var kind: Kind
    /// An error of this kind.
    public init(_ kind: Kind) { self.kind = kind }

    /// The failure as a sentence, naming the socket when it could not be reached.
    public var description: String {
        switch kind {
        case .unreachable(let path, let reason): "cannot connect to the agent at \(path): \(reason)"
        case .refused(let what): "the agent refused to \(what)"
        case .malformedReply(let what): "the agent sent a malformed reply: \(what)"
        }
    }
}

/// A key the agent holds, as it listed it.
public struct SSHAgentIdentity: Sendable, Equatable {
    /// The public key, or the certificate the agent holds it with.
    public var key: SSHPresentedKey
    /// The comment the key was added with (often the file it came from).
    public var comment: String
}

/// A client of an ssh-agent listening on a Unix socket.
///
/// ```swift
/// if let agent = SSHAgentClient.fromEnvironment() {
///     let credentials = try await agent.credentials()
///     let client = try await SSHClient.connect(host: "example.com", user: "me", credentials: credentials,
///                                              hostKeyValidator: .knownHosts())
/// }
/// ```
public struct SSHAgentClient: Sendable {
    /// The agent's socket.
    public let socketPath: String

    /// The largest reply accepted (an agent holding very many keys stays well under it).
    static let maximumReplySize = 256 * 1024

    private enum Message {
        static let failure: UInt8 = 5
        static let requestIdentities: UInt8 = 11
        static let identitiesAnswer: UInt8 = 12
        static let signRequest: UInt8 = 13
        static let signResponse: UInt8 = 14
        static let rsaSHA256Flag: UInt32 = 2
        static let rsaSHA512Flag: UInt32 = 4
    }

    /// A client of the agent at `socketPath`; nothing is connected until a request is made.
    ///
    /// - Parameter socketPath: The agent's Unix socket.
    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// The agent named by SSH_AUTH_SOCK in `environment` (the process's by default), nil when it is unset or empty.
    ///
    /// - Parameter environment: Variables by name; nil reads the process's own SSH_AUTH_SOCK.
    /// - Returns: A client of that socket; nothing is connected yet.
    public static func fromEnvironment(_ environment: [String: String]? = nil) -> SSHAgentClient? {
        let path = environment.map { $0["SSH_AUTH_SOCK"] } ?? getenv("SSH_AUTH_SOCK").map { String(cString: $0) }
        guard let path, !path.isEmpty else { return nil }
        return SSHAgentClient(socketPath: path)
    }

    /// The keys (and certificates) the agent holds, in its order; blobs of key types we do not know are skipped.
    ///
    /// ```swift
    /// for identity in try await agent.identities() {
    ///     print(identity.key, identity.comment)
    /// }
    /// ```
    ///
    /// - Returns: The agent's identities (REQUEST_IDENTITIES, §4.4).
    /// - Throws: ``SSHAgentError``: ``SSHAgentError/Kind/unreachable(path:reason:)`` without an agent,
    ///   ``SSHAgentError/Kind/refused(_:)`` when it declines, ``SSHAgentError/Kind/malformedReply(_:)`` for an
    ///   answer the protocol does not allow.
    public func identities() async throws -> [SSHAgentIdentity] {
        var reply = try await exchange([Message.requestIdentities])
        return try Self.parseIdentities(&reply)
    }

    /// A signature by the agent's key `key` over `data`, for `algorithm` (RSA keys need the flag that picks SHA-2).
    ///
    /// - Parameters:
    ///   - data: What to sign (for user authentication, the RFC 4252 §7 blob).
    ///   - key: One of the agent's identities, as ``identities()`` listed it.
    ///   - algorithm: The signature algorithm; `rsaSHA256` and `rsaSHA512` set SIGN_REQUEST's flags (§5.3).
    /// - Returns: The agent's signature.
    /// - Throws: ``SSHAgentError``: ``SSHAgentError/Kind/refused(_:)`` when the agent says no (a declined
    ///   confirmation, a removed key), or the errors of ``identities()``.
    public func sign(_ data: [UInt8], with key: SSHPresentedKey, algorithm: SSHSignatureAlgorithm) async throws -> SSHSignature {
        let flags: UInt32 = switch algorithm {
        case .rsaSHA256: Message.rsaSHA256Flag
        case .rsaSHA512: Message.rsaSHA512Flag
        default: 0
        }
        var request = ByteBuffer()
        request.writeSSHByte(Message.signRequest)
        request.writeSSHString(key.wireBlob)
        request.writeSSHString(data)
        request.writeSSHUInt32(flags)
        var reply = try await exchange(Array(request.readableBytesView))
        return try Self.parseSignature(&reply)
    }

    /// Every key of the agent as a credential for `SSHClient.connect`, signing through the agent.
    ///
    /// - Returns: One signer credential per identity, in the agent's order; each signature is a new request.
    /// - Throws: ``SSHAgentError`` when the keys cannot be listed.
    public func credentials() async throws -> [SSHClientCredential] {
        try await identities().map { identity in
            SSHClientCredential.signer(key: identity.key) { data, algorithm in
                try await sign(data, with: identity.key, algorithm: algorithm)
            }
        }
    }

    // MARK: Parsing (static, so the fuzz target and tests reach it without a socket)

    /// Reads an agent's answer to REQUEST_IDENTITIES (the reply without its length prefix): the keys and
    /// certificates it lists, in order, with blobs of key types we do not know skipped.
    /// - Throws: `SSHAgentError`: `refused` for SSH_AGENT_FAILURE, `malformedReply` for another message type or an
    ///   answer cut short.
    public static func parseIdentities(_ reply: inout ByteBuffer) throws -> [SSHAgentIdentity] {
        do {
            let type = try reply.readSSHByte()
            guard type == Message.identitiesAnswer else {
                throw type == Message.failure ? SSHAgentError(.refused("list its keys"))
                    : SSHAgentError(.malformedReply("message \(type) where the list of keys belongs"))
            }
            let count = try reply.readSSHUInt32()
            var result: [SSHAgentIdentity] = []
            for _ in 0..<min(count, 4096) {
                let blob = try reply.readSSHStringBytes()
                let comment = String(decoding: try reply.readSSHStringBytes(), as: UTF8.self)
                if let key = try? SSHPublicKey(wireBlob: blob) {
                    result.append(SSHAgentIdentity(key: .key(key), comment: comment))
                } else if let certificate = try? SSHCertificate(wireBlob: blob) {
                    result.append(SSHAgentIdentity(key: .certificate(certificate), comment: comment))
                }
            }
            return result
        } catch let error as SSHWireError {
            throw SSHAgentError(.malformedReply("\(error)"))
        }
    }

    /// Reads an agent's answer to SIGN_REQUEST (the reply without its length prefix): the signature it made.
    /// - Throws: `SSHAgentError`: `refused` for SSH_AGENT_FAILURE, `malformedReply` for another message type, an
    ///   answer cut short, or a signature blob that does not parse.
    public static func parseSignature(_ reply: inout ByteBuffer) throws -> SSHSignature {
        do {
            let type = try reply.readSSHByte()
            guard type == Message.signResponse else {
                throw type == Message.failure ? SSHAgentError(.refused("sign"))
                    : SSHAgentError(.malformedReply("message \(type) where a signature belongs"))
            }
            return try SSHSignature(wireBlob: try reply.readSSHStringBytes())
        } catch let error as SSHWireError {
            throw SSHAgentError(.malformedReply("\(error)"))
        } catch let error as SSHKeyError {
            throw SSHAgentError(.malformedReply("\(error)"))
        }
    }

    // MARK: The socket

    /// One request and its reply, each framed by a 32-bit length, on a fresh connection. The socket calls block (an
    /// agent may wait for its user to confirm), so they run on NIO's pool for blocking work, never on the
    /// cooperative pool or an event loop.
    private func exchange(_ request: [UInt8]) async throws -> ByteBuffer {
        let path = socketPath
        let bytes = try await NIOThreadPool.singleton.runIfActive { try Self.blockingExchange(request, path: path) }
        return ByteBuffer(bytes: bytes)
    }

    private static func blockingExchange(_ request: [UInt8], path: String) throws -> [UInt8] {
        func unreachable(_ code: Int32) -> SSHAgentError { SSHAgentError(.unreachable(path: path, reason: String(cString: strerror(code)))) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw unreachable(errno) }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard !pathBytes.contains(0), pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SSHAgentError(.unreachable(path: path, reason: "not a usable socket path (too long, or a NUL in it)"))
        }
        withUnsafeMutableBytes(of: &address.sun_path) { destination in
            for (index, byte) in pathBytes.enumerated() { destination[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw unreachable(errno) }
        var framed = ByteBuffer()
        framed.writeSSHString(request)
        try writeAll(fd, Array(framed.readableBytesView), path: path)
        var lengthBytes = ByteBuffer(bytes: try readExactly(fd, 4, path: path))
        let size = Int(try lengthBytes.readSSHUInt32())
        guard size > 0, size <= maximumReplySize else { throw SSHAgentError(.malformedReply("a reply of \(size) bytes")) }
        return try readExactly(fd, size, path: path)
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SSHAgentError(.unreachable(path: path, reason: "writing: \(String(cString: strerror(errno)))"))
            }
            offset += written
        }
    }

    private static func readExactly(_ fd: Int32, _ count: Int, path: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let got = bytes[offset...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw SSHAgentError(.malformedReply("the agent closed the connection mid-reply")) }
            offset += got
        }
        return bytes
    }
}
