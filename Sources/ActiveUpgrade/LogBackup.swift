import FoundationEssentials
import Glibc
import RDR

/// The event-log backup at merge. It never writes into the system directory and never
/// overwrites anything: every backup is a new directory `rdr-log-backup-<UTC time>[-n]` under
/// the staging directory, and every file in it is created exclusively.
enum LogBackupWriter {
    /// `path` with symlinks resolved as far as it exists, and `.`/`..` resolved in the rest.
    static func canonical(_ path: String) -> String {
        var existing = path
        var rest: [String] = []
        while !existing.isEmpty && existing != "/" && realpathString(existing) == nil {
            rest.insert(PathName.lastComponent(existing), at: 0)
            existing = PathName.directory(of: existing)
        }
        var parts = (realpathString(existing.isEmpty ? "." : existing) ?? existing).split(separator: "/").map(
            String.init)
        for c in rest {
            if c == ".." { _ = parts.popLast() } else if c != "." && !c.isEmpty { parts.append(c) }
        }
        return "/" + parts.joined(separator: "/")
    }

    static func realpathString(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// Why `directory` may not receive a backup of the system at `systemPath`, or nil.
    static func insideProblem(_ directory: String, systemPath: String) -> String? {
        let dir = canonical(directory)
        let sys = canonical(systemPath)
        guard dir == sys || dir.hasPrefix(sys + "/") else { return nil }
        return
            "log backup directory \(directory) is inside the system directory \(systemPath); a backup may never write there — choose a directory outside it"
    }

    /// Copies each log into a new timestamped directory; a log that cannot be read is a Warning.
    /// Every file operation goes through `sys`.
    static func run(
        _ b: Configuration.LogBackup, systemPath: String, sys: any SystemCalls, log: ActivityLog,
        parent: Int?
    ) throws(RDRError) {
        guard let staging = b.stagingDirectory else {
            log.add(.warning, "No log backup directory is given: event logs are not backed up", parent: parent)
            return
        }
        if let problem = insideProblem(staging, systemPath: systemPath) { throw RDRError(.corrupt, problem) }
        guard !b.logs.isEmpty else {
            log.add(.information, "No event logs are selected for backup", parent: parent)
            return
        }
        do { _ = try Directory.make(staging, sys: sys) } catch {
            throw RDRError(.io, "cannot create the log backup directory \(staging): \(error)")
        }
        let dir = try newDirectory(in: staging, sys: sys)
        // Checked again where it really landed: a symlink swapped in meanwhile cannot redirect it.
        if let problem = insideProblem(dir, systemPath: systemPath) {
            _ = sys.rmdir(dir)
            throw RDRError(.corrupt, problem)
        }
        for l in b.logs {
            do throws(Errno) {
                let dest = try copyExclusive(l, into: dir, sys: sys)
                log.add(.success, "Backed up \(l)", detail: "to \(dest)", parent: parent)
            } catch {
                log.add(.warning, "Event log \(l) could not be backed up", detail: error.description, parent: parent)
            }
        }
        do { try Directory.sync(dir, sys: sys) } catch { throw RDRError(.io, "log backup \(error)") }
    }

    private static func newDirectory(in staging: String, sys: any SystemCalls) throws(RDRError) -> String {
        let stamp = UTCTimestamp.string(epochSeconds: Int(sys.clock.wallMillis() / 1000)).filter {
            $0.isNumber || $0 == "T" || $0 == "Z"
        }
        for n in 1...1000 {
            let dir = staging + "/rdr-log-backup-" + stamp + (n == 1 ? "" : "-\(n)")
            let r = sys.mkdir(dir, 0o755)
            if r == 0 { return dir }
            guard r == -EEXIST else { throw RDRError(.io, "cannot create \(dir): \(String(cString: strerror(-r)))") }
        }
        throw RDRError(.io, "cannot find a new backup directory name in \(staging)")
    }

    /// Copies `source` to a file of the same name in `dir` (`name-2`, … when taken), created with
    /// O_EXCL and without following symlinks, then fsynced.
    private static func copyExclusive(_ source: String, into dir: String, sys: any SystemCalls) throws(Errno) -> String
    {
        let input = try FileDescriptor.openRaw(source, flags: O_RDONLY | O_CLOEXEC, mode: 0, sys: sys)
        defer { input.close() }
        let output = try createNew(PathName.lastComponent(source), in: dir, sys: sys)
        defer { output.close() }
        let buffer = AlignedBuffer(count: 1 << 20)
        var offset: Int64 = 0
        while true {
            let got = try input.read(into: buffer.pointer, count: buffer.count, at: offset)
            if got == 0 { break }
            try output.write(from: buffer.pointer, count: got, at: offset)
            offset += Int64(got)
        }
        try output.sync()
        return output.path
    }

    /// `dir/name`, or `name-2`, `name-3`, … when taken: created exclusively, never through a link.
    private static func createNew(_ name: String, in dir: String, sys: any SystemCalls) throws(Errno) -> FileDescriptor
    {
        let flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC
        var n = 1
        while true {
            let dest = dir + "/" + name + (n == 1 ? "" : "-\(n)")
            do throws(Errno) { return try FileDescriptor.openRaw(dest, flags: flags, mode: 0o644, sys: sys) } catch {
                n += 1
                guard error.code == EEXIST, n < 1000 else { throw error }
            }
        }
    }
}
