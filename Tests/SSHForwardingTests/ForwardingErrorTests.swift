import SSHForwarding
import Testing

@Suite struct ForwardingErrorTests {
    @Test func refusedRemoteForwardReadsAsSshSaysIt() {
        let error = SSHForwardingError(.remoteForwardRefused(address: "8080"))
        #expect(error.description == "remote port forwarding failed for listen port 8080")
    }
}
