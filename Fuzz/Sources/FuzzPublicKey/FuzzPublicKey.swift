// Fuzzes the public-key-side parsers of SSHKeys with the same bytes: public key blobs, public key lines,
// signature blobs, armoured SSHSIG signatures and allowed_signers files. Thrown errors are fine; traps are not.
// Whatever parses must also round-trip through its own encoding.

import CLibFuzzerDriver
import Foundation
import SSHKeys

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)

    if let key = try? SSHPublicKey(wireBlob: bytes) {
        check(key.wireBlob == bytes, "a parsed key blob is not the input")
        roundTrip(key)
    }

    if let line = try? SSHPublicKeyLine(parsing: text) {
        roundTrip(line.key)
        let again = try? SSHPublicKeyLine(parsing: line.text)
        check(again?.key == line.key && again?.comment == line.comment, "a key line does not re-parse from its text")
    }

    if let signature = try? SSHSignature(wireBlob: bytes) {
        check(signature.wireBlob == bytes, "a signature blob does not re-encode to the input")
    }

    if let signature = try? SSHSIG.parse(armored: text) {
        roundTrip(signature.publicKey)
        check((try? SSHSignature(wireBlob: signature.signature.wireBlob)) == signature.signature, "SSHSIG's signature does not round-trip")
    }

    let (entries, warnings) = AllowedSigners.parse(text, path: "fuzz")
    for entry in entries {
        check(entry.line >= 1, "allowed_signers entry without a line number")
        roundTrip(entry.key)
        _ = AllowedSigners.principals(entries: entries, key: entry.key)
        _ = AllowedSigners.authorize(entries: entries, key: entry.key, principal: "user@example.com", namespace: "file", time: 1_700_000_000)
    }
    _ = warnings
    return 0
}

@_cdecl("FuzzPublicKey_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    shh_fuzz_run_driver(argc, argv, fuzzOneInput)
}

/// A key that parsed must re-parse from its blob and from its one-line text to an equal key.
func roundTrip(_ key: SSHPublicKey) {
    check((try? SSHPublicKey(wireBlob: key.wireBlob)) == key, "a public key does not re-parse from its blob")
    check((try? SSHPublicKeyLine(parsing: key.description))?.key == key, "a public key does not re-parse from its text")
    _ = key.bitCount
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("SSHKeys round trip failed: \(message())") }
}
