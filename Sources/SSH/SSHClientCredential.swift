// What a client can authenticate with (RFC 4252 methods), tried in the order given.
import SSHKeys
import SSHProtocol

/// One way to prove who the user is (an RFC 4252 method); `SSHClient.connect` tries them in order, skipping those
/// the server does not allow.
///
/// The closures (`sign`, the prompts) run on the connection's event loop, not Swift's cooperative pool, so a
/// busy pool cannot stall a login: they must not block. Hand anything that waits (an agent's socket, a person at a
/// terminal) to a thread of its own and await it. A closure that throws fails the connection with
/// `SSHError.Kind.credentialFailed`, its error in `SSHError.underlying`.
///
/// ```swift
/// let credentials: [SSHClientCredential] = [
///     .privateKey(try SSHKeyFile.loadPrivateKey(atPath: "/home/me/.ssh/id_ed25519")),
///     .password("correct horse battery staple"),
/// ]
/// ```
public enum SSHClientCredential: Sendable {
    /// A private key held here, optionally with its OpenSSH user certificate (offered first, then the plain key).
    ///
    /// `SSHKeyFile.loadPrivateKey(atPath:passphrase:)` reads OpenSSH, PEM and PKCS#8 key files.
    case privateKey(SSHPrivateKey, certificate: SSHCertificate? = nil)
    /// A key whose signatures come from elsewhere (ssh-agent, a hardware token): `sign(data, algorithm)` returns
    /// the signature of `data` with `algorithm`. The key is offered first and signs only when the server accepts
    /// it. SSHAgent's `SSHAgentClient.credentials()` makes these for an agent's keys.
    case signer(key: SSHPresentedKey, sign: @Sendable ([UInt8], SSHSignatureAlgorithm) async throws -> SSHSignature)
    /// A password known up front ("password" method, RFC 4252 §8), sent only when the server offers the method.
    case password(String)
    /// A password asked for only when the server offers the method (a terminal prompt); nil skips it.
    case passwordPrompt(@Sendable () async throws -> String?)
    /// Keyboard-interactive (RFC 4256): answer each round of questions, one answer per prompt in order (a round
    /// of zero questions is answered without asking).
    case keyboardInteractive(@Sendable (KeyboardInteractiveRequest) async throws -> [String])

    var methodName: String {
        switch self {
        case .privateKey, .signer: "publickey"
        case .password, .passwordPrompt: "password"
        case .keyboardInteractive: "keyboard-interactive"
        }
    }
}
