// A libcrypto EVP cipher context for one key, used in place on packet bytes. Each packet sets its own IV, so no
// state carries from one packet to the next and copies of a protection value may share the context (the transport
// never uses one from two threads at once).
import CLibcrypto

final class LibcryptoCipher: @unchecked Sendable {
    enum Kind {
        case aes128GCM, aes256GCM, chacha20

        fileprivate var cipher: OpaquePointer? {
            switch self {
            case .aes128GCM: EVP_aes_128_gcm()
            case .aes256GCM: EVP_aes_256_gcm()
            case .chacha20: EVP_chacha20()
            }
        }
    }

    private let context: OpaquePointer
    private let encrypting: Bool

    /// A context that encrypts (`encrypting`) or decrypts with `key`. ChaCha20 is its own inverse, so either works.
    init(_ kind: Kind, key: [UInt8], encrypting: Bool) throws {
        guard let context = EVP_CIPHER_CTX_new() else {
            throw SSHProtocolError(.invalidState("libcrypto could not allocate a cipher context"))
        }
        self.context = context
        self.encrypting = encrypting
        let initialised = key.withUnsafeBufferPointer { key in
            encrypting
                ? EVP_EncryptInit_ex(context, kind.cipher, nil, key.baseAddress, nil)
                : EVP_DecryptInit_ex(context, kind.cipher, nil, key.baseAddress, nil)
        }
        guard initialised == 1 else {
            throw SSHProtocolError(.invalidState("libcrypto refused the \(kind) key (\(key.count) bytes)"))
        }
    }

    deinit { EVP_CIPHER_CTX_free(context) }

    /// Starts a message under `iv` (12 bytes for GCM; 16 for ChaCha20: 32-bit little-endian counter, then nonce).
    func start(iv: UnsafeRawBufferPointer) throws {
        let pointer = iv.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let status = encrypting
            ? EVP_EncryptInit_ex(context, nil, nil, nil, pointer)
            : EVP_DecryptInit_ex(context, nil, nil, nil, pointer)
        guard status == 1 else { throw SSHProtocolError(.invalidState("libcrypto refused the IV")) }
    }

    /// Authenticated-but-clear bytes (GCM's associated data).
    func authenticate(_ bytes: UnsafeRawBufferPointer) throws {
        var written: Int32 = 0
        let status = encrypting
            ? EVP_EncryptUpdate(context, nil, &written, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(bytes.count))
            : EVP_DecryptUpdate(context, nil, &written, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(bytes.count))
        guard status == 1 else { throw SSHProtocolError(.invalidState("libcrypto refused associated data")) }
    }

    /// Transforms `input` into `output` (the same memory for in place; stream modes write exactly as many bytes).
    func update(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        precondition(output.count >= input.count, "cipher output shorter than its input")
        guard !input.isEmpty else { return }
        var written: Int32 = 0
        let outputBytes = output.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let inputBytes = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let status = encrypting
            ? EVP_EncryptUpdate(context, outputBytes, &written, inputBytes, Int32(input.count))
            : EVP_DecryptUpdate(context, outputBytes, &written, inputBytes, Int32(input.count))
        guard status == 1, Int(written) == input.count else {
            throw SSHProtocolError(.invalidState("libcrypto cipher update failed"))
        }
    }

    /// Ends a GCM encryption and writes its 16-byte tag.
    func finishSealing(tag: UnsafeMutableRawBufferPointer) throws {
        var written: Int32 = 0
        var scratch: (UInt64, UInt64) = (0, 0)
        let finished = withUnsafeMutableBytes(of: &scratch) {
            EVP_EncryptFinal_ex(context, $0.baseAddress?.assumingMemoryBound(to: UInt8.self), &written)
        }
        guard finished == 1, EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, 16, tag.baseAddress) == 1 else {
            throw SSHProtocolError(.invalidState("libcrypto could not finish the packet"))
        }
    }

    /// Ends a GCM decryption: true only when `tag` is right.
    func finishOpening(tag: UnsafeRawBufferPointer) -> Bool {
        guard tag.count == 16, EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, 16, UnsafeMutableRawPointer(mutating: tag.baseAddress)) == 1
        else { return false }
        var written: Int32 = 0
        var scratch: (UInt64, UInt64) = (0, 0)
        return withUnsafeMutableBytes(of: &scratch) {
            EVP_DecryptFinal_ex(context, $0.baseAddress?.assumingMemoryBound(to: UInt8.self), &written)
        } == 1
    }
}
