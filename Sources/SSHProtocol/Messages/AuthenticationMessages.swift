// User authentication messages: RFC 4252 §5 (request, failure, success, banner), §7 (publickey and PK_OK),
// §8 (password and PASSWD_CHANGEREQ); RFC 4256 §3 (keyboard-interactive INFO_REQUEST / INFO_RESPONSE).
// Message 60 means PK_OK, PASSWD_CHANGEREQ or INFO_REQUEST depending on the method in progress.
import NIOCore
import SSHWire

extension SSHMessageNumber {
    public static let userAuthenticationMethodSpecific60: UInt8 = 60
    public static let userAuthenticationInfoResponse: UInt8 = 61
}

/// The method part of SSH_MSG_USERAUTH_REQUEST.
public enum UserAuthenticationMethod: Sendable, Equatable {
    case none
    /// RFC 4252 §7: without a signature it asks whether the key would be accepted.
    case publicKey(algorithm: String, keyBlob: [UInt8], signature: [UInt8]?)
    /// RFC 4252 §8; `newPassword` when answering a change request.
    case password(String, newPassword: String?)
    /// RFC 4256 §3.1.
    case keyboardInteractive(submethods: String)
    /// A method we do not implement (hostbased, gssapi-*): refused with the list of what can continue.
    case other(String)

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

/// SSH_MSG_USERAUTH_REQUEST.
public struct UserAuthenticationRequest: Sendable, Equatable {
    public var user: String
    public var service: String
    public var method: UserAuthenticationMethod

    public init(user: String, service: String = "ssh-connection", method: UserAuthenticationMethod) {
        self.user = user
        self.service = service
        self.method = method
    }

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

/// SSH_MSG_USERAUTH_FAILURE.
public struct UserAuthenticationFailure: Sendable, Equatable {
    public var methodsThatCanContinue: [String]
    public var partialSuccess: Bool

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

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeSSHByte(SSHMessageNumber.userAuthenticationFailure)
        buffer.writeSSHNameList(methodsThatCanContinue)
        buffer.writeSSHBoolean(partialSuccess)
    }
}

/// One prompt of SSH_MSG_USERAUTH_INFO_REQUEST (RFC 4256 §3.2).
public struct KeyboardInteractivePrompt: Sendable, Equatable {
    public var prompt: String
    public var echo: Bool
    public init(prompt: String, echo: Bool) {
        self.prompt = prompt
        self.echo = echo
    }
}

/// SSH_MSG_USERAUTH_INFO_REQUEST.
public struct KeyboardInteractiveRequest: Sendable, Equatable {
    public var name: String
    public var instruction: String
    public var prompts: [KeyboardInteractivePrompt]

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
