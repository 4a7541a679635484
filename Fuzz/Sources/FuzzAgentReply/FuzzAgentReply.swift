// Fuzzes what shh reads from an ssh-agent (draft-miller-ssh-agent §4.4, §4.5): the agent socket is another
// process, and a forwarded one is as trusted as the host it comes through. Any reply body must parse or throw
// SSHAgentError, never trap; the same bytes go to both parsers. Keys listed must keep their blobs (a key that
// parses re-encodes to the bytes it came from); a signature that parses re-encodes to its blob.

import CLibFuzzerDriver
import NIOCore
import SSHAgent
import SSHWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        var reply = ByteBuffer(bytes: bytes)
        let identities = try SSHAgentClient.parseIdentities(&reply)
        check(identities.count <= 4096, "more identities than the parser's cap: \(identities.count)")
        var listed = ByteBuffer(bytes: bytes)
        _ = try? listed.readSSHByte()
        _ = try? listed.readSSHUInt32()
        for identity in identities {
            // Unknown key types are skipped, so walk the entries to find each listed blob in order.
            var found = false
            while let blob = try? listed.readSSHStringBytes(), (try? listed.readSSHStringBytes()) != nil {
                if blob == identity.key.wireBlob { found = true; break }
            }
            check(found, "a listed key does not keep its blob: \(identity)")
        }
    } catch is SSHAgentError {
    } catch {
        check(false, "parseIdentities threw something other than SSHAgentError: \(error)")
    }
    do {
        var reply = ByteBuffer(bytes: bytes)
        let signature = try SSHAgentClient.parseSignature(&reply)
        var blobReader = ByteBuffer(bytes: bytes.dropFirst())
        let blob = try? blobReader.readSSHStringBytes()
        check(blob == signature.wireBlob, "a signature does not re-encode to its blob: \(signature)")
    } catch is SSHAgentError {
    } catch {
        check(false, "parseSignature threw something other than SSHAgentError: \(error)")
    }
    return 0
}

@_cdecl("FuzzAgentReply_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    shh_fuzz_run_driver(argc, argv, fuzzOneInput)
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("agent reply invariant failed: \(message())") }
}
