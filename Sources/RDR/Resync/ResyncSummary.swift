/// What a finished resync did.
public struct ResyncSummary: Sendable, Equatable {
    public var disk: String
    public var source: Enclosure
    public var target: Enclosure
    /// Bytes the whole resync planned when it first started.
    public var bytesPlanned: Int64
    /// Bytes already done by earlier (interrupted) runs.
    public var bytesDoneBefore: Int64
    /// Bytes this run copied from source to target.
    public var bytesCopied: Int64
    /// Bytes this run punched as holes in the target.
    public var bytesPunched: Int64
    public var checkpoints: Int
    public var seconds: Double
    /// Of `bytesCopied`, those the target now shares with the source (reflinks, FICLONERANGE).
    public var bytesCloned: Int64 = 0
    /// Of `bytesCopied`, those moved by O_DIRECT transfers through io_uring (`DirectCopier`).
    public var bytesDirect: Int64 = 0

    public var mibPerSecond: Double { seconds > 0 ? Double(bytesCopied + bytesPunched) / seconds / 1_048_576 : 0 }
    public var nothingToDo: Bool { bytesPlanned == 0 }
}
