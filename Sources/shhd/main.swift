// shhd: parse, serve, exit. Everything else is in ShhdCommand.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ShhdCommand

exit(Shhd.runWithMainThreadWaiting(Array(CommandLine.arguments.dropFirst())))
