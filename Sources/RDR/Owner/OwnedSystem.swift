import Glibc
import Synchronization

/// A system this process owns (see `SystemOwnership`): the one shared `VirtualDisk` per disk,
/// the in-process lock that forwarded commands take instead of the flock the owner already
/// holds, and the resyncs running in the process.
///
/// `@unchecked Sendable`: the `var`s are read and written only with `changed` held (here and
/// in OwnedSystem+Work.swift).
public final class OwnedSystem: @unchecked Sendable {
    public let system: RDRSystem
    let key: String
    /// The owner's own flock of `.rdr.lock`, released by whoever registered the system.
    public let lock: SystemLock
    private let disks = Mutex<[String: VirtualDisk]>([:])
    /// Lock, resyncs and the count of things keeping an exiting owner alive; `changed` is
    /// broadcast whenever one of them ends.
    let changed = ConditionLock()
    var commandLock = CommandLockState.free
    var resyncs: [String: RunningResync] = [:]
    var clients = 0
    /// Background resync threads started and not yet ended (they count before their resync
    /// registers, so an owner never exits between the two).
    var backgroundJobs = 0
    /// Set when the owner stops: background resyncs checkpoint and end (they resume later).
    public let stopping = CancellationFlag()

    enum CommandLockState {
        case free
        /// One command that changes the system, described as a flock holder describes itself.
        case exclusive(String)
        /// Readers (`rdr disk verify` without a repair).
        case shared(Int)
    }

    struct RunningResync {
        let source: Enclosure
        let cancellation: CancellationFlag?
    }

    init(system: RDRSystem, key: String, lock: SystemLock) {
        self.system = system
        self.key = key
        self.lock = lock
    }

    /// The one instance of disk `name` in this process, opened for writing on first use.
    public func disk(named name: String) throws(RDRError) -> VirtualDisk {
        try disks.withLock { (disks) throws(RDRError) -> VirtualDisk in
            if let disk = disks[name] { return disk }
            let disk = try VirtualDisk.open(
                system: system, disk: try system.manifest.disk(named: name),
                access: .readWrite, identity: .enforce)
            disks[name] = disk
            return disk
        }
    }

    /// The disks opened so far (the owner flushes them when it stops).
    public var openDisks: [VirtualDisk] { disks.withLock { Array($0.values) } }

    /// Ends the ownership: later opens of the system in this process take the flock again.
    /// The owner's flock itself is released by the caller.
    public func resign() { SystemOwnership.shared.unregister(self) }
}

// MARK: - The in-process lock

extension OwnedSystem {
    /// What `SystemLock.acquire` returns inside the owner: the system's lock for one forwarded
    /// command at a time (readers together), refused — busy, naming the running command, as
    /// between processes — while another holds it.
    func commandLock(command: String, shared: Bool) throws(RDRError) -> SystemLock {
        let since = UTCTimestamp.string(epochSeconds: Int(system.sys.clock.wallMillis() / 1000))
        let holder = "pid \(getpid()) is running '\(command)' since \(since) (forwarded to the owner)"
        try changed.withLock { () throws(RDRError) in
            switch (commandLock, shared) {
            case (.free, false): commandLock = .exclusive(holder)
            case (.free, true): commandLock = .shared(1)
            case (.shared(let n), true): commandLock = .shared(n + 1)
            case (.exclusive(let running), _):
                throw busy(running)
            case (.shared, false):
                throw busy("another rdr command reads it (a reader such as 'rdr disk verify')")
            }
        }
        return SystemLock(inProcessOf: lock) { [self] in
            changed.withLock {
                if case .shared(let n) = commandLock, n > 1 {
                    commandLock = .shared(n - 1)
                } else {
                    commandLock = .free
                }
                changed.broadcast()
            }
        }
    }

    /// The forwarded command holding the in-process lock, described, or nil.
    var commandLockHolder: String? {
        changed.withLock {
            if case .exclusive(let holder) = commandLock { return holder }
            return nil
        }
    }

    private func busy(_ holder: String) -> RDRError {
        RDRError(
            .busy, "system \(system.path) is busy: \(holder); wait for it to finish or stop it (status still works)")
    }
}
