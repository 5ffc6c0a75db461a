/// Limits and sizes of an `NBDServer`. The defaults suit a small machine (2 cores) serving a
/// handful of clients; every cap bounds memory or threads a hostile client could otherwise take.
public struct ServerConfiguration: Sendable {
    /// Every export is read-only: writes, trims and zeroes fail with EPERM.
    public var readOnly = false
    /// Connections at once (past it a new client is closed at once).
    public var maxConnections = 128
    /// Threads executing requests, shared by every connection. More than the cores: a worker
    /// may sleep in fdatasync or on a range lock while others keep the CPUs busy.
    public var workerThreads = 8
    /// Seconds a client has to finish option haggling.
    public var handshakeTimeout = 30.0
    /// Requests and data bytes one connection may have in flight before its reader stops reading.
    public var connectionRequests = 128
    public var connectionBytes = 64 << 20
    /// The same caps over all connections together.
    public var totalRequests = 4096
    public var totalBytes = 512 << 20
    /// Idle buffers kept for reuse (bytes).
    public var keepIdleBuffers = 64 << 20
    /// Seconds `stop` waits for connections to finish their requests before it cuts them off.
    public var stopGrace = 30.0

    /// The largest READ or WRITE payload (NBD_INFO_BLOCK_SIZE maximum; proto.md's 2^25).
    public static let maxPayload = 32 << 20
    /// NBD_INFO_BLOCK_SIZE minimum and preferred: any byte is addressable (the images are
    /// regular files); 4 KiB avoids read-modify-write in the page cache.
    public static let minimumBlock = 1
    public static let preferredBlock = 4096
    /// Descriptors per BLOCK_STATUS chunk at most (proto.md: SHOULD NOT exceed 2^20).
    public static let maxExtents = 16384

    public init() {}
}
