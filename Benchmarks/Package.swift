// swift-tools-version: 6.1
// Performance benchmarks for shh, kept in their own package so the root package does not depend on
// ordo-one/benchmark. Run from the repository root with
//   swift package --package-path Benchmarks benchmark
// (see README.md beside this file).
import PackageDescription

let package = Package(
    name: "shh-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "shh", path: ".."),
        // Naming the traits replaces the default set (MallocInterposer + RuntimeInterposer): the
        // malloc interposer gives the malloc counters without libjemalloc, and leaving out
        // RuntimeInterposer avoids ordo-one/swift-runtime-interposer, which is not available here.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        // Already in the graph through the root package; named here for NIOCore's ByteBuffer in SSHProtocol's API.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Already in the graph through the root package; the tunnel benchmark checks SHA-256 digests with it.
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        .executableTarget(
            name: "KeyBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SSHKeys", package: "shh"),
            ],
            path: "Benchmarks/KeyBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
        .executableTarget(
            name: "TransportBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SSHProtocol", package: "shh"),
                .product(name: "SSHKeys", package: "shh"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/TransportBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
        // Not an ordo-one benchmark: a plain program that moves N bytes through an in-process client and server,
        // run side by side with ssh→sshd by Scripts/bench-throughput-vs-openssh.sh.
        .executableTarget(
            name: "shh-throughput",
            dependencies: [
                .product(name: "SSH", package: "shh"),
                .product(name: "SSHProtocol", package: "shh"),
                .product(name: "SSHKeys", package: "shh"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/ThroughputRunner",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The side-by-side harness against OpenSSH (`shh-bench run`), with its own server and client agents.
        .executableTarget(
            name: "shh-bench",
            dependencies: [
                .product(name: "SSH", package: "shh"),
                .product(name: "SSHProtocol", package: "shh"),
                .product(name: "SSHKeys", package: "shh"),
                .product(name: "SSHServerHost", package: "shh"),
                .product(name: "ShhCommand", package: "shh"),
                .product(name: "ShhdCommand", package: "shh"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Benchmarks/Harness",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
