import Glibc
import Synchronization

/// The exclusive lock of a system directory: `flock` on `.rdr.lock`, held by the one process
/// that may change the system. The holder describes itself in `.rdr.lock.holder`, replaced by
/// rename after the lock is taken and removed before it is released, so a refused process never
/// reads a half-written or a previous holder's description. Status queries never take the lock.
/// Every file operation, the holder's description included, goes through the seam.
///
/// Inside a process that owns the system (`SystemOwnership`), `acquire`/`acquireShared` of
/// `.rdr.lock` return an in-process lock instead: the owner already holds the flock, and a
/// flock on a second open file description would refuse its own process. Other lock files
/// (the upgrade session's) keep their flock: two open file descriptions exclude each other
/// within one process as between processes.
public final class SystemLock: Sendable {
    public static let fileName = ".rdr.lock"
    public let fd: FileDescriptor
    private let holderPath: String
    /// A reader's lock (LOCK_SH): it writes no holder description, so it works on read-only media.
    private let shared: Bool
    /// Set for an in-process lock: releasing it runs this and leaves the owner's flock alone.
    private let inProcessRelease: (@Sendable () -> Void)?

    private init(fd: FileDescriptor, holderPath: String, shared: Bool = false) {
        self.fd = fd
        self.holderPath = holderPath
        self.shared = shared
        self.inProcessRelease = nil
    }

    /// An in-process lock of an owned system: `fd` is the owner's (never closed by this lock).
    init(inProcessOf owner: SystemLock, release: @escaping @Sendable () -> Void) {
        self.fd = owner.fd
        self.holderPath = owner.holderPath
        self.shared = false
        self.inProcessRelease = release
    }

    /// True for the lock a forwarded command holds inside the owner process.
    public var isInProcess: Bool { inProcessRelease != nil }

    /// A shared lock, or nil on read-only media that hold no lock file (no writer can exist
    /// there). Refused, naming the holder, while a writer holds the lock.
    public static func acquireShared(
        systemPath: String, command: String,
        sys: any SystemCalls
    ) throws(RDRError) -> SystemLock? {
        if let owner = SystemOwnership.shared.owner(of: systemPath) {
            return try owner.commandLock(command: command, shared: true)
        }
        let path = systemPath + "/" + fileName
        var fd: FileDescriptor
        do { fd = try FileDescriptor.openRaw(path, flags: O_RDONLY | O_CLOEXEC | O_NOFOLLOW, mode: 0, sys: sys) } catch
        {
            guard error.code == ENOENT else { throw RDRError.io(error) }
            do {
                fd = try FileDescriptor.openRaw(
                    path, flags: O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode: 0o644,
                    sys: sys)
            } catch {
                if error.code == EROFS { return nil }
                throw RDRError.io(error)
            }
        }
        try take(fd, LOCK_SH, systemPath: systemPath)
        return SystemLock(fd: fd, holderPath: holderPath(path), shared: true)
    }

    public static func acquire(
        systemPath: String, fileName: String = SystemLock.fileName, command: String,
        sys: any SystemCalls
    ) throws(RDRError) -> SystemLock {
        if fileName == Self.fileName, let owner = SystemOwnership.shared.owner(of: systemPath) {
            return try owner.commandLock(command: command, shared: false)
        }
        let path = systemPath + "/" + fileName
        let fd = try io { () throws(Errno) in
            try FileDescriptor.openRaw(path, flags: O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode: 0o644, sys: sys)
        }
        try take(fd, LOCK_EX, systemPath: systemPath)
        let lock = SystemLock(fd: fd, holderPath: holderPath(path))
        lock.recordHolder(command: command)
        return lock
    }

    /// Where the holder of the lock file at `lockPath` describes itself.
    private static func holderPath(_ lockPath: String) -> String { lockPath + ".holder" }

    /// flock without waiting; refused (busy, naming the holder) when another process has it.
    /// Closes `fd` on failure.
    private static func take(_ fd: FileDescriptor, _ operation: Int32, systemPath: String) throws(RDRError) {
        let r = fd.sys.flock(fd.rawValue, operation | LOCK_NB)
        guard r < 0 else { return }
        fd.close()
        if -r == EWOULDBLOCK {
            throw RDRError(
                .busy,
                "system \(systemPath) is busy: \(describeHolder(holderPath(fd.path), sys: fd.sys)); "
                    + "wait for it to finish or stop it (status still works)")
        }
        throw RDRError.io(Errno(code: -r, operation: "flock", path: fd.path))
    }

    /// Adopts a lock inherited from a parent process (a background resync gets it as fd 3).
    public static func adopt(fd raw: Int32, systemPath: String, command: String, sys: any SystemCalls) throws(RDRError)
        -> SystemLock
    {
        let path = systemPath + "/" + fileName
        let fd = FileDescriptor(rawValue: raw, path: path, sys: sys)
        let r = sys.flock(raw, LOCK_EX | LOCK_NB)
        guard r >= 0 else { throw RDRError(.busy, "background resync did not inherit the lock of \(systemPath)") }
        _ = sys.setCloseOnExec(raw)
        let lock = SystemLock(fd: fd, holderPath: holderPath(path))
        lock.recordHolder(command: command)
        return lock
    }

    /// Who holds the lock now, or nil when nobody does (never blocks for long).
    public static func holder(
        systemPath: String, fileName: String = SystemLock.fileName,
        sys: any SystemCalls
    ) -> String? {
        // Inside the owner only a forwarded command counts: the owner's own flock is not "another".
        if fileName == Self.fileName, let owner = SystemOwnership.shared.owner(of: systemPath) {
            return owner.commandLockHolder
        }
        let path = systemPath + "/" + fileName
        guard let fd = try? FileDescriptor.open(path, .readOnly, sys: sys) else { return nil }
        defer { fd.close() }
        if sys.flock(fd.rawValue, LOCK_SH | LOCK_NB) >= 0 {
            _ = sys.flock(fd.rawValue, LOCK_UN)
            return nil
        }
        return describeHolder(holderPath(path), sys: sys)
    }

    private func recordHolder(command: String) {
        let since = UTCTimestamp.string(epochSeconds: Int(fd.sys.clock.wallMillis() / 1000))
        let text = "pid \(getpid()) is running '\(command)' since \(since)\n"
        // Display only: a refused process reads it; nothing depends on it surviving a crash.
        try? Directory.writeAtomically(Array(text.utf8), to: holderPath, durable: false, sys: fd.sys)
    }

    /// The holder's own description, once it has written one (a description whose process is
    /// gone is a killed holder's leftover and is not trusted).
    private static func describeHolder(_ holderPath: String, sys: any SystemCalls) -> String {
        for attempt in 0..<25 {
            if let bytes = try? FileDescriptor.readFile(holderPath, limit: 64 << 10, sys: sys),
                let line = String(decoding: bytes, as: UTF8.self).split(separator: "\n").first.map(String.init),
                let pid = line.split(separator: " ").dropFirst().first.flatMap({ Int32($0) }),
                processIsAlive(pid)
            {
                return line
            }
            if attempt < 24 { usleep(8_000) }
        }
        return "another rdr process holds its lock (a reader such as 'rdr disk verify' names no holder)"
    }

    private let handedOff = Atomic<Bool>(false)
    private let released = Atomic<Bool>(false)

    /// Marks the lock as passed to a child process that shares its open file description:
    /// `release` then only closes this descriptor, because `LOCK_UN` would unlock the child too.
    public func handOff() { handedOff.store(true, ordering: .relaxed) }

    public func release() {
        if let inProcessRelease {
            if !released.exchange(true, ordering: .relaxed) { inProcessRelease() }
            return
        }
        if !handedOff.load(ordering: .relaxed) {
            if !shared { _ = fd.sys.unlink(holderPath) }
            _ = fd.sys.flock(fd.rawValue, LOCK_UN)
        }
        fd.close()
    }
}
