/// The byte stream under a decoder: bytes fed but not yet decoded, the pending payload of the last
/// message, the bytes of a refused message still to be skipped, and a fatal error once one
/// happened. Both decoders share it; callers use it through `NBDStreamDecoding`.
public struct NBDInput: Sendable {
    /// Fed bytes; those before `head` are consumed. Compacted as it drains (see `consume`).
    private var storage: [UInt8] = []
    private var head = 0
    /// Bytes of a refused message (over a limit, or malformed with a known length) not yet seen.
    private var skipping: UInt64 = 0
    /// Payload bytes of the last message the caller has not taken yet.
    private(set) var payloadRemaining = 0
    /// Every byte consumed so far, payloads and skipped bytes included.
    private(set) var consumed: UInt64 = 0
    /// The fatal error, once the stream could not be framed; every later `next()` throws it.
    private(set) var failure: NBDWireError?

    init() {}

    /// Bytes fed and not consumed yet.
    var buffered: Int { storage.count - head }

    mutating func append(_ bytes: some Sequence<UInt8>) {
        // After a fatal error nothing will be decoded: keep memory from growing.
        guard failure == nil else { return }
        storage.append(contentsOf: bytes)
        discardSkipped()
    }

    /// The big-endian integer at `offset` past the decoding position (caller checked `buffered`).
    func peek<T: FixedWidthInteger>(_ offset: Int) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value = value << 8 | T(storage[head + offset + i]) }
        return value
    }

    mutating func consume(_ count: Int) {
        head += count
        consumed += UInt64(count)
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 << 10, head * 2 >= storage.count {
            // Amortised: move the tail down once the consumed part dominates.
            storage.removeFirst(head)
            head = 0
        }
    }

    /// Copies and consumes `count` buffered bytes (caller checked `buffered`).
    mutating func take(_ count: Int) -> [UInt8] {
        let bytes = Array(storage[head..<head + count])
        consume(count)
        return bytes
    }

    /// Refuses a message whose `count` remaining bytes are dropped as they arrive.
    mutating func skip(_ count: UInt64) {
        skipping += count
        discardSkipped()
    }

    private mutating func discardSkipped() {
        let now = Int(min(skipping, UInt64(buffered)))
        skipping -= UInt64(now)
        if now > 0 { consume(now) }
    }

    /// Whether a new message may be decoded: throws the stored fatal error, refuses while the
    /// caller still owes the last payload, and waits while a refused message is being skipped.
    func ready() throws(NBDWireError) -> Bool {
        if let failure { throw failure }
        guard payloadRemaining == 0 else { throw .payloadPending(remaining: payloadRemaining) }
        return skipping == 0
    }

    /// Records `error`; a fatal one ends decoding for good.
    mutating func note(_ error: NBDWireError) {
        if error.isFatal {
            failure = error
            storage = []
            head = 0
        }
    }

    /// Announces `count` payload bytes following the message just decoded.
    mutating func expectPayload(_ count: Int) { payloadRemaining += count }

    /// Moves up to `buffer.count` buffered payload bytes into `buffer`.
    mutating func readPayload(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = min(buffer.count, payloadRemaining, buffered)
        guard count > 0, let base = buffer.baseAddress else { return 0 }
        storage.withUnsafeBytes { source in
            if let start = source.baseAddress { base.copyMemory(from: start + head, byteCount: count) }
        }
        payloadRemaining -= count
        consume(count)
        return count
    }

    /// The whole pending payload, once all of it is buffered.
    mutating func takePayload() -> [UInt8]? {
        guard buffered >= payloadRemaining else { return nil }
        defer { payloadRemaining = 0 }
        return take(payloadRemaining)
    }

    /// The caller read `count` payload bytes straight from the stream, bypassing the buffer.
    mutating func payloadReadDirectly(_ count: Int) {
        precondition(count >= 0 && count <= payloadRemaining, "more payload bytes read than the message carries")
        precondition(buffered == 0 || count == 0, "buffered payload bytes must be read with readPayload first")
        payloadRemaining -= count
        consumed += UInt64(count)
    }
}
