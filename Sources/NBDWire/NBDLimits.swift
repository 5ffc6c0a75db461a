/// Bounds on every length a peer sends. A decoder compares each length field with these before it
/// buffers or allocates anything for it, so a hostile peer cannot make it hold more than the limits.
public struct NBDLimits: Hashable, Sendable {
    /// Largest option request data (client → server) and option reply data (server → client) the
    /// decoder buffers whole. Names and queries are at most 4096 bytes each, so 64 KiB is generous.
    public var maxOptionData: Int
    /// Largest WRITE payload (server side) and READ data of one reply or OFFSET_DATA chunk (client
    /// side). These bytes are not buffered by the decoder: the caller reads them into its own buffer.
    public var maxPayload: Int
    /// Largest structured chunk payload the decoder buffers whole (every type but OFFSET_DATA).
    /// proto.md: a BLOCK_STATUS chunk SHOULD hold at most 2^20 extents, 4 + 8 × 2^20 bytes.
    public var maxChunkPayload: Int

    /// The defaults: 64 KiB of option data, 32 MiB of payload (proto.md's interoperable maximum),
    /// and the largest BLOCK_STATUS chunk proto.md recommends.
    public init(maxOptionData: Int = 64 << 10, maxPayload: Int = 32 << 20, maxChunkPayload: Int = 4 + (8 << 20)) {
        self.maxOptionData = maxOptionData
        self.maxPayload = maxPayload
        self.maxChunkPayload = maxChunkPayload
    }
}
