// Two transports wired together in memory, for fuzz targets and benchmarks that need an established pair without
// sockets. Not for production: the client accepts whatever host key it is shown.

extension SSHTransport {
    /// Starts `client` and `server` and moves bytes between them until both have finished their first key
    /// exchange; the client accepts the host key it is shown. Throws what either side throws, or `.invalidState`
    /// when the exchange stalls.
    @_spi(Testing) public static func handshakeInMemory(client: inout SSHTransport, server: inout SSHTransport) throws {
        try client.start()
        try server.start()
        for _ in 0..<64 {
            var moved = false
            if let bytes = client.takeOutbound() {
                moved = true
                server.receive(bytes)
                while try server.nextEvent() != nil {}
            }
            if let bytes = server.takeOutbound() {
                moved = true
                client.receive(bytes)
                while let event = try client.nextEvent() {
                    if case .hostKeyToValidate = event { try client.acceptHostKey() }
                }
            }
            if !moved { break }
        }
        guard client.completedKeyExchanges == 1, server.completedKeyExchanges == 1 else {
            throw SSHProtocolError(.invalidState("the in-memory handshake did not complete"))
        }
    }
}
