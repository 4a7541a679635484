// shh-keygen: parse, run, exit. Everything else is in SSHKeygenCommand.
import Foundation
import SSHKeygenCommand

exit(ShhKeygen.run(Array(CommandLine.arguments.dropFirst()), io: .process))
