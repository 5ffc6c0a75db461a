/// Every failure the engine reports to a user. `kind` decides the exit code; `message` is one
/// line that names the thing and says what to do.
public struct RDRError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The request itself is malformed: an unknown disk or side, an offset past the end.
        case invalidArgument
        /// The request is well formed but not allowed in the current mirror state.
        case invalidState
        /// The side has no access to this disk (data disks on the Upgrade Side while split).
        case accessRefused
        /// Another process is changing the system.
        case busy
        /// Metadata or images are missing, corrupt, mismatched or from another disk.
        case corrupt
        /// The operating system failed an operation, or a check right before a write refused
        /// it (`RDRError.internalCheck`: a bug in rdr, and nothing was written).
        case io
        /// The user stopped the operation (a signal); it can be resumed.
        case interrupted
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static func io(_ e: Errno) -> RDRError { RDRError(.io, e.description) }

    /// A structure about to be written failed the check its reader would apply: rdr refuses to
    /// write it (nothing was written) instead of trapping or persisting what it could not read.
    static func internalCheck(_ what: String) -> RDRError {
        RDRError(.io, "internal error: \(what); nothing was written. This is a bug in rdr: please report it")
    }
}

/// Runs `body`, turning a raw `Errno` into an `RDRError` of kind `.io`.
@inline(__always)
func io<T>(_ body: () throws(Errno) -> T) throws(RDRError) -> T {
    do { return try body() } catch { throw RDRError.io(error) }
}
