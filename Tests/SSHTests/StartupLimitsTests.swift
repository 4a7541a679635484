// MaxStartups, PerSourceMaxStartups, PerSourceNetBlockSize and PerSourcePenalties as the gate applies them, with a
// clock and a random early drop the test controls.
import Synchronization
import NIOCore
import SSH
import SSHProtocol
import Testing

@Suite(.timeLimit(.minutes(10))) struct StartupLimitsTests {
    static func address(_ text: String) throws -> SocketAddress { try SocketAddress(ipAddress: text, port: 40000) }

    @Test func perSourceMaximumHoldsOneSourceNotOthers() throws {
        var limits = SSHStartupLimits()
        limits.perSourceMaximum = 2
        let gate = SSHStartupGate(limits: limits, random: { _ in 99 })
        let flooder = try Self.address("192.0.2.1")
        #expect(gate.admit(flooder) == nil)
        #expect(gate.admit(flooder) == nil)
        #expect(gate.admit(flooder) == "past PerSourceMaxStartups 2")
        #expect(gate.admit(try Self.address("192.0.2.2")) == nil)
        gate.finished(flooder, outcome: .authenticated)
        #expect(gate.admit(flooder) == nil, "room again once one of them authenticated")
        #expect(gate.startups == 3)
    }

    /// Between start and full, only a source with a connection already in progress is dropped at random (with
    /// sshd's probability); a new source is admitted; at full, nobody.
    @Test func randomEarlyDropFallsOnSourcesAlreadyInProgress() throws {
        var limits = SSHStartupLimits()
        (limits.start, limits.rate, limits.full, limits.perSourceMaximum) = (2, 30, 4, nil)
        let draws = Mutex<[Int]>([])
        let gate = SSHStartupGate(limits: limits, random: { bound in draws.withLock { $0.append(bound) }; return 29 })
        let busy = try Self.address("198.51.100.7")
        #expect(gate.admit(busy) == nil)
        #expect(gate.admit(busy) == nil)
        // 2 startups = start: 30% drop for the busy source; the draw (29) is under 30.
        #expect(gate.admit(busy) == "past MaxStartups")
        #expect(gate.admit(try Self.address("198.51.100.8")) == nil, "a source with nothing in progress is not dropped at random")
        // 3 startups: the busy source's probability is 30 + 70 * 1/2 = 65%; a draw of 29 drops it.
        #expect(gate.admit(busy) == "past MaxStartups")
        #expect(gate.admit(try Self.address("198.51.100.9")) == nil)
        #expect(gate.admit(try Self.address("198.51.100.10")) == "past MaxStartups", "full is a hard cap")
        #expect(draws.withLock { $0 } == [100, 100])
    }

    @Test func netBlocksCountAsOneSource() throws {
        var limits = SSHStartupLimits()
        limits.perSourceMaximum = 1
        limits.ipv4PrefixLength = 24
        limits.ipv6PrefixLength = 64
        let gate = SSHStartupGate(limits: limits)
        #expect(gate.admit(try Self.address("203.0.113.1")) == nil)
        #expect(gate.admit(try Self.address("203.0.113.200")) != nil, "the same /24")
        #expect(gate.admit(try Self.address("203.0.114.1")) == nil)
        #expect(gate.admit(try Self.address("2001:db8::1")) == nil)
        #expect(gate.admit(try Self.address("2001:db8::ffff:1")) != nil, "the same /64")
        #expect(gate.admit(try Self.address("2001:db8:0:1::1")) == nil)
    }

    /// authfail adds 5 s per connection; once a source's penalty reaches min (15 s) it is refused until the
    /// penalty runs out; another source is not; an exempt one never is.
    @Test func penaltiesAccumulateActivateAndExpire() throws {
        var limits = SSHStartupLimits()
        limits.penaltyExemptions = "10.9.0.0/16"
        let gate = SSHStartupGate(limits: limits)
        let start = ContinuousClock.now
        let failing = try Self.address("10.1.2.3")
        let other = try Self.address("10.1.2.4")
        let exempt = try Self.address("10.9.8.7")
        for round in 0..<3 {
            #expect(gate.admit(failing, now: start) == nil, "round \(round): 5 s per failure, not yet 15")
            gate.finished(failing, outcome: .authenticationFailed, now: start)
            #expect(gate.admit(exempt, now: start) == nil)
            gate.finished(exempt, outcome: .authenticationFailed, now: start)
        }
        #expect(gate.admit(failing, now: start) == "penalty: failed authentication")
        #expect(gate.admit(other, now: start) == nil)
        #expect(gate.admit(exempt, now: start) == nil)
        #expect(gate.admit(failing, now: start + .seconds(14)) != nil)
        #expect(gate.admit(failing, now: start + .seconds(16)) == nil, "the penalty ran out")
    }

    @Test func penaltiesAreCappedAtTheirMaximum() throws {
        var limits = SSHStartupLimits()
        limits.penalties?.maximum = .seconds(30)
        let gate = SSHStartupGate(limits: limits)
        let start = ContinuousClock.now
        let source = try Self.address("10.3.3.3")
        for _ in 0..<100 {
            _ = gate.admit(source, now: start)
            gate.finished(source, outcome: .graceExceeded, now: start)
        }
        #expect(gate.admit(source, now: start + .seconds(29)) == "penalty: exceeded LoginGraceTime")
        #expect(gate.admit(source, now: start + .seconds(31)) == nil)
    }

    @Test func aFullPenaltyTableIsPermissiveByDefault() throws {
        var limits = SSHStartupLimits()
        limits.penalties?.maximumSourcesIPv4 = 2
        limits.penalties?.minimum = .seconds(1)
        let gate = SSHStartupGate(limits: limits)
        let start = ContinuousClock.now
        for last in 1...3 {
            let source = try Self.address("10.4.0.\(last)")
            _ = gate.admit(source, now: start)
            gate.finished(source, outcome: .graceExceeded, now: start)
        }
        #expect(gate.admit(try Self.address("10.4.0.1"), now: start) != nil)
        #expect(gate.admit(try Self.address("10.4.0.3"), now: start) == nil, "no room to remember the third source")
    }
}
