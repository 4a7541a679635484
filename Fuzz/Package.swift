// swift-tools-version: 6.1
// libFuzzer targets for shh's parsers, kept in their own package so fuzzing flags never touch the main build.
// Build and run them with Scripts/run-fuzzers.sh from the repository root (see README.md beside this file):
// the sanitizer and coverage flags go on the `swift build` command line so that the library modules
// (SSHWire, SSHKeys, SSHProtocol) are instrumented too, not only the fuzz targets.
import PackageDescription

// Each fuzz target starts libFuzzer itself from `<Target>_main` (SwiftPM's name for an executable's main),
// so it has no top-level code.
let fuzzTargetSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .unsafeFlags(["-parse-as-library"]),
]

func fuzzTarget(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: name,
        dependencies: ["CLibFuzzerDriver"] + dependencies,
        swiftSettings: fuzzTargetSettings
    )
}

let package = Package(
    name: "shh-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "shh", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // Declares libFuzzer's LLVMFuzzerRunDriver for Swift; the library itself
        // (libclang_rt.fuzzer_no_main) is linked by Scripts/run-fuzzers.sh.
        .target(name: "CLibFuzzerDriver"),
        fuzzTarget("FuzzPrivateKey", [.product(name: "SSHKeys", package: "shh")]),
        fuzzTarget("FuzzPublicKey", [.product(name: "SSHKeys", package: "shh")]),
        fuzzTarget("FuzzKnownHosts", [.product(name: "SSHKeys", package: "shh")]),
        fuzzTarget("FuzzAuthorizedKeys", [.product(name: "SSHKeys", package: "shh")]),
        fuzzTarget("FuzzCertificate", [.product(name: "SSHKeys", package: "shh")]),
        fuzzTarget("FuzzSSHWire", [
            .product(name: "SSHWire", package: "shh"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        fuzzTarget("FuzzServerTransport", [
            .product(name: "SSHProtocol", package: "shh"),
            .product(name: "SSHKeys", package: "shh"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        fuzzTarget("FuzzClientConfig", [.product(name: "OpenSSHConfig", package: "shh")]),
        fuzzTarget("FuzzServerConfig", [.product(name: "OpenSSHConfig", package: "shh")]),
        fuzzTarget("FuzzBrokerMessage", [
            .product(name: "SSHServerHost", package: "shh"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        fuzzTarget("FuzzAgentReply", [
            .product(name: "SSHAgent", package: "shh"),
            .product(name: "SSHWire", package: "shh"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        fuzzTarget("FuzzConnection", [
            .product(name: "SSHProtocol", package: "shh"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        fuzzTarget("FuzzSOCKSRequest", [
            .product(name: "SSHForwarding", package: "shh"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
    ]
)
