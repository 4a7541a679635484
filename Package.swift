// swift-tools-version: 6.1
// shh — an SSH suite in Swift. Module layout and the rules behind it: docs/ARCHITECTURE.md
// (dependencies point down only: executables → command modules → SSHKeys → SSHWire).
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "shh",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SSHWire", targets: ["SSHWire"]),
        .library(name: "SSHKeys", targets: ["SSHKeys"]),
        .library(name: "SSHProtocol", targets: ["SSHProtocol"]),
        .library(name: "SSH", targets: ["SSH"]),
        .library(name: "SSHPOSIX", targets: ["SSHPOSIX"]),
        .library(name: "SSHAgent", targets: ["SSHAgent"]),
        .library(name: "SSHForwarding", targets: ["SSHForwarding"]),
        .library(name: "SSHServerHost", targets: ["SSHServerHost"]),
        .library(name: "SSHCommandLine", targets: ["SSHCommandLine"]),
        .library(name: "SSHKeygenCommand", targets: ["SSHKeygenCommand"]),
        .library(name: "OpenSSHConfig", targets: ["OpenSSHConfig"]),
        .library(name: "ShhCommand", targets: ["ShhCommand"]),
        .executable(name: "shh-keygen", targets: ["shh-keygen"]),
        .executable(name: "shh", targets: ["shh"]),
        .library(name: "ShhdCommand", targets: ["ShhdCommand"]),
        .executable(name: "shhd", targets: ["shhd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // `swift package generate-documentation` (Scripts/build-docs.sh, run by CI); a plugin, nothing is linked.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "SSHWire",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "SSHKeys",
            dependencies: [
                "SSHWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .systemLibrary(
            name: "CLibcrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(
            name: "SSHProtocol",
            dependencies: [
                "SSHKeys",
                "SSHWire",
                "CLibcrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "SSH",
            dependencies: [
                "SSHProtocol",
                "SSHKeys",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // POSIX for client and server alike (processes, pseudo-terminals, termios, accounts, descriptors, a pool for
        // blocking calls), over a C shim that needs nothing beyond libc.
        .target(name: "CSSHPOSIX"),
        .target(
            name: "SSHPOSIX",
            dependencies: [
                "CSSHPOSIX",
                "SSHProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The ssh-agent protocol (draft-miller-ssh-agent): the client shh signs with, the base of agent forwarding.
        .target(
            name: "SSHAgent",
            dependencies: [
                "SSHKeys", "SSHWire", "SSHProtocol", "SSH",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // Port forwarding, SOCKS, jump hosts and agent forwarding (RFC 4254 §6.3, §7; OpenSSH PROTOCOL §2.4), as
        // building blocks over SSH's channels that shh and shhd both use.
        .target(
            name: "SSHForwarding",
            dependencies: [
                "SSH", "SSHProtocol", "SSHWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // What only a server does: password checks (libcrypt, through its own C shim so the client never links it).
        .target(name: "CSSHServerHost", linkerSettings: [.linkedLibrary("crypt")]),
        .target(
            name: "SSHServerHost",
            dependencies: [
                "CSSHPOSIX",
                "CSSHServerHost",
                "SSHPOSIX",
                "SSH",
                "SSHForwarding",
                "SSHProtocol",
                "SSHWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            exclude: ["Broker/THREAT_MODEL.md"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "SSHCommandLine",
            swiftSettings: strictSettings
        ),
        .target(
            name: "SSHKeygenCommand",
            dependencies: ["SSHKeys", "SSHCommandLine", "SSHWire"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "shh-keygen",
            dependencies: ["SSHKeygenCommand"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "OpenSSHConfig",
            dependencies: ["SSHCommandLine", "SSHKeys", "SSHProtocol", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "ShhdCommand",
            dependencies: [
                "CSSHPOSIX", "CSSHServerHost", "OpenSSHConfig", "SSH", "SSHCommandLine", "SSHForwarding", "SSHKeys", "SSHPOSIX",
                "SSHProtocol", "SSHServerHost",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "shhd",
            dependencies: ["ShhdCommand"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "ShhCommand",
            dependencies: [
                "CSSHPOSIX", "OpenSSHConfig", "SSH", "SSHAgent", "SSHCommandLine", "SSHForwarding", "SSHKeys", "SSHPOSIX",
                "SSHProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "shh",
            dependencies: ["ShhCommand"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SSHWireTests",
            dependencies: ["SSHWire", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SSHKeysTests",
            dependencies: [
                "SSHKeys",
                "SSHWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SSHProtocolTests",
            dependencies: ["SSHProtocol"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SSHTests",
            dependencies: [
                "SSH",
                .product(name: "Logging", package: "swift-log"),
                "SSHProtocol",
                "SSHKeys",
                "SSHWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SSHPOSIXTests",
            dependencies: ["SSHPOSIX", "CSSHPOSIX", "SSHProtocol"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SSHAgentTests",
            dependencies: ["SSHAgent", "SSHKeys", "SSHProtocol", "SSHWire", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SSHForwardingTests",
            dependencies: [
                "SSHForwarding", "SSH", "SSHKeys", "SSHProtocol", "SSHWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SSHServerHostTests",
            dependencies: [
                "SSHForwarding",
                "SSHServerHost", "CSSHPOSIX", "SSH", "SSHPOSIX", "SSHProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SSHKeygenCommandTests",
            dependencies: ["SSHKeygenCommand", "SSHKeys"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SSHCommandLineTests",
            dependencies: ["SSHCommandLine"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "OpenSSHConfigTests",
            dependencies: ["OpenSSHConfig", "SSHKeys", "SSHProtocol"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ShhCommandTests",
            dependencies: ["OpenSSHConfig", "ShhCommand", "SSHCommandLine", "SSHPOSIX"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ShhdCommandTests",
            dependencies: [
                "ShhdCommand", "CSSHPOSIX", "OpenSSHConfig", "SSH", "SSHKeys", "SSHPOSIX", "SSHProtocol", "SSHServerHost", "SSHForwarding", "CSSHServerHost",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "InteropTests",
            dependencies: [
                "SSH",
                "SSHForwarding",
                "SSHServerHost",
                "SSHPOSIX",
                "CSSHPOSIX",
                "SSHProtocol",
                "SSHKeys",
                "SSHKeygenCommand",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            exclude: ["terminal_prompt_check.py", "asyncssh_transport_peer.py", "python_exec_client.py", "asyncssh_shh_server.py",
                      "answer_on_terminal.py", "tcp_relay.py", "startup_flood.py", "hostile_clients.py", "socks5_client.py",
                      "forward_peer.py"],
            swiftSettings: strictSettings
        ),
    ]
)
