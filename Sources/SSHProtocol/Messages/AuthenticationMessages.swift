// User authentication messages: RFC 4252 §5 (request, failure, success, banner), §7 (publickey and PK_OK),
// §8 (password and PASSWD_CHANGEREQ); RFC 4256 §3 (keyboard-interactive INFO_REQUEST / INFO_RESPONSE).
// Message 60 means PK_OK, PASSWD_CHANGEREQ or INFO_REQUEST depending on the method in progress.
import NIOCore
import SSHWire

extension SSHMessageNumber {
    /// Message 60: SSH_MSG_USERAUTH_PK_OK (RFC 4252 §7), SSH_MSG_USERAUTH_PASSWD_CHANGEREQ (§8) or
    /// SSH_MSG_USERAUTH_INFO_REQUEST (RFC 4256 §3.2), depending on the method in progress.
    public static let userAuthenticationMethodSpecific60: UInt8 = 60
    /// SSH_MSG_USERAUTH_INFO_RESPONSE (RFC 4256 §3.4).
    public static let userAuthenticationInfoResponse: UInt8 = 61
}

/// The method part of SSH_MSG_USERAUTH_REQUEST.
public enum UserAuthenticationMethod: Sendable, Equatable {
    /// The "none" method (RFC 4252 §5.2): asks which methods the server allows.
    case none
    /// RFC 4252 §7: without a signature it asks whether the key would be accepted.
    case publicKey(algorithm: String, keyBlob: [UInt8], signature: [UInt8]?)
    /// RFC 4252 §8; `newPassword` when answering a change request.
    case password(String, newPassword: String?)
    /// RFC 4256 §3.1.
    case keyboardInteractive(submethods: String)
    /// A method we do not implement (hostbased, gssapi-*): refused with the list of what can continue.
    case other(String)

    /// The method's name on the wire, e.g. "publickey".
    public var name: String {
        switch self {
        case .none: "none"
        case .publicKey: "publickey"
        case .password: "password"
        case .keyboardInteractive: "keyboard-interactive"
        case .other(let name): name
        }
    }
}

/// SSH_MSG_USERAUTH_REQUEST (RFC 4252 §5).
public struct UserAuthenticationRequest: Sendable, Equatable {
    /// The user name to log in as.
    public var user: String
    /// The service to start after authentication, normally "ssh-connection".
    public var service: String
    /// The method and its method-specific fields.
    public var method: UserAuthenticationMethod

    /// Creates a request.
    ///
    /// - Parameters:
    ///   - user: The user name.
    ///   - service: The service to start afterwards.
    ///   - method: The method and its fields.
    public init(user: String, service: String = "ssh-connection", method: UserAuthenticationMethod) {
        self.user = user
        self.service = service
        self.method = method
    }

    /// Parses a request. A method that is not implemented becomes ``UserAuthenticationMethod/other(_:)``.
    ///
    /// - Parameter payload: The packet payload, starting with SSH_MSG_USERAUTH_REQUEST.
    /// - Throws: ``SSHProtocolError`` for a wrong message number; `SSHWireError` for a malformed field.
    public init(payload: ByteBuffer) throws {
        var buffer = payload
        guard try buffer.readSSHByte(field: "message number") == SSHMessageNumber.userAuthenticationRequest else {
            throw SSHProtocolError(.protocolViolation("not a USERAUTH_REQUEST"))
        }
        user = try buffer.readSSHUTF8String(field: "user name")
        service = try buffer.readSSHUTF8String(field: "service name")
        let methodName = try buffer.readSSHUTF8String(field: "method name")
        switch methodName {
        case "none":
            method = .none
        case "publickey":
            let hasSignature = try buffer.readSSHBoolean(field: "publickey has signature")
            let algorithm = try buffer.readSSHUTF8String(field: "public key algorithm")
            let blob = try buffer.readSSHStringBytes(field: "public key blob")
            let signature = hasSignature ? try buffer.readSSHStringBytes(field: "signature") : nil
            method = .publicKey(algorithm: algorithm, keyBlob: blob, signature: signature)
        case "password":
            let changing = try buffer.readSSHBoolean(field: "password change flag")
            let password = try buffer.readSSHUTF8String(field: "password")
            let newPassword = changing ? try buffer.readSSHUTF8String(field: "new password") : nil
            method = .password(password, newPassword: newPassword)
        case "keyboard-interactive":
            _ = try buffer.readSSHStringBytes(field: "language tag")
            method = .keyboardInteractive(submethods: try buffer.readSSHUTF8String(field: "submethods"))
        default:
            method = .other(methodName)
        }
    }

    /// Writes the message, message number first.
    ///
    /// - Parameter buffer: The buffer to append to.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeSSHByte(SSHMessageNumber.userAuthenticationRequest)
        buffer.writeSSHString(user)
        buffer.writeSSHString(service)
        buffer.writeSSHString(method.name)
        switch method {
        case .none, .other:
            break
        case .publicKey(let algorithm, let keyBlob, let signature):
            buffer.writeSSHBoolean(signature != nil)
            buffer.writeSSHString(algorithm)
            buffer.writeSSHString(keyBlob)
            if let signature { buffer.writeSSHString(signature) }
        case .password(let password, let newPassword):
            buffer.writeSSHBoolean(newPassword != nil)
            buffer.writeSSHString(password)
            if let newPassword { buffer.writeSSHString(newPassword) }
        case .keyboardInteractive(let submethods):
            buffer.writeSSHString("")
            buffer.writeSSHString(submethods)
        }
    }

    /// RFC 4252 §7: the data a publickey signature covers.
    ///
    /// - Parameters:
    ///   - sessionIdentifier: The session identifier, ``SSHTransport/sessionIdentifier``.
    ///   - user: The user name in the request.
    ///   - service: The service in the request.
    ///   - algorithm: The public key algorithm name in the request.
    ///   - keyBlob: The public key blob in the request.
    /// - Returns: The bytes to sign or verify.
    public static func signedData(sessionIdentifier: [UInt8], user: String, service: String, algorithm: String, keyBlob: [UInt8]) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeSSHString(sessionIdentifier)
        buffer.writeSSHByte(SSHMessageNumber.userAuthenticationRequest)
        buffer.writeSSHString(user)
        buffer.writeSSHString(service)
        buffer.writeSSHString("publickey")
        buffer.writeSSHBoolean(true)
        buffer.writeSSHString(algorithm)
        buffer.writeSSHString(keyBlob)
        return Array(buffer.readableBytesView)
    }
}

/// SSH_MSG_USERAUTH_FAILURE (RFC 4252 §5.1).
public struct UserAuthenticationFailure: Sendable, Equatable {
    /// The methods the client may try next.
    public var methodsThatCanContinue: [String]
    /// True when the last method succeeded but more are required.
    public var partialSuccess: Bool

    /// Creates a failure message.
    ///
    /// - Parameters:
    ///   - methodsThatCanContinue: The methods the client may try next.
    ///   - partialSuccess: True when the last method succeeded but more are required.
    public init(methodsThatCanContinue: [String], partialSuccess: Bool) {
        self.methodsThatCanContinue = methodsThatCanContinue
        self.partialSuccess = partialSuccess
    }

    init(payload: ByteBuffer) throws {
        var buffer = payload
        buffer.moveReaderIndex(forwardBy: 1)
        methodsThatCanContinue = try buffer.readSSHNameList(field: "authentications that can continue")
        partialSuccess = try buffer.readSSHBoolean(field: "partial success")
    }

    /// Writes the message, message number first.
    ///
    /// - Parameter buffer: The buffer to append to.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeSSHByte(SSHMessageNumber.userAuthenticationFailure)
        buffer.writeSSHNameList(methodsThatCanContinue)
        buffer.writeSSHBoolean(partialSuccess)
    }
}

/// One prompt of SSH_MSG_USERAUTH_INFO_REQUEST (RFC 4256 §3.2).
public struct KeyboardInteractivePrompt: Sendable, Equatable {
    /// The question, e.g. "Password: ".
    public var prompt: String
    /// Whether the answer may be shown as it is typed.
    public var echo: Bool
    /// Creates a prompt.
    ///
    /// - Parameters:
    ///   - prompt: The question.
    ///   - echo: Whether the answer may be shown as it is typed.
    public init(prompt: String, echo: Bool) {
        self.prompt = prompt
        self.echo = echo
    }
}

/// SSH_MSG_USERAUTH_INFO_REQUEST (RFC 4256 §3.2): questions for the user.
public struct KeyboardInteractiveRequest: Sendable, Equatable {
    /// A title for the questions; may be empty.
    public var name: String
    /// Text to show before the questions; may be empty.
    public var instruction: String
    /// The questions, in order; may be empty.
    public var prompts: [KeyboardInteractivePrompt]

    /// Creates a request.
    ///
    /// - Parameters:
    ///   - name: A title for the questions.
    ///   - instruction: Text to show before the questions.
    ///   - prompts: The questions.
    public init(name: String = "", instruction: String = "", prompts: [KeyboardInteractivePrompt]) {
        self.name = name
        self.instruction = instruction
        self.prompts = prompts
    }

    /// A server may ask at most this many questions at once; more is refused as hostile.
    static let maximumPrompts = 100

    init(payload: ByteBuffer) throws {
        var buffer = payload
        buffer.moveReaderIndex(forwardBy: 1)
        name = try buffer.readSSHUTF8String(field: "name")
        instruction = try buffer.readSSHUTF8String(field: "instruction")
        _ = try buffer.readSSHStringBytes(field: "language tag")
        let count = try buffer.readSSHUInt32(field: "number of prompts")
        guard count <= Self.maximumPrompts else {
            throw SSHProtocolError(.protocolViolation("keyboard-interactive request with \(count) prompts"))
        }
        prompts = try (0..<count).map { _ in
            KeyboardInteractivePrompt(prompt: try buffer.readSSHUTF8String(field: "prompt"), echo: try buffer.readSSHBoolean(field: "echo"))
        }
    }

    /// Writes the message, message number first.
    ///
    /// - Parameter buffer: The buffer to append to.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeSSHByte(SSHMessageNumber.userAuthenticationMethodSpecific60)
        buffer.writeSSHString(name)
        buffer.writeSSHString(instruction)
        buffer.writeSSHString("")
        buffer.writeSSHUInt32(UInt32(prompts.count))
        for prompt in prompts {
            buffer.writeSSHString(prompt.prompt)
            buffer.writeSSHBoolean(prompt.echo)
        }
    }
}

enum KeyboardInteractiveResponse {
    static func decode(_ payload: ByteBuffer) throws -> [String] {
        var buffer = payload
        buffer.moveReaderIndex(forwardBy: 1)
        let count = try buffer.readSSHUInt32(field: "number of responses")
        guard count <= KeyboardInteractiveRequest.maximumPrompts else {
            throw SSHProtocolError(.protocolViolation("keyboard-interactive response with \(count) answers"))
        }
        return try (0..<count).map { _ in try buffer.readSSHUTF8String(field: "response") }
    }

    static func encode(_ responses: [String], into buffer: inout ByteBuffer) {
        buffer.writeSSHByte(SSHMessageNumber.userAuthenticationInfoResponse)
        buffer.writeSSHUInt32(UInt32(responses.count))
        for response in responses { buffer.writeSSHString(response) }
    }
}
