// shhd: parse, serve, exit. Everything else is in ShhdCommand.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ShhdCommand

exit(await Shhd.run(Array(CommandLine.arguments.dropFirst())))
