// Fuzzes the public-key-side parsers of SSHKeys with the same bytes: public key blobs, public key lines,
// signature blobs, armoured SSHSIG signatures and allowed_signers files. Thrown errors are fine; traps are not.
// Whatever parses must also round-trip through its own encoding. Signatures that parse are verified (the answer
// is almost always "no"; what matters is that getting there never traps) against their own key, or against one
// fixture key of each type.

import CLibFuzzerDriver
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
        for key in fixtureKeys {
            _ = key.isValidSignature(signature, for: signedMessage, allowedAlgorithms: everyAlgorithm)
        }
    }

    if let signature = try? SSHSIG.parse(armored: text) {
        roundTrip(signature.publicKey)
        check((try? SSHSignature(wireBlob: signature.signature.wireBlob)) == signature.signature, "SSHSIG's signature does not round-trip")
        _ = signature.publicKey.isValidSignature(signature.signature, for: signedMessage, allowedAlgorithms: everyAlgorithm)
        _ = try? SSHSIG.verify(signature, messageHash: [UInt8](repeating: 0, count: 64), namespace: signature.namespace)
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

let signedMessage = Array("fuzz".utf8)
let everyAlgorithm = Set(SSHSignatureAlgorithm.allCases)

/// One public key of each type (from Tests/Fixtures/keys) to verify fuzzed signature blobs against.
let fixtureKeys: [SSHPublicKey] = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB/jLwEwN62Ae4TKDfyGl7l9j0JhWTYwdw1VOL5Spdmk",
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmtDBxmhKnksQLC2T/xZvGqmBO8rvHza0FDQyRS0H/sDTMdXyXULNfTr9KOrwzPlw7AGEKNiUIT5hszl8ECk+M=",
    "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBB3UWcI+Bp9OMANlnwkdpU9WbiLRbtPQs90ejFdf9lwMxovN1kJgjfxJ5eHvG+iVB7+608tzftf2EAZRMiJvnIFrKoCFPue0Ie+RUMcznQn6EH48xA8EMyoJqOHv2OGvtg==",
    "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAADorShFzTgsgU5gA1cDOnSIvGZueKfy13dQh7rb6UuiuXt3fI84O2ePCjjHBpaOh/sIEfInaRnehK6TEcuGMNiGwHiJPEChRNuQ4or7xLL97o9L6zQWJXY0GlAoEeGFIV7x8bg0gIXYUc3BQWduVm44JfDzwjzq6C0SIewn7+M1QkPVQ==",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDaG87wf2MdU3m0xKUovaPf2j+IIfpDqTrCuT+DUeFWqsT535V2FSqZ9/4n+3m8YXN4DzkdnXbgCJz87t0x+rQNmfeHqDu+QGpphehsQNts/kEXKMD6wJw+c+lKWFOL0GlkfWiB/S/IU0WjE/IsX5PwCByaiBPeV3CybH13rFdwPqONh6RuAZ/bZjPbASde3foL66ZE5xY3UsbwaSqRsnXyneD/cj/HQouLxztxu2WyrvhP1Y/WglHW/3ute0qsKugaUVAt2e9d2j4KhSXpHl15k4ev6godvmdTymc4iaVeZagNAJmY9no7Jv/kSEhNuJpYpJjm8R9wNUPK4vbF0XXN",
].map { line in
    guard let key = try? SSHPublicKeyLine(parsing: line).key else { fatalError("fixture key does not parse: \(line)") }
    return key
}

/// A key that parsed must re-parse from its blob and from its one-line text to an equal key.
func roundTrip(_ key: SSHPublicKey) {
    check((try? SSHPublicKey(wireBlob: key.wireBlob)) == key, "a public key does not re-parse from its blob")
    check((try? SSHPublicKeyLine(parsing: key.description))?.key == key, "a public key does not re-parse from its text")
    _ = key.bitCount
    for hash in SSHFingerprintHash.allCases {
        _ = key.fingerprint(hash)
        _ = key.randomArt(hash)
    }
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("SSHKeys round trip failed: \(message())") }
}
