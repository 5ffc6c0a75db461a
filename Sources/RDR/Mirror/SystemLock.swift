import Foundation
import Glibc
import Synchronization

/// The exclusive lock of a system directory: `flock` on `.rdr.lock`, held by the one process
/// that may change the system. The file's text names the holder so a refused process can say
/// who it is. Status queries never take it.
public final class SystemLock: @unchecked Sendable {
    public static let fileName = ".rdr.lock"
    public let fd: FileDescriptor

    private init(fd: FileDescriptor) { self.fd = fd }

    public static func acquire(systemPath: String, fileName: String = SystemLock.fileName, command: String, sys: any SystemCalls) throws(RDRError) -> SystemLock {
        let path = systemPath + "/" + fileName
        let fd = try io { () throws(Errno) in
            try FileDescriptor.openRaw(path, flags: O_RDWR | O_CREAT | O_CLOEXEC, mode: 0o644, sys: sys)
        }
        let r = sys.flock(fd.rawValue, LOCK_EX | LOCK_NB)
        if r < 0 {
            let holder = (try? fd.readBytes(count: 4096, at: 0)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            fd.close()
            if -r == EWOULDBLOCK {
                throw RDRError(.busy, "system \(systemPath) is busy: \(describe(holder: holder)); wait for it to finish or stop it (status still works)")
            }
            throw RDRError.io(Errno(code: -r, operation: "flock", path: path))
        }
        let lock = SystemLock(fd: fd)
        lock.recordHolder(command: command)
        return lock
    }

    /// Adopts a lock inherited from a parent process (a background resync gets it as fd 3).
    public static func adopt(fd raw: Int32, systemPath: String, command: String, sys: any SystemCalls) throws(RDRError) -> SystemLock {
        let fd = FileDescriptor(rawValue: raw, path: systemPath + "/" + fileName, sys: sys)
        let r = sys.flock(raw, LOCK_EX | LOCK_NB)
        guard r >= 0 else { throw RDRError(.busy, "background resync did not inherit the lock of \(systemPath)") }
        _ = fcntl(raw, F_SETFD, FD_CLOEXEC)
        let lock = SystemLock(fd: fd)
        lock.recordHolder(command: command)
        return lock
    }

    /// Who holds the lock now, or nil when nobody does (never blocks).
    public static func holder(systemPath: String, fileName: String = SystemLock.fileName, sys: any SystemCalls) -> String? {
        let path = systemPath + "/" + fileName
        guard let fd = try? FileDescriptor.open(path, .readOnly, sys: sys) else { return nil }
        defer { fd.close() }
        if sys.flock(fd.rawValue, LOCK_SH | LOCK_NB) >= 0 {
            _ = sys.flock(fd.rawValue, LOCK_UN)
            return nil
        }
        let text = (try? fd.readBytes(count: 4096, at: 0)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return describe(holder: text)
    }

    private func recordHolder(command: String) {
        let since = ISO8601DateFormatter().string(from: Date())
        let text = "pid \(getpid()) is running '\(command)' since \(since)\n"
        try? fd.truncate(to: 0)
        try? fd.write(Array(text.utf8), at: 0)
    }

    private static func describe(holder text: String) -> String {
        let line = text.split(separator: "\n").first.map(String.init) ?? ""
        return line.isEmpty ? "another rdr process holds its lock" : line
    }

    private let handedOff = Atomic<Bool>(false)

    /// Marks the lock as passed to a child process that shares its open file description:
    /// `release` then only closes this descriptor, because `LOCK_UN` would unlock the child too.
    public func handOff() { handedOff.store(true, ordering: .relaxed) }

    public func release() {
        if !handedOff.load(ordering: .relaxed) { _ = fd.sys.flock(fd.rawValue, LOCK_UN) }
        fd.close()
    }
}
