// Fuzzes OpenSSH certificate parsing: blobs and "-cert.pub" lines must parse or throw, never trap; whatever
// parses must keep its exact bytes, and checking it (signature, validity, principals, options) must answer.

import CLibFuzzerDriver
import SSHKeys

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let certificate = try? SSHCertificate(wireBlob: bytes) {
        check(certificate.wireBlob == bytes, "a parsed certificate is not its input")
        exercise(certificate)
    }
    if let (certificate, _) = try? SSHCertificate.parseLine(String(decoding: bytes, as: UTF8.self)) {
        check((try? SSHCertificate(wireBlob: certificate.wireBlob)) == certificate, "a certificate line does not round-trip")
        exercise(certificate)
    }
    return 0
}

func exercise(_ certificate: SSHCertificate) {
    _ = certificate.hasValidSignature
    _ = certificate.forceCommand
    _ = certificate.sourceAddressOption
    for kind in [SSHCertificate.Kind.user, .host] {
        _ = certificate.validate(kind: kind, trustedAuthorities: [certificate.signatureKey], principal: "alice",
                                 time: 1_800_000_000, sourceAddress: "192.0.2.1")
    }
}

@_cdecl("FuzzCertificate_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    shh_fuzz_run_driver(argc, argv, fuzzOneInput)
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("certificate invariant failed: \(message())") }
}
