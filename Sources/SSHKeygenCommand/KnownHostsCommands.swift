// shh-keygen -F (find a host), -H (hash a file), -R (remove a host) on known_hosts files, with
// ssh-keygen's output: "# Host NAME found: line N", "FILE updated.", a FILE.old backup, exit 1 when -F finds nothing.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SSHKeys

struct KnownHostsCommands {
    let options: KeygenOptions
    let io: KeygenIO

    enum Operation {
        case find(String)
        case remove(String)
        case hash
    }

    func run(_ operation: Operation) throws {
        let path = options.identityFile ?? "\(io.homeDirectory)/.ssh/known_hosts"
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw KeygenFailure("Cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        let file: KnownHostsFile
        do {
            file = try KnownHostsFile.load(path: path)
        } catch let error as SSHKeyError {
            throw KeygenFailure(error.description)
        }
        switch operation {
        case .find(let name): try find(name, in: file)
        case .remove(let name): try rewrite(file, mode: info.st_mode & 0o644, removing: name)
        case .hash: try rewrite(file, mode: info.st_mode & 0o644, removing: nil)
        }
    }

    /// -F: every matching entry (markers included), as a line, its hashed form (-H) or its fingerprint (-l).
    func find(_ name: String, in file: KnownHostsFile) throws {
        var found = false
        for (index, line) in file.lines.enumerated() {
            let entry: KnownHostsEntry?
            let shape: EntryShape
            switch line {
            case .entry(let parsed): (entry, shape) = (parsed, EntryShape(parsed))
            // -l needs the key; without it, ssh-keygen lists lines it cannot parse the key of too.
            case .unusable(let loose, _) where !options.printFingerprint || loose.legacyDSABlob != nil:
                (entry, shape) = (nil, EntryShape(loose))
            default: continue
            }
            guard shape.matches(name) else { continue }
            found = true
            if !options.quiet {
                let label = shape.marker == .certificateAuthority ? "CA" : shape.marker == .revoked ? "REVOKED" : ""
                io.writeOutput("# Host \(name) found: line \(index + 1) \(label)\n")
            }
            if options.hashKnownHosts {
                for line in hashedLines(shape, path: file.path, line: index + 1, warnWildcards: false) { io.writeOutput(line + "\n") }
            } else if options.printFingerprint, let entry {
                let comment = entry.comment.isEmpty ? "" : " \(entry.comment)"
                io.writeOutput("\(name) \(entry.key.type.displayName) \(entry.key.fingerprint(options.fingerprintHash))\(comment)\n")
                if options.verbose { io.writeOutput(entry.key.randomArt(options.fingerprintHash) + "\n") }
            } else if options.printFingerprint, case .unusable(let loose, _) = line, let blob = loose.legacyDSABlob {
                // DSA keys cannot be used, but ssh-keygen still lists them, so a user can find and remove them.
                io.writeOutput("\(name) DSA \(options.fingerprintHash.fingerprint(ofKeyBlob: blob))\n")
            } else {
                io.writeOutput(shape.text + "\n")
            }
        }
        if !found { throw KeygenFailure("", exitStatus: 1) }
    }

    /// What -F/-R/-H need of a line, whether or not we can use its key.
    struct EntryShape {
        var marker: KnownHostsEntry.Marker
        var hosts: String
        var rawKey: String
        var text: String

        init(_ entry: KnownHostsEntry) {
            (marker, hosts, rawKey, text) = (entry.marker, entry.hosts, entry.rawKey, entry.text)
        }

        init(_ entry: KnownHostsUnusableEntry) {
            (marker, hosts, rawKey, text) = (entry.marker, entry.hosts, entry.rawKey, entry.text)
        }

        func matches(_ name: String) -> Bool { KnownHosts.hostsField(hosts, matches: name) }
    }

    /// The -H form of an entry: each plain name hashed on its own line; hashed names, wildcard
    /// patterns and marker lines stay as they are.
    func hashedLines(_ entry: EntryShape, path: String, line: Int, warnWildcards: Bool) -> [String] {
        let wildcard = entry.hosts.contains(where: { "*?!".contains($0) })
        if entry.hosts.hasPrefix("|") || wildcard || entry.marker != .none {
            if wildcard && warnWildcards {
                io.writeError("\(path):\(line): ignoring host name with wildcard: \(entry.hosts.prefix(64))\n")
            }
            return [entry.text]
        }
        return entry.hosts.split(separator: ",").map { "\(KnownHosts.hashedName($0.lowercased())) \(entry.rawKey)" }
    }

    /// -R (remove `name`) or -H (hash everything): write the new file beside the old, keep FILE.old,
    /// and refuse to replace a file with lines we do not understand.
    func rewrite(_ file: KnownHostsFile, mode: mode_t, removing name: String?) throws {
        var output: [String] = []
        var removedAny = false
        var invalid = false
        var hashedSomething = false
        for (index, line) in file.lines.enumerated() {
            switch line {
            case .other(let text):
                output.append(text)
            case .invalid(let text, _):
                invalid = true
                io.writeError("\(file.path):\(index + 1): invalid line\n")
                output.append(text)
            case .entry, .unusable:
                let entry: EntryShape
                switch line {
                case .entry(let parsed): entry = EntryShape(parsed)
                case .unusable(let loose, _): entry = EntryShape(loose)
                default: continue
                }
                if let name {
                    if entry.marker == .none && entry.matches(name) {
                        removedAny = true
                        if !options.quiet { io.writeOutput("# Host \(name) found: line \(index + 1)\n") }
                    } else {
                        output.append(entry.text)
                    }
                } else {
                    let lines = hashedLines(entry, path: file.path, line: index + 1, warnWildcards: true)
                    if lines != [entry.text] { hashedSomething = true }
                    output += lines
                }
            }
        }
        if invalid {
            io.writeError("\(file.path) is not a valid known_hosts file.\n")
            throw KeygenFailure("Not replacing existing known_hosts file because of errors", exitStatus: 1)
        }
        if let name, !removedAny {
            io.writeError("Host \(name) not found in \(file.path)\n")
            return
        }
        let backup = file.path + ".old"
        if unlink(backup) != 0 && errno != ENOENT {
            throw KeygenFailure("unlink \(backup): \(String(cString: strerror(errno)))")
        }
        guard link(file.path, backup) == 0 else {
            throw KeygenFailure("link \(file.path) to \(backup): \(String(cString: strerror(errno)))")
        }
        do {
            try SSHKeyFile.write(output.map { $0 + "\n" }.joined(), toPath: file.path, mode: mode)
        } catch let error as SSHKeyError {
            unlink(backup)
            throw KeygenFailure(error.description, exitStatus: 1)
        }
        io.writeOutput("\(file.path) updated.\nOriginal contents retained as \(backup)\n")
        if hashedSomething {
            io.writeError("WARNING: \(backup) contains unhashed entries\nDelete this file to ensure privacy of hostnames\n")
        }
    }
}
