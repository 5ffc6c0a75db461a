import CRDRSys
import Glibc

/// An io_uring instance (raw syscalls in CRDRSys, no liburing) for one worker thread: queue
/// reads, writes and fsyncs on many offsets, submit them in one system call, reap completions
/// as they arrive. With O_DIRECT files (`FileDescriptor.openDirect`) and aligned buffers
/// (`AlignedBuffer`) this is how a single thread keeps a deep queue on the device.
///
/// Where the kernel refuses io_uring (ENOSYS: no support or older than 5.6; EPERM:
/// `kernel.io_uring_disabled`, seccomp in containers), `init` throws and the caller uses its
/// thread path. Not thread-safe, and not Sendable: one ring, one thread.
///
/// Test seam: `IOURing.refusalVariable` (`RDR_IO_URING_REFUSE`) set to an errno name
/// (`ENOSYS`, `EPERM`) or number makes `init` throw that error without asking the kernel, so
/// the fallback path can be exercised on machines where io_uring works (and through the CLI).
public final class IOURing {
    /// A finished operation: the caller's tag, and the bytes moved (a short count means the
    /// file ended, as with pread) or the error.
    public struct Completion: Sendable, Equatable {
        public let tag: UInt64
        public let result: Result<Int, Errno>
    }

    public static let refusalVariable = "RDR_IO_URING_REFUSE"

    /// Operations queued or in the kernel whose completions have not been reaped.
    public private(set) var inFlight = 0
    /// The most operations that may be in flight at once (the submission queue's size).
    public let capacity: Int

    private let ring: OpaquePointer
    /// Per in-flight slot, what is needed to name a failure: the caller's tag and the file.
    private var slots: [(tag: UInt64, operation: String, path: String)]
    private var freeSlots: [Int]

    /// A ring with room for `entries` operations in flight (rounded up to a power of two).
    public init(entries: Int = 64, simulatedRefusal: Int32? = IOURing.refusalFromEnvironment()) throws(Errno) {
        if let code = simulatedRefusal { throw Errno(code: code, operation: "io_uring_setup (simulated)", path: "") }
        var error: Int32 = 0
        guard let ring = rdr_uring_setup(UInt32(clamping: max(1, entries)), &error) else {
            throw Errno(code: error, operation: "io_uring_setup", path: "")
        }
        self.ring = ring
        // In flight stays within the SQ size, and the kernel's CQ is at least twice that, so
        // a completion is never dropped for lack of room.
        capacity = Int(rdr_uring_sq_entries(ring))
        slots = Array(repeating: (0, "", ""), count: capacity)
        freeSlots = Array((0..<capacity).reversed())
    }

    deinit {
        drain()
        rdr_uring_teardown(ring)
    }

    /// The refusal the test seam asks for, if any: `RDR_IO_URING_REFUSE=ENOSYS|EPERM|<number>`.
    public static func refusalFromEnvironment() -> Int32? {
        guard let raw = getenv(refusalVariable) else { return nil }
        let value = String(cString: raw)
        switch value {
        case "": return nil
        case "ENOSYS": return ENOSYS
        case "EPERM": return EPERM
        case "EACCES": return EACCES
        default: return Int32(value).flatMap { $0 > 0 ? $0 : nil } ?? ENOSYS
        }
    }

    // MARK: Queueing (false: no room; submit and reap first)

    /// Queues a read of up to `count` bytes at `offset` into `buffer`, which must stay valid
    /// until the completion is reaped. More than 2 GiB per call is cut to a short read.
    public func read(
        _ fd: FileDescriptor, into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int64, tag: UInt64
    ) -> Bool {
        queue(tag, "read", fd) {
            rdr_uring_prep_read(ring, fd.rawValue, buffer, Self.length(count), UInt64(offset), $0)
        }
    }

    /// Queues a write of up to `count` bytes; the completion may report fewer (write the rest).
    public func write(_ fd: FileDescriptor, from buffer: UnsafeRawPointer, count: Int, at offset: Int64, tag: UInt64)
        -> Bool
    {
        queue(tag, "write", fd) {
            rdr_uring_prep_write(ring, fd.rawValue, buffer, Self.length(count), UInt64(offset), $0)
        }
    }

    /// Queues an fsync (or fdatasync). Not ordered after earlier operations: queue it once
    /// their completions are reaped.
    public func sync(_ fd: FileDescriptor, dataOnly: Bool, tag: UInt64) -> Bool {
        queue(tag, dataOnly ? "fdatasync" : "fsync", fd) {
            rdr_uring_prep_fsync(ring, fd.rawValue, dataOnly ? 1 : 0, $0)
        }
    }

    private static func length(_ count: Int) -> UInt32 { UInt32(clamping: min(max(0, count), 0x7fff_f000)) }

    private func queue(_ tag: UInt64, _ operation: String, _ fd: FileDescriptor, _ prep: (UInt64) -> Int32) -> Bool {
        guard let slot = freeSlots.last else { return false }
        guard prep(UInt64(slot)) == 1 else { return false }
        freeSlots.removeLast()
        slots[slot] = (tag, "io_uring " + operation, fd.path)
        inFlight += 1
        return true
    }

    // MARK: Submitting and reaping

    /// Hands everything queued to the kernel and waits until at least `waitingFor` completions
    /// are ready (0: do not wait). Interrupted waits are retried.
    public func submit(waitingFor: Int = 0) throws(Errno) {
        let wait = UInt32(clamping: min(max(0, waitingFor), inFlight))
        var interrupts = 0
        while true {
            let rc = rdr_uring_submit_and_wait(ring, wait)
            if rc >= 0 { return }
            if -rc == EINTR && interrupts < 1000 {
                interrupts += 1
                continue
            }
            throw Errno(code: -rc, operation: "io_uring_enter", path: "")
        }
    }

    /// The completions ready now, without a system call.
    public func reap() -> [Completion] {
        var out: [Completion] = []
        var userData: UInt64 = 0
        var result: Int32 = 0
        while rdr_uring_reap(ring, &userData, &result) == 1 {
            let slot = Int(userData)
            guard slot < slots.count else { continue }  // not ours: never queued by `queue`
            let s = slots[slot]
            freeSlots.append(slot)
            inFlight -= 1
            out.append(
                Completion(
                    tag: s.tag,
                    result: result >= 0
                        ? .success(Int(result))
                        : .failure(Errno(code: -result, operation: s.operation, path: s.path))))
        }
        return out
    }

    /// Waits for every operation in flight (their buffers may be freed after this).
    public func drain() {
        var rounds = 0
        while inFlight > 0 && rounds < 100_000 {
            rounds += 1
            if (try? submit(waitingFor: 1)) == nil { break }
            _ = reap()
        }
    }
}
