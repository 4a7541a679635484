// swift-tools-version: 6.1
// The README's getting-started program as a package of its own, depending on shh by path as an application would
// by URL (.package(url: "https://github.com/.../shh.git", from: "...")). Tests/InteropTests/GettingStartedTests.swift
// builds it and runs it against OpenSSH's sshd.
import PackageDescription

let package = Package(
    name: "getting-started",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "shh", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "getting-started",
            dependencies: [
                .product(name: "SSH", package: "shh"),
                .product(name: "SSHKeys", package: "shh"),
            ],
            path: "Sources/GettingStarted"
        ),
    ]
)
