/// One I/O a resync would issue on its target: a copy of `bytes` from the source (one read and
/// one write, at most the maximum I/O size) or a hole punched over `bytes`.
public struct ResyncExtent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case copy, punch }
    public let kind: Kind
    public let bytes: Range<Int64>

    public init(kind: Kind, bytes: Range<Int64>) {
        self.kind = kind
        self.bytes = bytes
    }
}
