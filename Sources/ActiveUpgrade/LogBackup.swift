import Foundation
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
            rest.insert((existing as NSString).lastPathComponent, at: 0)
            existing = (existing as NSString).deletingLastPathComponent
        }
        var parts = (realpathString(existing.isEmpty ? "." : existing) ?? existing).split(separator: "/").map(String.init)
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
        let dir = canonical(directory), sys = canonical(systemPath)
        guard dir == sys || dir.hasPrefix(sys + "/") else { return nil }
        return "log backup directory \(directory) is inside the system directory \(systemPath); a backup may never write there — choose a directory outside it"
    }

    /// Copies each log into a new timestamped directory; a log that cannot be read is a Warning.
    static func run(_ b: Configuration.LogBackup, systemPath: String, log: ActivityLog, parent: Int?) throws(RDRError) {
        guard let staging = b.stagingDirectory else {
            log.add(.warning, "No log backup directory is given: event logs are not backed up", parent: parent)
            return
        }
        if let problem = insideProblem(staging, systemPath: systemPath) { throw RDRError(.corrupt, problem) }
        guard !b.logs.isEmpty else {
            log.add(.information, "No event logs are selected for backup", parent: parent)
            return
        }
        do { try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true) } catch {
            throw RDRError(.io, "cannot create the log backup directory \(staging): \(error.localizedDescription)")
        }
        let dir = try newDirectory(in: staging)
        // Checked again where it really landed: a symlink swapped in meanwhile cannot redirect it.
        if let problem = insideProblem(dir, systemPath: systemPath) {
            rmdir(dir)
            throw RDRError(.corrupt, problem)
        }
        for l in b.logs {
            do throws(RDRError) {
                let dest = try copyExclusive(l, into: dir)
                log.add(.success, "Backed up \(l)", detail: "to \(dest)", parent: parent)
            } catch {
                log.add(.warning, "Event log \(l) could not be backed up", detail: error.message, parent: parent)
            }
        }
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    private static func newDirectory(in staging: String) throws(RDRError) -> String {
        let stamp = UTCTimestamp.now().filter { $0.isNumber || $0 == "T" || $0 == "Z" }
        for n in 1...1000 {
            let dir = staging + "/rdr-log-backup-" + stamp + (n == 1 ? "" : "-\(n)")
            if mkdir(dir, 0o755) == 0 { return dir }
            guard errno == EEXIST else { throw RDRError(.io, "cannot create \(dir): \(String(cString: strerror(errno)))") }
        }
        throw RDRError(.io, "cannot find a new backup directory name in \(staging)")
    }

    /// Copies `source` to a file of the same name in `dir` (`name-2`, … when taken), created with
    /// O_EXCL and without following symlinks, then fsynced.
    private static func copyExclusive(_ source: String, into dir: String) throws(RDRError) -> String {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw RDRError(.io, "\(source): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let name = (source as NSString).lastPathComponent
        var dest = dir + "/" + name
        var output = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        var n = 2
        while output < 0 && errno == EEXIST && n < 1000 {
            dest = dir + "/" + name + "-\(n)"
            output = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            n += 1
        }
        guard output >= 0 else { throw RDRError(.io, "\(dest): \(String(cString: strerror(errno)))") }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let got = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if got == 0 { break }
            if got < 0 { if errno == EINTR { continue }; throw RDRError(.io, "\(source): \(String(cString: strerror(errno)))") }
            var done = 0
            while done < got {
                let w = buffer.withUnsafeBytes { b in b.baseAddress.map { write(output, $0 + done, got - done) } ?? -1 }
                if w < 0 { if errno == EINTR { continue }; throw RDRError(.io, "\(dest): \(String(cString: strerror(errno)))") }
                done += w
            }
        }
        guard fsync(output) == 0 else { throw RDRError(.io, "\(dest): \(String(cString: strerror(errno)))") }
        return dest
    }
}
