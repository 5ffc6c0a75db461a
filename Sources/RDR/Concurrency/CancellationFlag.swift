import Synchronization

/// Set from a signal handler or another thread; resync workers, throttled waits and workloads
/// look at it and stop at the next task, keeping what they finished.
public final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    public func cancel() { flag.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
}
