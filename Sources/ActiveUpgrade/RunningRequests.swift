import RDR
import Synchronization

/// The upgrade requests running in this process, by system directory. Inside an owner
/// (`rdr serve`) forwarded requests share one process, so `abort --force` stops another request
/// through its cancellation flag — as its client's Ctrl-C would — where a signal would stop the
/// owner itself.
enum RunningRequests {
    private static let flags = Mutex<[String: CancellationFlag]>([:])

    /// `cancellation` stops the request holding the session lock of `systemPath`.
    static func register(_ systemPath: String, _ cancellation: CancellationFlag) {
        flags.withLock { $0[systemPath] = cancellation }
    }

    static func unregister(_ systemPath: String) {
        _ = flags.withLock { $0.removeValue(forKey: systemPath) }
    }

    /// Cancels the request running in this process on `systemPath`; false when there is none.
    static func cancel(_ systemPath: String) -> Bool {
        guard let flag = flags.withLock({ $0[systemPath] }) else { return false }
        flag.cancel()
        return true
    }
}
