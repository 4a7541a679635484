// shh: parse, run, exit. Everything else is in ShhCommand.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ShhCommand

exit(await Shh.run(Array(CommandLine.arguments.dropFirst())))
