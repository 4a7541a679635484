// The long tier for the transport (SHH_LONG_TESTS=1): the full product of key exchange × host key algorithm ×
// cipher (× MAC for the CTR ciphers) in memory, each also rekeyed once; and a long stream with many rekeys.
import Foundation
import NIOCore
import SSHKeys
import SSHProtocol
import Testing

private let longTestsEnabled = ProcessInfo.processInfo.environment["SHH_LONG_TESTS"] == "1"

@Suite("Transport long tier", .enabled(if: longTestsEnabled, "set SHH_LONG_TESTS=1 to run the long tier"), .timeLimit(.minutes(30)))
struct TransportLongTierTests {
    @Test(arguments: SSHKeyExchangeAlgorithm.allCases)
    func everyHostKeyCipherAndMACWith(_ kex: SSHKeyExchangeAlgorithm) throws {
        var combinations = 0
        for hostKey in SSHHostKeyAlgorithm.defaults {
            let key = try #require(TestHostKeys.hostKey(hostKey.keyType, certified: hostKey.isCertificate))
            for cipher in SSHCipherAlgorithm.allCases {
                for mac in cipher.isAEAD ? [SSHMACAlgorithm.hmacSHA256] : SSHMACAlgorithm.allCases {
                    let algorithms = SSHAlgorithms(keyExchange: [kex], hostKey: [hostKey], ciphers: [cipher], macs: [mac])
                    var pair = TransportPair(algorithms: algorithms, hostKeys: [key])
                    try TransportEndToEndTests.exchange(&pair, count: 4, size: 3000)
                    try pair.server.startKeyExchange()
                    try pair.client.send(testMessage(4))
                    pair.run()
                    #expect(pair.clientLog.completedExchanges == 2, "\(kex) \(hostKey) \(cipher) \(mac)")
                    #expect(pair.serverLog.messages.compactMap(messageIndex) == Array(0...4), "\(kex) \(hostKey) \(cipher) \(mac)")
                    combinations += 1
                }
            }
        }
        #expect(combinations == SSHHostKeyAlgorithm.defaults.count * (3 + 3 * SSHMACAlgorithm.allCases.count))
    }

    @Test func longStreamWithManyRekeysInBothDirections() throws {
        let limits = SSHRekeyLimits(bytes: 256 * 1024, packets: 500)
        var pair = TransportPair(
            client: SSHTransportConfiguration(role: .client, rekeyLimits: limits),
            server: SSHTransportConfiguration(role: .server(hostKeys: TestHostKeys.all), rekeyLimits: limits)
        )
        try pair.start()
        pair.run()
        let count = 20_000
        for index in 0..<count {
            try pair.client.send(testMessage(index, size: 1 + index % 4000))
            try pair.server.send(testMessage(index, size: 1 + (index * 7) % 4000))
            if index % 13 == 0 { pair.run() }
        }
        pair.run()
        #expect(pair.clientLog.completedExchanges > 50)
        #expect(pair.serverLog.messages.compactMap(messageIndex) == Array(0..<count))
        #expect(pair.clientLog.messages.compactMap(messageIndex) == Array(0..<count))
    }
}
