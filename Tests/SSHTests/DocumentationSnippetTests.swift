// The code of Sources/SSH/SSH.docc/GettingStarted.md, compiled here so the article cannot drift from the API;
// `theArticleShowsThisCode` checks each of its Swift blocks is here (or in the README example, the getting-started
// package or the README). They connect to example.com, so they are compiled, not run: the getting-started program
// that runs against a real server is Examples/GettingStarted (GettingStartedTests).
import Foundation
import NIOCore
import SSH
import SSHKeys
import Testing

// Article snippets begin
func articleConnect() async throws {

    let key = try SSHKeyFile.loadPrivateKey(atPath: "/home/me/.ssh/id_ed25519")
    let client = try await SSHClient.connect(
        host: "example.com", port: 22, user: "me", credentials: [.privateKey(key)],
        hostKeyValidator: .knownHosts()   // refuses hosts not in ~/.ssh/known_hosts or /etc/ssh/ssh_known_hosts
    )
    _ = client
}

func articleWithConnection(key: SSHPrivateKey) async throws {
    try await SSHClient.withConnection(
        host: "example.com", port: 22, user: "me", credentials: [.privateKey(key)],
        hostKeyValidator: .knownHosts(userFiles: ["/home/me/.ssh/known_hosts"])
    ) { client in
        print(try await client.run("uname -s", check: true), terminator: "")
    }
}

func articleRun(client: SSHClient) async throws {
    let kernel = try await client.run("uname -s", check: true)   // "Linux\n"
    _ = kernel
}

func articleExecute(client: SSHClient) async throws {
    let result = try await client.execute("ls /nonexistent")
    print(result.exitStatus ?? -1, String(decoding: result.stderr, as: UTF8.self))
}

func articleStream(client: SSHClient) async throws {
    let session = try await client.openSession()
    try await session.request(.exec("head -c 16777216 /dev/urandom"))
    var received = 0
    for try await input in session.input {   // read to the end: exit-status may come before the last data
        if case .data(let bytes) = input { received += bytes.readableBytes }
    }
    print("streamed \(received) bytes")
}

func articleStdin(client: SSHClient) async throws {
    let lines: [String] = ["banana", "apple", "cherry"]
    let session = try await client.openSession()
    try await session.request(.exec("sort"))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            for line in lines { try await session.write(ByteBuffer(string: line + "\n")) }
            try await session.sendEOF()
        }
        for try await input in session.input {
            if case .data(let bytes) = input { print(String(buffer: bytes), terminator: "") }
        }
        try await group.waitForAll()
    }
}

func articleErrors(key: SSHPrivateKey) async throws {
    do {
        try await SSHClient.withConnection(
            host: "example.com", user: "me", credentials: [.privateKey(key)], hostKeyValidator: .knownHosts()
        ) { client in
            print(try await client.run("make test", check: true))
        }
    } catch let error as SSHError {
        switch error.kind {
        case .hostKeyRejected:
            // error.underlying is an SSHHostKeyRejection: unknown host, changed key, revoked key, ...
            print("not connecting: \(error)")
        case .authenticationFailed(let user, _, let allowed):
            print("\(user) was not let in; the server allows \(allowed.map(\.name))")
        case .timedOut(let phase, _, _):
            print("timed out \(phase)")
        case .commandFailed(_, let status, _, let stderr):
            print("the tests failed with status \(status ?? -1): \(stderr)")
        default:
            print(error)
        }
    }
}
// Article snippets end

// README snippets begin
func readmeKeys() throws {

    let key = try SSHPrivateKey.generate(type: .ed25519, comment: "me@laptop")
    let file = try OpenSSHPrivateKeyFormat.fileText(key, passphrase: "secret")   // what shh-keygen writes
    let loaded = try SSHKeyFile.parsePrivateKey(Array(file.utf8), passphrase: "secret")
    let signature = try loaded.signature(for: Array("hello".utf8))
    assert(key.publicKey.isValidSignature(signature, for: Array("hello".utf8)))
    print(key.publicKey.fingerprint())   // SHA256:...
}
// README snippets end

@Suite struct DocumentationSnippetTests {
    /// Every Swift block of the SSH getting-started article and of README.md is code that compiles: here, the
    /// README's server example or the getting-started package (Package.swift lines excepted: they are manifests).
    @Test(arguments: ["Sources/SSH/SSH.docc/GettingStarted.md", "README.md"])
    func theDocumentShowsCompiledCode(_ document: String) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        func text(_ path: String) throws -> String { try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8) }
        let article = try text(document)
        let compiled = try [text("Tests/SSHTests/DocumentationSnippetTests.swift"), text("Tests/SSHTests/ReadmeExampleTests.swift"),
                            text("Examples/GettingStarted/Sources/GettingStarted/main.swift"),
                            text("Tests/InteropTests/ForwardingDocumentationSnippets.swift")]
        // Lines compared without their indentation, blank lines and imports left out.
        func lines(_ text: String) -> [String] {
            text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("import ") }
        }
        let haystacks = compiled.map(lines)
        let blocks = article.components(separatedBy: "```swift\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
            .filter { !$0.hasPrefix("// Package.swift") }
        #expect(blocks.count >= 3, "\(document) lost its examples")
        for block in blocks {
            let needle = lines(block)
            let found = haystacks.contains { haystack in
                haystack.count >= needle.count && (0...(haystack.count - needle.count)).contains { Array(haystack[$0..<($0 + needle.count)]) == needle }
            }
            #expect(found, "this block of \(document) is not compiled anywhere:\n\(block)")
        }
    }
}
