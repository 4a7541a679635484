// Benchmarks of SSHKeys' public API: signing and verification per key type, RSA key generation, and
// bcrypt-pbkdf at OpenSSH's default 16 rounds (what loading a passphrase-protected key costs).
// Run: swift package --package-path Benchmarks benchmark   (see ../../README.md)

import Benchmark
import SSHKeys

/// What each signing benchmark signs: 256 bytes, about the size of an SSH user-auth request
/// (session identifier, user and service names, the public key blob).
let message: [UInt8] = (0..<256).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

/// OpenSSH's bcrypt cost for new keys (ssh-keygen -a default) and the salt length it writes.
let kdfRounds = 16
let kdfSalt: [UInt8] = (0..<16).map { UInt8($0) }
/// aes256-ctr, the default cipher for new keys: 32 key bytes + 16 IV bytes.
let kdfOutputByteCount = 48

/// A key and a signature made with it over `message`, made before the measured iterations start.
struct SigningFixture: Sendable {
    let key: SSHPrivateKey
    let signature: SSHSignature

    init(_ type: SSHKeyType, bits: Int? = nil) throws {
        key = try SSHPrivateKey.generate(type: type, bits: bits, comment: "bench")
        signature = try key.signature(for: message)
        guard key.publicKey.isValidSignature(signature, for: message) else {
            fatalError("\(type.rawValue): a fresh signature does not verify")
        }
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
}

/// Throughput (ops/s) and malloc counts per operation, with wall clock per operation to compare with
/// `Scripts/bench-keys-vs-openssh.sh`. Not `.cpuTotal`: on Linux it has a 10 ms resolution, and reading it
/// (from /proc) allocates inside the measured region, adding about 16 mallocs to every sample.
let metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal]

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: metrics,
        warmupIterations: 3,
        maxDuration: .seconds(3),
        maxIterations: 100_000
    )

    // MARK: Signing and verification

    let signingCases: [(label: String, type: SSHKeyType, bits: Int?)] = [
        ("ssh-ed25519", .ed25519, nil),
        ("ecdsa-sha2-nistp256", .ecdsaP256, nil),
        ("rsa-sha2-512 (RSA-3072)", .rsa, 3072),
    ]
    for entry in signingCases {
        Benchmark("Sign \(entry.label)") { benchmark, fixture in
            for _ in benchmark.scaledIterations {
                blackHole(try fixture.signature(for: message))
            }
        } setup: {
            try SigningFixture(entry.type, bits: entry.bits).key
        }

        Benchmark("Verify \(entry.label)") { benchmark, fixture in
            for _ in benchmark.scaledIterations {
                guard fixture.key.publicKey.isValidSignature(fixture.signature, for: message) else {
                    throw BenchmarkFailure(description: "signature did not verify")
                }
            }
        } setup: {
            try SigningFixture(entry.type, bits: entry.bits)
        }
    }

    // MARK: Key generation

    Benchmark(
        "Generate RSA-3072 key",
        configuration: .init(warmupIterations: 1, maxDuration: .seconds(20), maxIterations: 40)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try SSHPrivateKey.generate(type: .rsa, bits: 3072))
        }
    }

    Benchmark("Generate ed25519 key") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try SSHPrivateKey.generate(type: .ed25519))
        }
    }

    // MARK: Passphrase-protected keys

    Benchmark(
        "bcrypt-pbkdf 16 rounds, 48 bytes",
        configuration: .init(warmupIterations: 1, maxDuration: .seconds(10), maxIterations: 200)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try BcryptPBKDF.deriveKey(
                passphrase: Array("correct horse".utf8), salt: kdfSalt,
                rounds: kdfRounds, outputByteCount: kdfOutputByteCount))
        }
    }

    // The whole of loading an encrypted key from its file text: armour, bcrypt-pbkdf, aes256-ctr, parsing.
    // Should be within a few per cent of the bcrypt-pbkdf benchmark above.
    Benchmark(
        "Load encrypted ed25519 key (aes256-ctr, 16 rounds)",
        configuration: .init(warmupIterations: 1, maxDuration: .seconds(10), maxIterations: 200)
    ) { benchmark, fileBytes in
        for _ in benchmark.scaledIterations {
            blackHole(try SSHKeyFile.parsePrivateKey(fileBytes, passphrase: "correct horse"))
        }
    } setup: {
        let key = try SSHPrivateKey.generate(type: .ed25519, comment: "bench")
        let text = try OpenSSHPrivateKeyFormat.fileText(key, passphrase: "correct horse", kdfRounds: kdfRounds)
        return Array(text.utf8)
    }
}
