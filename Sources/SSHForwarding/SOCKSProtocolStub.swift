// TEMPORARY: replaced by the SOCKS parser from branch wt-socks.
import NIOCore
struct SOCKSRequestParser { mutating func feed(_ bytes: inout ByteBuffer) throws -> SOCKSParseStep { throw SSHForwardingError(.socks("not built")) } }
enum SOCKSParseStep { case needMoreBytes, reply(ByteBuffer), connect(SOCKSConnectRequest) }
struct SOCKSConnectRequest: Sendable { var host: String; var port: UInt16
  func successReply() -> ByteBuffer { ByteBuffer() }
  func failureReply(for error: any Error) -> ByteBuffer { ByteBuffer() } }
extension SSHForwardingError { var socksReply: ByteBuffer? { nil } }
