/// The mirror-level state that both members' headers carry. It changes only through
/// `VirtualDisk` transitions, each of which bumps `events` and writes it to both members in
/// turn; the member whose copy is one event behind is rolled forward on the next open (md's
/// `events` rule). A member further behind is stale and never trusted for a bitmap resync.
public struct MirrorRecord: Sendable, Equatable {
    public var events: UInt64
    public var mode: MirrorMode
    /// The enclosure that is (or becomes at split) the Production Side.
    public var primary: Enclosure
    /// Generation both members shared when they were last identical (DRBD's bitmap UUID).
    public var baseGeneration: UInt64
    /// Each member's current generation, indexed by `Enclosure.index`. Equal to the base in duplex.
    public var generations: [UInt64]
    /// While resyncing: the member being copied from.
    public var resyncSource: Enclosure?
    /// While resyncing: bytes the resync planned when it started (fixed for progress).
    public var planBytes: UInt64
    /// While resyncing: when the resync started, milliseconds since 1970.
    public var resyncStartedMillis: UInt64
    /// The mode the disk was in when its resync started (split, merged or duplex).
    public var modeBeforeResync: MirrorMode?

    public static func fresh(generation: UInt64, primary: Enclosure) -> MirrorRecord {
        MirrorRecord(
            events: 1, mode: .duplex, primary: primary, baseGeneration: generation,
            generations: [generation, generation], resyncSource: nil, planBytes: 0,
            resyncStartedMillis: 0, modeBeforeResync: nil)
    }

    public var resyncTarget: Enclosure? { resyncSource?.other }
}
