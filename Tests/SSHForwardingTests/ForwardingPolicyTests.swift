// SSHForwardingPolicy's permitopen/permitlisten matching with sshd's meanings, and the listen addresses ssh binds.
import SSH
@testable import SSHForwarding
import Testing

@Suite struct ForwardingPolicyTests {
    @Test func permitOpenMatchesHostAndPortAsWritten() {
        var policy = SSHForwardingPolicy.openSSHDefaults
        policy.permitOpen = ["db.internal:5432", "*:80", "[::1]:22", "cache:*"]
        let grant = SSHLoginGrant()
        #expect(policy.permitsOpen(host: "db.internal", port: 5432, grant: grant))
        #expect(policy.permitsOpen(host: "DB.internal", port: 5432, grant: grant), "host names compare case-insensitively")
        #expect(!policy.permitsOpen(host: "db.internal", port: 5433, grant: grant))
        #expect(policy.permitsOpen(host: "anything", port: 80, grant: grant))
        #expect(policy.permitsOpen(host: "::1", port: 22, grant: grant))
        #expect(policy.permitsOpen(host: "cache", port: 6379, grant: grant))
        #expect(!policy.permitsOpen(host: "10.0.0.1", port: 5432, grant: grant), "an address is not the name it may resolve from")
    }

    @Test func noneAndAnyAndTheLoginsNarrowing() {
        var policy = SSHForwardingPolicy.openSSHDefaults
        #expect(policy.permitsOpen(host: "x", port: 1, grant: SSHLoginGrant()), "nil is any")
        policy.permitOpen = []
        #expect(!policy.permitsOpen(host: "x", port: 1, grant: SSHLoginGrant()), "empty is none")
        policy.permitOpen = nil
        var grant = SSHLoginGrant()
        grant.permittedOpens = ["localhost:8080"]
        #expect(policy.permitsOpen(host: "localhost", port: 8080, grant: grant))
        #expect(!policy.permitsOpen(host: "localhost", port: 8081, grant: grant), "permitopen= narrows what the server allows")
    }

    @Test func permitListenTakesABarePortForAnyAddress() {
        var policy = SSHForwardingPolicy.openSSHDefaults
        policy.permitListen = ["8080", "localhost:9000"]
        let grant = SSHLoginGrant()
        #expect(policy.permitsListen(address: "", port: 8080, grant: grant))
        #expect(policy.permitsListen(address: "0.0.0.0", port: 8080, grant: grant))
        #expect(policy.permitsListen(address: "localhost", port: 9000, grant: grant))
        #expect(!policy.permitsListen(address: "0.0.0.0", port: 9000, grant: grant))
        #expect(!policy.permitsListen(address: "localhost", port: 9001, grant: grant))
    }

    @Test func listenNamesStandForTheAddressesSshBinds() {
        #expect(Listeners.addresses(forListening: "localhost") == ["127.0.0.1", "::1"])
        #expect(Listeners.addresses(forListening: "") == ["0.0.0.0", "::"])
        #expect(Listeners.addresses(forListening: "*") == ["0.0.0.0", "::"])
        #expect(Listeners.addresses(forListening: "192.0.2.7") == ["192.0.2.7"])
    }

    @Test func theDefaultPolicyDeniesEverything() {
        let policy = SSHForwardingPolicy()
        #expect(policy.tcpForwarding == .none && policy.streamLocalForwarding == .none && !policy.allowsPrivilegedPorts)
    }
}
