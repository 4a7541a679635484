// Connection-protocol messages (RFC 4254): global requests and their replies (§4), channel open, confirmation
// and failure (§5.1), window adjust, data and extended data (§5.2), EOF and close (§5.3), channel requests and
// their replies (§5.4); message numbers from RFC 4250 §4.1. The typed request and channel-open payloads live in
// Connection/ChannelTypes.swift, Connection/ChannelRequests.swift and Connection/GlobalRequests.swift.
//
// Every decoder is bounds-checked (SSHWire readers) and strict about trailing bytes, as OpenSSH's sshpkt_get_end
// is; a malformed message becomes an SSHProtocolError (protocol error), never a trap.
import NIOCore
import SSHWire

extension SSHMessageNumber {
    /// SSH_MSG_GLOBAL_REQUEST (RFC 4254 §4).
    public static let globalRequest: UInt8 = 80
    /// SSH_MSG_REQUEST_SUCCESS (RFC 4254 §4).
    public static let requestSuccess: UInt8 = 81
    /// SSH_MSG_REQUEST_FAILURE (RFC 4254 §4).
    public static let requestFailure: UInt8 = 82
    /// SSH_MSG_CHANNEL_OPEN (RFC 4254 §5.1).
    public static let channelOpen: UInt8 = 90
    /// SSH_MSG_CHANNEL_OPEN_CONFIRMATION (RFC 4254 §5.1).
    public static let channelOpenConfirmation: UInt8 = 91
    /// SSH_MSG_CHANNEL_OPEN_FAILURE (RFC 4254 §5.1).
    public static let channelOpenFailure: UInt8 = 92
    /// SSH_MSG_CHANNEL_WINDOW_ADJUST (RFC 4254 §5.2).
    public static let channelWindowAdjust: UInt8 = 93
    /// SSH_MSG_CHANNEL_DATA (RFC 4254 §5.2).
    public static let channelData: UInt8 = 94
    /// SSH_MSG_CHANNEL_EXTENDED_DATA (RFC 4254 §5.2).
    public static let channelExtendedData: UInt8 = 95
    /// SSH_MSG_CHANNEL_EOF (RFC 4254 §5.3).
    public static let channelEOF: UInt8 = 96
    /// SSH_MSG_CHANNEL_CLOSE (RFC 4254 §5.3).
    public static let channelClose: UInt8 = 97
    /// SSH_MSG_CHANNEL_REQUEST (RFC 4254 §5.4).
    public static let channelRequest: UInt8 = 98
    /// SSH_MSG_CHANNEL_SUCCESS (RFC 4254 §5.4).
    public static let channelSuccess: UInt8 = 99
    /// SSH_MSG_CHANNEL_FAILURE (RFC 4254 §5.4).
    public static let channelFailure: UInt8 = 100
}

/// SSH_MSG_CHANNEL_OPEN_FAILURE reason codes (RFC 4254 §5.1). Any other code a peer sends is kept as is.
public struct SSHChannelOpenFailureReason: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The code as sent.
    public var rawValue: UInt32
    /// Wraps any code, known or not.
    ///
    /// - Parameter rawValue: The code.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// SSH_OPEN_ADMINISTRATIVELY_PROHIBITED: policy does not allow the channel.
    public static let administrativelyProhibited = Self(rawValue: 1)
    /// SSH_OPEN_CONNECT_FAILED: the forwarding target could not be reached.
    public static let connectFailed = Self(rawValue: 2)
    /// SSH_OPEN_UNKNOWN_CHANNEL_TYPE: the peer does not implement the channel type.
    public static let unknownChannelType = Self(rawValue: 3)
    /// SSH_OPEN_RESOURCE_SHORTAGE: too many channels, or no memory for another.
    public static let resourceShortage = Self(rawValue: 4)

    /// The RFC's wording, e.g. "connect failed", or "reason N" for an unknown code.
    public var description: String {
        switch rawValue {
        case 1: "administratively prohibited"
        case 2: "connect failed"
        case 3: "unknown channel type"
        case 4: "resource shortage"
        default: "reason \(rawValue)"
        }
    }
}

/// The data_type_code of SSH_MSG_CHANNEL_EXTENDED_DATA (RFC 4254 §5.2); 1 is stderr, the only one defined.
public struct SSHExtendedDataType: RawRepresentable, Sendable, Hashable {
    /// The code as sent.
    public var rawValue: UInt32
    /// Wraps any code, known or not.
    ///
    /// - Parameter rawValue: The code.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// SSH_EXTENDED_DATA_STDERR: a session's standard error.
    public static let stderr = Self(rawValue: 1)
}

/// SSH_MSG_GLOBAL_REQUEST (RFC 4254 §4).
public struct SSHGlobalRequestMessage: Sendable, Equatable {
    /// The request and its request-specific data.
    public var request: SSHGlobalRequest
    /// Whether the sender waits for SSH_MSG_REQUEST_SUCCESS or FAILURE.
    public var wantReply: Bool

    /// Creates the message.
    ///
    /// - Parameters:
    ///   - request: The request.
    ///   - wantReply: Whether the sender waits for a reply.
    public init(_ request: SSHGlobalRequest, wantReply: Bool) {
        self.request = request
        self.wantReply = wantReply
    }
}

/// SSH_MSG_CHANNEL_OPEN (RFC 4254 §5.1).
public struct SSHChannelOpenMessage: Sendable, Equatable {
    /// The channel type and its type-specific data.
    public var channelType: SSHChannelType
    /// The opener's number for the channel.
    public var senderChannel: UInt32
    /// How many bytes the opener is ready to receive before it adjusts the window.
    public var initialWindowSize: UInt32
    /// The largest data packet the opener accepts.
    public var maximumPacketSize: UInt32

    /// Creates the message.
    ///
    /// - Parameters:
    ///   - channelType: The channel type.
    ///   - senderChannel: The opener's number for the channel.
    ///   - initialWindowSize: Bytes the opener will receive before adjusting.
    ///   - maximumPacketSize: The largest data packet the opener accepts.
    public init(channelType: SSHChannelType, senderChannel: UInt32, initialWindowSize: UInt32, maximumPacketSize: UInt32) {
        self.channelType = channelType
        self.senderChannel = senderChannel
        self.initialWindowSize = initialWindowSize
        self.maximumPacketSize = maximumPacketSize
    }
}

/// SSH_MSG_CHANNEL_OPEN_CONFIRMATION (RFC 4254 §5.1). `extraData` is the channel-type-specific tail (none of the
/// types we know has one).
public struct SSHChannelOpenConfirmationMessage: Sendable, Equatable {
    /// The opener's number for the channel.
    public var recipientChannel: UInt32
    /// The confirmer's number for the channel.
    public var senderChannel: UInt32
    /// How many bytes the confirmer is ready to receive.
    public var initialWindowSize: UInt32
    /// The largest data packet the confirmer accepts.
    public var maximumPacketSize: UInt32
    /// Channel-type-specific data after the fixed fields; empty for every type shh knows.
    public var extraData: ByteBuffer

    /// Creates the message.
    ///
    /// - Parameters:
    ///   - recipientChannel: The opener's number for the channel.
    ///   - senderChannel: The confirmer's number for the channel.
    ///   - initialWindowSize: Bytes the confirmer will receive before adjusting.
    ///   - maximumPacketSize: The largest data packet the confirmer accepts.
    ///   - extraData: Channel-type-specific data.
    public init(recipientChannel: UInt32, senderChannel: UInt32, initialWindowSize: UInt32, maximumPacketSize: UInt32,
                extraData: ByteBuffer = ByteBuffer()) {
        self.recipientChannel = recipientChannel
        self.senderChannel = senderChannel
        self.initialWindowSize = initialWindowSize
        self.maximumPacketSize = maximumPacketSize
        self.extraData = extraData
    }
}

/// SSH_MSG_CHANNEL_OPEN_FAILURE (RFC 4254 §5.1).
public struct SSHChannelOpenFailureMessage: Sendable, Equatable {
    /// The opener's number for the channel.
    public var recipientChannel: UInt32
    /// Why the channel was refused.
    public var reason: SSHChannelOpenFailureReason
    /// Text for a person.
    public var description: String
    /// The language of ``description`` (RFC 3066); usually empty.
    public var languageTag: String

    /// Creates the message.
    ///
    /// - Parameters:
    ///   - recipientChannel: The opener's number for the channel.
    ///   - reason: Why the channel was refused.
    ///   - description: Text for a person.
    ///   - languageTag: The language of `description`.
    public init(recipientChannel: UInt32, reason: SSHChannelOpenFailureReason, description: String, languageTag: String = "") {
        self.recipientChannel = recipientChannel
        self.reason = reason
        self.description = description
        self.languageTag = languageTag
    }
}

/// SSH_MSG_CHANNEL_REQUEST (RFC 4254 §5.4).
public struct SSHChannelRequestMessage: Sendable, Equatable {
    /// The receiver's number for the channel.
    public var recipientChannel: UInt32
    /// The request and its request-specific data.
    public var request: SSHChannelRequest
    /// Whether the sender waits for SSH_MSG_CHANNEL_SUCCESS or FAILURE.
    public var wantReply: Bool

    /// Creates the message.
    ///
    /// - Parameters:
    ///   - recipientChannel: The receiver's number for the channel.
    ///   - request: The request.
    ///   - wantReply: Whether the sender waits for a reply.
    public init(recipientChannel: UInt32, request: SSHChannelRequest, wantReply: Bool) {
        self.recipientChannel = recipientChannel
        self.request = request
        self.wantReply = wantReply
    }
}

/// One connection-protocol message (numbers 80–100), decoded from or encoded to a transport payload.
public enum SSHConnectionMessage: Sendable, Equatable {
    /// SSH_MSG_GLOBAL_REQUEST.
    case globalRequest(SSHGlobalRequestMessage)
    /// SSH_MSG_REQUEST_SUCCESS; what `responseData` holds depends on the request it answers.
    case requestSuccess(responseData: ByteBuffer)
    /// SSH_MSG_REQUEST_FAILURE.
    case requestFailure
    /// SSH_MSG_CHANNEL_OPEN.
    case channelOpen(SSHChannelOpenMessage)
    /// SSH_MSG_CHANNEL_OPEN_CONFIRMATION.
    case channelOpenConfirmation(SSHChannelOpenConfirmationMessage)
    /// SSH_MSG_CHANNEL_OPEN_FAILURE.
    case channelOpenFailure(SSHChannelOpenFailureMessage)
    /// SSH_MSG_CHANNEL_WINDOW_ADJUST: the receiver may send `bytesToAdd` more bytes.
    case channelWindowAdjust(recipientChannel: UInt32, bytesToAdd: UInt32)
    /// SSH_MSG_CHANNEL_DATA.
    case channelData(recipientChannel: UInt32, data: ByteBuffer)
    /// SSH_MSG_CHANNEL_EXTENDED_DATA, e.g. stderr.
    case channelExtendedData(recipientChannel: UInt32, dataType: SSHExtendedDataType, data: ByteBuffer)
    /// SSH_MSG_CHANNEL_EOF: the sender will send no more data.
    case channelEOF(recipientChannel: UInt32)
    /// SSH_MSG_CHANNEL_CLOSE.
    case channelClose(recipientChannel: UInt32)
    /// SSH_MSG_CHANNEL_REQUEST.
    case channelRequest(SSHChannelRequestMessage)
    /// SSH_MSG_CHANNEL_SUCCESS.
    case channelSuccess(recipientChannel: UInt32)
    /// SSH_MSG_CHANNEL_FAILURE.
    case channelFailure(recipientChannel: UInt32)

    /// Whether `number` is one of the messages this enum covers (RFC 4254, 80–100).
    ///
    /// - Parameter number: A message number.
    /// - Returns: True for 80 to 100.
    public static func isConnectionMessage(_ number: UInt8) -> Bool {
        (SSHMessageNumber.globalRequest...SSHMessageNumber.requestFailure).contains(number)
            || (SSHMessageNumber.channelOpen...SSHMessageNumber.channelFailure).contains(number)
    }

    /// Decodes a payload, message number first. Data and extended data are slices of `payload` (no copy).
    /// Throws `SSHProtocolError` (`.protocolViolation`) for anything malformed, truncated or with trailing bytes.
    ///
    /// - Parameter payload: The packet payload.
    /// - Throws: ``SSHProtocolError`` with ``SSHProtocolError/Kind/protocolViolation(_:)``.
    public init(payload: ByteBuffer) throws {
        var buffer = payload
        let number: UInt8
        do {
            number = try buffer.readSSHByte(field: "message number")
        } catch {
            throw SSHProtocolError(.protocolViolation("empty connection-protocol message"))
        }
        do {
            self = try Self.decode(number: number, from: &buffer)
            try buffer.expectFullyConsumed(field: Self.name(of: number))
        } catch let error as SSHWireError {
            throw SSHProtocolError(.protocolViolation("malformed \(Self.name(of: number)): \(error)"))
        }
    }

    private static func decode(number: UInt8, from buffer: inout ByteBuffer) throws -> Self {
        switch number {
        case SSHMessageNumber.globalRequest:
            let name = try buffer.readSSHUTF8String(field: "request name")
            let wantReply = try buffer.readSSHBoolean(field: "want reply")
            let request = try SSHGlobalRequest(name: name, data: &buffer)
            return .globalRequest(SSHGlobalRequestMessage(request, wantReply: wantReply))
        case SSHMessageNumber.requestSuccess:
            return .requestSuccess(responseData: (buffer.readSlice(length: buffer.readableBytes) ?? ByteBuffer()))
        case SSHMessageNumber.requestFailure:
            return .requestFailure
        case SSHMessageNumber.channelOpen:
            let name = try buffer.readSSHUTF8String(field: "channel type")
            let sender = try buffer.readSSHUInt32(field: "sender channel")
            let window = try buffer.readSSHUInt32(field: "initial window size")
            let packet = try buffer.readSSHUInt32(field: "maximum packet size")
            let type = try SSHChannelType(name: name, data: &buffer)
            return .channelOpen(SSHChannelOpenMessage(channelType: type, senderChannel: sender, initialWindowSize: window, maximumPacketSize: packet))
        case SSHMessageNumber.channelOpenConfirmation:
            let recipient = try buffer.readSSHUInt32(field: "recipient channel")
            let sender = try buffer.readSSHUInt32(field: "sender channel")
            let window = try buffer.readSSHUInt32(field: "initial window size")
            let packet = try buffer.readSSHUInt32(field: "maximum packet size")
            let extra = (buffer.readSlice(length: buffer.readableBytes) ?? ByteBuffer())
            return .channelOpenConfirmation(SSHChannelOpenConfirmationMessage(
                recipientChannel: recipient, senderChannel: sender, initialWindowSize: window, maximumPacketSize: packet, extraData: extra))
        case SSHMessageNumber.channelOpenFailure:
            let recipient = try buffer.readSSHUInt32(field: "recipient channel")
            let reason = try buffer.readSSHUInt32(field: "reason code")
            // Shown to a user only; a peer that ignores "UTF-8" should not cost the connection.
            let description = String(decoding: try buffer.readSSHStringBytes(field: "description"), as: UTF8.self)
            let language = String(decoding: try buffer.readSSHStringBytes(field: "language tag"), as: UTF8.self)
            return .channelOpenFailure(SSHChannelOpenFailureMessage(
                recipientChannel: recipient, reason: SSHChannelOpenFailureReason(rawValue: reason), description: description, languageTag: language))
        case SSHMessageNumber.channelWindowAdjust:
            let recipient = try buffer.readSSHUInt32(field: "recipient channel")
            let bytes = try buffer.readSSHUInt32(field: "bytes to add")
            return .channelWindowAdjust(recipientChannel: recipient, bytesToAdd: bytes)
        case SSHMessageNumber.channelData:
            let recipient = try buffer.readSSHUInt32(field: "recipient channel")
            return .channelData(recipientChannel: recipient, data: try buffer.readSSHString(field: "data"))
        case SSHMessageNumber.channelExtendedData:
            let recipient = try buffer.readSSHUInt32(field: "recipient channel")
            let code = try buffer.readSSHUInt32(field: "data type code")
            return .channelExtendedData(recipientChannel: recipient, dataType: SSHExtendedDataType(rawValue: code),
                                        data: try buffer.readSSHString(field: "data"))
        case SSHMessageNumber.channelEOF:
            return .channelEOF(recipientChannel: try buffer.readSSHUInt32(field: "recipient channel"))
        case SSHMessageNumber.channelClose:
            return .channelClose(recipientChannel: try buffer.readSSHUInt32(field: "recipient channel"))
        case SSHMessageNumber.channelRequest:
            let recipient = try buffer.readSSHUInt32(field: "recipient channel")
            let name = try buffer.readSSHUTF8String(field: "request type")
            let wantReply = try buffer.readSSHBoolean(field: "want reply")
            let request = try SSHChannelRequest(name: name, data: &buffer)
            return .channelRequest(SSHChannelRequestMessage(recipientChannel: recipient, request: request, wantReply: wantReply))
        case SSHMessageNumber.channelSuccess:
            return .channelSuccess(recipientChannel: try buffer.readSSHUInt32(field: "recipient channel"))
        case SSHMessageNumber.channelFailure:
            return .channelFailure(recipientChannel: try buffer.readSSHUInt32(field: "recipient channel"))
        default:
            throw SSHProtocolError(.protocolViolation("message \(number) is not part of the connection protocol"))
        }
    }

    /// The message number this message is sent with.
    public var messageNumber: UInt8 {
        switch self {
        case .globalRequest: SSHMessageNumber.globalRequest
        case .requestSuccess: SSHMessageNumber.requestSuccess
        case .requestFailure: SSHMessageNumber.requestFailure
        case .channelOpen: SSHMessageNumber.channelOpen
        case .channelOpenConfirmation: SSHMessageNumber.channelOpenConfirmation
        case .channelOpenFailure: SSHMessageNumber.channelOpenFailure
        case .channelWindowAdjust: SSHMessageNumber.channelWindowAdjust
        case .channelData: SSHMessageNumber.channelData
        case .channelExtendedData: SSHMessageNumber.channelExtendedData
        case .channelEOF: SSHMessageNumber.channelEOF
        case .channelClose: SSHMessageNumber.channelClose
        case .channelRequest: SSHMessageNumber.channelRequest
        case .channelSuccess: SSHMessageNumber.channelSuccess
        case .channelFailure: SSHMessageNumber.channelFailure
        }
    }

    /// The RFC name of a message number, for error messages.
    static func name(of number: UInt8) -> String {
        switch number {
        case SSHMessageNumber.globalRequest: "GLOBAL_REQUEST"
        case SSHMessageNumber.requestSuccess: "REQUEST_SUCCESS"
        case SSHMessageNumber.requestFailure: "REQUEST_FAILURE"
        case SSHMessageNumber.channelOpen: "CHANNEL_OPEN"
        case SSHMessageNumber.channelOpenConfirmation: "CHANNEL_OPEN_CONFIRMATION"
        case SSHMessageNumber.channelOpenFailure: "CHANNEL_OPEN_FAILURE"
        case SSHMessageNumber.channelWindowAdjust: "CHANNEL_WINDOW_ADJUST"
        case SSHMessageNumber.channelData: "CHANNEL_DATA"
        case SSHMessageNumber.channelExtendedData: "CHANNEL_EXTENDED_DATA"
        case SSHMessageNumber.channelEOF: "CHANNEL_EOF"
        case SSHMessageNumber.channelClose: "CHANNEL_CLOSE"
        case SSHMessageNumber.channelRequest: "CHANNEL_REQUEST"
        case SSHMessageNumber.channelSuccess: "CHANNEL_SUCCESS"
        case SSHMessageNumber.channelFailure: "CHANNEL_FAILURE"
        default: "message \(number)"
        }
    }

    /// Appends the payload, message number first.
    ///
    /// - Parameter buffer: The buffer to append to.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeSSHByte(messageNumber)
        switch self {
        case .globalRequest(let message):
            buffer.writeSSHString(message.request.name)
            buffer.writeSSHBoolean(message.wantReply)
            message.request.encodeData(into: &buffer)
        case .requestSuccess(let data):
            buffer.writeImmutableBuffer(data)
        case .requestFailure:
            break
        case .channelOpen(let message):
            buffer.writeSSHString(message.channelType.name)
            buffer.writeSSHUInt32(message.senderChannel)
            buffer.writeSSHUInt32(message.initialWindowSize)
            buffer.writeSSHUInt32(message.maximumPacketSize)
            message.channelType.encodeData(into: &buffer)
        case .channelOpenConfirmation(let message):
            buffer.writeSSHUInt32(message.recipientChannel)
            buffer.writeSSHUInt32(message.senderChannel)
            buffer.writeSSHUInt32(message.initialWindowSize)
            buffer.writeSSHUInt32(message.maximumPacketSize)
            buffer.writeImmutableBuffer(message.extraData)
        case .channelOpenFailure(let message):
            buffer.writeSSHUInt32(message.recipientChannel)
            buffer.writeSSHUInt32(message.reason.rawValue)
            buffer.writeSSHString(message.description)
            buffer.writeSSHString(message.languageTag)
        case .channelWindowAdjust(let recipient, let bytes):
            buffer.writeSSHUInt32(recipient)
            buffer.writeSSHUInt32(bytes)
        case .channelData(let recipient, let data):
            buffer.writeSSHUInt32(recipient)
            buffer.writeSSHString(buffer: data)
        case .channelExtendedData(let recipient, let type, let data):
            buffer.writeSSHUInt32(recipient)
            buffer.writeSSHUInt32(type.rawValue)
            buffer.writeSSHString(buffer: data)
        case .channelEOF(let recipient), .channelClose(let recipient),
             .channelSuccess(let recipient), .channelFailure(let recipient):
            buffer.writeSSHUInt32(recipient)
        case .channelRequest(let message):
            buffer.writeSSHUInt32(message.recipientChannel)
            buffer.writeSSHString(message.request.name)
            buffer.writeSSHBoolean(message.wantReply)
            message.request.encodeData(into: &buffer)
        }
    }

    /// The encoded payload in a buffer of its own.
    public var payload: ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer)
        return buffer
    }
}
