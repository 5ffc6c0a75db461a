import Foundation
import Glibc
import Synchronization

/// The exclusive lock of a system directory: `flock` on `.rdr.lock`, held by the one process
/// that may change the system. The holder describes itself in `.rdr.lock.holder`, replaced by
/// rename after the lock is taken and removed before it is released, so a refused process never
/// reads a half-written or a previous holder's description. Status queries never take the lock.
public final class SystemLock: @unchecked Sendable {
    public static let fileName = ".rdr.lock"
    public let fd: FileDescriptor
    private let holderPath: String
    /// A reader's lock (LOCK_SH): it writes no holder description, so it works on read-only media.
    private let shared: Bool

    private init(fd: FileDescriptor, holderPath: String, shared: Bool = false) {
        self.fd = fd
        self.holderPath = holderPath
        self.shared = shared
    }

    /// A shared lock, or nil on read-only media that hold no lock file (no writer can exist
    /// there). Refused, naming the holder, while a writer holds the lock.
    public static func acquireShared(systemPath: String, command: String, sys: any SystemCalls) throws(RDRError) -> SystemLock? {
        let path = systemPath + "/" + fileName
        var fd: FileDescriptor
        do { fd = try FileDescriptor.openRaw(path, flags: O_RDONLY | O_CLOEXEC | O_NOFOLLOW, mode: 0, sys: sys) } catch {
            guard error.code == ENOENT else { throw RDRError.io(error) }
            do { fd = try FileDescriptor.openRaw(path, flags: O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode: 0o644, sys: sys) } catch {
                if error.code == EROFS { return nil }
                throw RDRError.io(error)
            }
        }
        try take(fd, LOCK_SH, systemPath: systemPath)
        return SystemLock(fd: fd, holderPath: path + ".holder", shared: true)
    }

    public static func acquire(systemPath: String, fileName: String = SystemLock.fileName, command: String, sys: any SystemCalls) throws(RDRError) -> SystemLock {
        let path = systemPath + "/" + fileName
        let fd = try io { () throws(Errno) in
            try FileDescriptor.openRaw(path, flags: O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode: 0o644, sys: sys)
        }
        try take(fd, LOCK_EX, systemPath: systemPath)
        let lock = SystemLock(fd: fd, holderPath: path + ".holder")
        lock.recordHolder(command: command)
        return lock
    }

    /// flock without waiting; refused (busy, naming the holder) when another process has it.
    /// Closes `fd` on failure.
    private static func take(_ fd: FileDescriptor, _ operation: Int32, systemPath: String) throws(RDRError) {
        let r = fd.sys.flock(fd.rawValue, operation | LOCK_NB)
        guard r < 0 else { return }
        fd.close()
        if -r == EWOULDBLOCK {
            throw RDRError(.busy, "system \(systemPath) is busy: \(describeHolder(fd.path + ".holder")); wait for it to finish or stop it (status still works)")
        }
        throw RDRError.io(Errno(code: -r, operation: "flock", path: fd.path))
    }

    /// Adopts a lock inherited from a parent process (a background resync gets it as fd 3).
    public static func adopt(fd raw: Int32, systemPath: String, command: String, sys: any SystemCalls) throws(RDRError) -> SystemLock {
        let path = systemPath + "/" + fileName
        let fd = FileDescriptor(rawValue: raw, path: path, sys: sys)
        let r = sys.flock(raw, LOCK_EX | LOCK_NB)
        guard r >= 0 else { throw RDRError(.busy, "background resync did not inherit the lock of \(systemPath)") }
        _ = fcntl(raw, F_SETFD, FD_CLOEXEC)
        let lock = SystemLock(fd: fd, holderPath: path + ".holder")
        lock.recordHolder(command: command)
        return lock
    }

    /// Who holds the lock now, or nil when nobody does (never blocks for long).
    public static func holder(systemPath: String, fileName: String = SystemLock.fileName, sys: any SystemCalls) -> String? {
        let path = systemPath + "/" + fileName
        guard let fd = try? FileDescriptor.open(path, .readOnly, sys: sys) else { return nil }
        defer { fd.close() }
        if sys.flock(fd.rawValue, LOCK_SH | LOCK_NB) >= 0 {
            _ = sys.flock(fd.rawValue, LOCK_UN)
            return nil
        }
        return describeHolder(path + ".holder")
    }

    private func recordHolder(command: String) {
        let text = "pid \(getpid()) is running '\(command)' since \(UTCTimestamp.now())\n"
        // Display only: a refused process reads it; nothing depends on it surviving a crash.
        try? Directory.writeAtomically(Array(text.utf8), to: holderPath, durable: false, sys: fd.sys)
    }

    /// The holder's own description, once it has written one (a description whose process is
    /// gone is a killed holder's leftover and is not trusted).
    private static func describeHolder(_ holderPath: String) -> String {
        for attempt in 0..<25 {
            if let data = FileManager.default.contents(atPath: holderPath),
               let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init),
               let pid = line.split(separator: " ").dropFirst().first.flatMap({ Int32($0) }),
               kill(pid, 0) == 0 || errno == EPERM {
                return line
            }
            if attempt < 24 { usleep(8_000) }
        }
        return "another rdr process holds its lock (a reader such as 'rdr disk verify' names no holder)"
    }

    private let handedOff = Atomic<Bool>(false)

    /// Marks the lock as passed to a child process that shares its open file description:
    /// `release` then only closes this descriptor, because `LOCK_UN` would unlock the child too.
    public func handOff() { handedOff.store(true, ordering: .relaxed) }

    public func release() {
        if !handedOff.load(ordering: .relaxed) {
            if !shared { _ = fd.sys.unlink(holderPath) }
            _ = fd.sys.flock(fd.rawValue, LOCK_UN)
        }
        fd.close()
    }
}
