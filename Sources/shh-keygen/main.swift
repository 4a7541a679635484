// shh-keygen: parse, run, exit. Everything else is in SSHKeygenCommand.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials  // not Foundation: it would load ICU, ~3 ms at every start of a command
#else
import Foundation
#endif
import SSHKeygenCommand

exit(ShhKeygen.run(Array(CommandLine.arguments.dropFirst()), io: .process))
