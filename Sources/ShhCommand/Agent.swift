// ssh-agent as a source of keys (draft-miller-ssh-agent: REQUEST_IDENTITIES and SIGN_REQUEST with the rsa-sha2
// flags), over the Unix socket in SSH_AUTH_SOCK or IdentityAgent. Private keys never leave the agent.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import SSH
import SSHKeys
import SSHProtocol

struct AgentClient: Sendable {
    let socketPath: String

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private enum Message {
        static let failure: UInt8 = 5
        static let requestIdentities: UInt8 = 11
        static let identitiesAnswer: UInt8 = 12
        static let signRequest: UInt8 = 13
        static let signResponse: UInt8 = 14
        static let rsaSHA256Flag: UInt32 = 2
        static let rsaSHA512Flag: UInt32 = 4
    }

    /// The keys (and certificates) the agent holds, with their comments; unusable blobs are skipped.
    func identities() throws -> [(key: SSHPresentedKey, comment: String)] {
        var reply = try exchange([Message.requestIdentities])
        guard try reply.byte() == Message.identitiesAnswer else { throw Failure(description: "the agent refused to list its keys") }
        let count = try reply.uint32()
        var result: [(SSHPresentedKey, String)] = []
        for _ in 0..<min(count, 4096) {
            let blob = try reply.string()
            let comment = String(decoding: try reply.string(), as: UTF8.self)
            if let key = try? SSHPublicKey(wireBlob: blob) {
                result.append((.key(key), comment))
            } else if let certificate = try? SSHCertificate(wireBlob: blob) {
                result.append((.certificate(certificate), comment))
            }
        }
        return result
    }

    /// A signature by the agent's key `blob` over `data`, for `algorithm` (RSA keys need the flag that picks SHA-2).
    func sign(_ data: [UInt8], with blob: [UInt8], algorithm: SSHSignatureAlgorithm) throws -> SSHSignature {
        let flags: UInt32 = switch algorithm {
        case .rsaSHA256: Message.rsaSHA256Flag
        case .rsaSHA512: Message.rsaSHA512Flag
        default: 0
        }
        var request: [UInt8] = [Message.signRequest]
        request.appendString(blob)
        request.appendString(data)
        request.appendUInt32(flags)
        var reply = try exchange(request)
        let type = try reply.byte()
        guard type == Message.signResponse else {
            throw Failure(description: type == Message.failure ? "the agent refused to sign" : "unexpected agent reply \(type)")
        }
        return try SSHSignature(wireBlob: try reply.string())
    }

    /// One request and its reply, each framed by a 32-bit length, on a fresh connection.
    private func exchange(_ request: [UInt8]) throws -> Reader {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw Failure(description: "agent socket path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { destination in
            for (index, byte) in pathBytes.enumerated() { destination[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "cannot connect to the agent at \(socketPath): \(String(cString: strerror(errno)))") }
        var framed: [UInt8] = []
        framed.appendUInt32(UInt32(request.count))
        framed += request
        try writeAll(fd, framed)
        var length = Reader(try readExactly(fd, 4))
        let size = Int(try length.uint32())
        guard size > 0, size <= 256 * 1024 else { throw Failure(description: "agent reply of \(size) bytes") }
        return Reader(try readExactly(fd, size))
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "writing to the agent: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    private func readExactly(_ fd: Int32, _ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let got = bytes[offset...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw Failure(description: "the agent closed the connection") }
            offset += got
        }
        return bytes
    }

    /// Bounds-checked reads of the agent's replies.
    private struct Reader {
        private var bytes: ArraySlice<UInt8>
        init(_ bytes: [UInt8]) { self.bytes = bytes[...] }

        mutating func byte() throws -> UInt8 {
            guard let first = bytes.popFirst() else { throw Failure(description: "a truncated agent reply") }
            return first
        }

        mutating func uint32() throws -> UInt32 {
            guard bytes.count >= 4 else { throw Failure(description: "a truncated agent reply") }
            let value = bytes.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            bytes = bytes.dropFirst(4)
            return value
        }

        mutating func string() throws -> [UInt8] {
            let length = Int(try uint32())
            guard bytes.count >= length else { throw Failure(description: "a truncated agent reply") }
            let value = Array(bytes.prefix(length))
            bytes = bytes.dropFirst(length)
            return value
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate mutating func appendUInt32(_ value: UInt32) {
        append(contentsOf: [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)])
    }

    fileprivate mutating func appendString(_ value: [UInt8]) {
        appendUInt32(UInt32(value.count))
        append(contentsOf: value)
    }
}

extension AgentClient {
    /// The agent's keys as credentials; signing runs off the cooperative pool (an agent may ask its user first).
    func credentials(diagnostics: Diagnostics) -> [SSHClientCredential] {
        let listed: [(key: SSHPresentedKey, comment: String)]
        do {
            listed = try identities()
        } catch {
            diagnostics.debug("agent at \(socketPath): \(error)")
            return []
        }
        return listed.map { identity in
            diagnostics.debug("Will attempt key: \(identity.comment) \(identity.key.publicKey.type.displayName) \(identity.key.publicKey.fingerprint()) agent")
            let blob: [UInt8] = switch identity.key {
            case .key(let key): key.wireBlob
            case .certificate(let certificate): certificate.wireBlob
            }
            return SSHClientCredential.signer(key: identity.key) { data, algorithm in
                try await withCheckedThrowingContinuation { continuation in
                    DispatchQueue.global().async {
                        continuation.resume(with: Result { try sign(data, with: blob, algorithm: algorithm) })
                    }
                }
            }
        }
    }
}
