/// An incremental decoder of one direction of an NBD connection. Bytes arrive in any pieces
/// (`feed`); `next()` returns the next whole message, nil while more bytes are needed, or throws
/// `NBDWireError` (see there: fatal errors end the stream, recoverable ones skip one message).
///
/// Payloads (a WRITE's data on the server side, READ data on the client side) are not part of the
/// message: after such a message `payloadRemaining` says how many bytes follow, and the caller
/// takes them before the next `next()`. To land a 32 MiB WRITE in an aligned buffer with no extra
/// copy, a server calls `readPayload(into:)` for the bytes it already fed, reads the rest from the
/// socket straight into the same buffer, and reports them with `payloadReadDirectly(_:)`:
///
///     case .request(let request) where request.command == .write:
///         let buffer = pool.alignedBuffer(count: request.payloadLength)   // the caller's own
///         let fed = decoder.readPayload(into: buffer)                     // already received
///         try socket.readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[fed...]))
///         decoder.payloadReadDirectly(buffer.count - fed)
///
/// Small payloads can simply be fed and taken whole with `takePayload()`.
public protocol NBDStreamDecoding {
    associatedtype Message: Hashable & Sendable
    /// The buffered stream state (opaque; use the methods below).
    var input: NBDInput { get set }
    /// The next whole message, or nil when more bytes are needed.
    mutating func next() throws(NBDWireError) -> Message?
}

extension NBDStreamDecoding {
    /// Appends bytes received from the peer (dropped once a fatal error happened).
    public mutating func feed(_ bytes: some Sequence<UInt8>) { input.append(bytes) }

    /// Bytes fed but not yet decoded or taken.
    public var bufferedCount: Int { input.buffered }

    /// Payload bytes of the last message that the caller has not taken yet.
    public var payloadRemaining: Int { input.payloadRemaining }

    /// Every byte of the stream consumed so far (messages, payloads, skipped bytes).
    public var bytesConsumed: UInt64 { input.consumed }

    /// Copies up to `buffer.count` of the pending payload's already-fed bytes into `buffer` and
    /// returns how many; the rest of the payload must then come from `feed` or the socket.
    public mutating func readPayload(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        input.readPayload(into: buffer)
    }

    /// The whole pending payload once all of it has been fed, else nil (nothing is taken).
    public mutating func takePayload() -> [UInt8]? { input.takePayload() }

    /// Records that the caller read `count` payload bytes from the stream itself. Only valid once
    /// `readPayload(into:)` has drained every fed byte (`bufferedCount == 0`) and for at most
    /// `payloadRemaining` bytes; anything else is a bug in the caller and traps.
    public mutating func payloadReadDirectly(_ count: Int) { input.payloadReadDirectly(count) }
}
