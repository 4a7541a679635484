// What a client can authenticate with (RFC 4252 methods), tried in the order given.
import SSHKeys
import SSHProtocol

/// One way to prove who the user is; `SSHClient.connect` tries them in order, skipping those the server does not
/// allow. The closures (`sign`, the prompts) run on the connection's event loop, not Swift's cooperative pool, so a
/// busy pool cannot stall a login: they must not block. Hand anything that waits (an agent's socket, a person at a
/// terminal) to a thread of its own and await it.
public enum SSHClientCredential: Sendable {
    /// A private key held here, optionally with its OpenSSH user certificate (offered first, then the plain key).
    case privateKey(SSHPrivateKey, certificate: SSHCertificate? = nil)
    /// A key whose signatures come from elsewhere (ssh-agent, a hardware token): `sign(data, algorithm)`.
    case signer(key: SSHPresentedKey, sign: @Sendable ([UInt8], SSHSignatureAlgorithm) async throws -> SSHSignature)
    case password(String)
    /// A password asked for only when the server offers the method (a terminal prompt); nil skips it.
    case passwordPrompt(@Sendable () async throws -> String?)
    /// Keyboard-interactive: answer each round of questions (zero questions are answered without asking).
    case keyboardInteractive(@Sendable (KeyboardInteractiveRequest) async throws -> [String])

    var methodName: String {
        switch self {
        case .privateKey, .signer: "publickey"
        case .password, .passwordPrompt: "password"
        case .keyboardInteractive: "keyboard-interactive"
        }
    }
}
