import Foundation
import SSH
import SSHKeys

// getting-started HOST PORT USER PRIVATE_KEY KNOWN_HOSTS
let arguments = CommandLine.arguments
guard arguments.count == 6, let port = Int(arguments[2]) else {
    print("usage: getting-started HOST PORT USER PRIVATE_KEY KNOWN_HOSTS")
    exit(2)
}
do {
    let key = try SSHKeyFile.loadPrivateKey(atPath: arguments[4])
    try await SSHClient.withConnection(
        host: arguments[1], port: port, user: arguments[3], credentials: [.privateKey(key)],
        hostKeyValidator: .knownHosts(userFiles: [arguments[5]])  // refuses hosts not in the file
    ) { client in
        print(try await client.run("uname -s", check: true), terminator: "")  // throws unless it exits 0
        let session = try await client.openSession()
        try await session.request(.exec("head -c 16777216 /dev/urandom"))
        var received = 0
        for try await input in session.input {  // read to the end: exit-status may come before the last data
            if case .data(let bytes) = input { received += bytes.readableBytes }
        }
        print("streamed \(received) bytes")
    }
} catch {
    print("getting-started: \(error)")
    exit(1)
}
