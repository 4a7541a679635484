// Messages in places the RFCs forbid, sent by a peer that ignores the rules (found by FuzzServerTransport):
// service messages or EXT_INFO during a key exchange, and a client's EXT_INFO anywhere but right after its first
// NEWKEYS.
import NIOCore
@_spi(Testing) import SSHProtocol
import SSHWire
import Testing

@Suite(.timeLimit(.minutes(10))) struct TransportOrderingTests {
    private func established() throws -> TransportPair {
        var pair = TransportPair()
        try pair.start()
        pair.run()
        try #require(pair.isEstablished)
        return pair
    }

    private func extensionInfo() -> ByteBuffer {
        var payload = ByteBuffer()
        payload.writeSSHByte(SSHMessageNumber.extensionInfo)
        payload.writeSSHUInt32(1)
        payload.writeSSHString("server-sig-algs")
        payload.writeSSHString("ssh-ed25519")
        return payload
    }

    @Test func clientExtensionInfoRightAfterItsFirstNewKeysIsAccepted() throws {
        var pair = try established()
        try pair.client.sendUnchecked(extensionInfo())
        pair.run()
        #expect(pair.serverLog.error == nil)
        #expect(pair.server.peerExtensionInfo?.serverSignatureAlgorithms == ["ssh-ed25519"])
    }

    @Test func clientExtensionInfoLaterThanItsFirstNewKeysIsRefused() throws {
        var pair = try established()
        try pair.client.requestService("ssh-userauth")
        try pair.client.sendUnchecked(extensionInfo())
        pair.run()
        let error = try #require(pair.serverLog.error)
        #expect(error.disconnectReason == .protocolError)
        #expect(error.description.contains("EXT_INFO is only allowed right after the first NEWKEYS"), "\(error)")
        #expect(pair.clientLog.peerDisconnect?.disconnectReason == .protocolError)
    }

    @Test(arguments: [SSHMessageNumber.serviceRequest, SSHMessageNumber.extensionInfo])
    func serviceMessagesDuringARekeyAreRefused(number: UInt8) throws {
        var pair = try established()
        try pair.server.startKeyExchange()
        // Deliver the server's KEXINIT only: the client answers with its own, and the exchange is running on both sides.
        let flight = pair.server.takeOutbound()
        let serverKexInit = try #require(flight)
        pair.client.receive(serverKexInit)
        while let _ = try pair.client.nextEvent() {}
        try #require(pair.client.isKeyExchangeInProgress)
        var payload = ByteBuffer()
        if number == SSHMessageNumber.serviceRequest {
            payload.writeSSHByte(number)
            payload.writeSSHString("ssh-userauth")
        } else {
            payload = extensionInfo()
        }
        try pair.client.sendUnchecked(payload)
        pair.run()
        let error = try #require(pair.serverLog.error)
        #expect(error.description.contains("message \(number) during key exchange"), "\(error)")
        #expect(pair.serverLog.serviceAccepted == nil)
    }

    @Test func sendRefusesTransportMessageNumbers() throws {
        var pair = try established()
        var kexInit = ByteBuffer()
        kexInit.writeSSHByte(SSHMessageNumber.keyExchangeInit)
        #expect(throws: SSHProtocolError.self) { try pair.client.send(kexInit) }
        #expect(throws: SSHProtocolError.self) { try pair.client.send(ByteBuffer()) }
    }
}
