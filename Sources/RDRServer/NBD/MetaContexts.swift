import NBDWire

/// The metadata contexts every export offers for NBD_CMD_BLOCK_STATUS:
/// - `base:allocation`: holes (reading as zeroes) and data of the member the side reads;
/// - `qemu:dirty-bitmap:production` / `:upgrade`: that side's member's dirty bitmap, bit 0 set
///   on dirty regions — raw images with a persistent bitmap that backup and copy tools read the
///   way they read QEMU's (which persists bitmaps only in qcow2).
///
/// Query syntax (documented in the README, as proto.md asks): an exact name selects or lists
/// that context; for LIST only, `base:`, `qemu:` and `qemu:dirty-bitmap:` list every context of
/// that prefix. Queries in other namespaces are ignored.
enum MetaContext: UInt32, CaseIterable, Sendable {
    // Raw values are the context IDs a SET_META_CONTEXT reply gives (unique per connection).
    case baseAllocation = 1
    case dirtyProduction = 2
    case dirtyUpgrade = 3

    var name: String {
        switch self {
        case .baseAllocation: BaseAllocation.contextName
        case .dirtyProduction: "qemu:dirty-bitmap:production"
        case .dirtyUpgrade: "qemu:dirty-bitmap:upgrade"
        }
    }

    /// Wildcards a LIST query may use (proto.md: SET SHOULD NOT select with an empty leaf).
    static let listWildcards = ["base:", "qemu:", "qemu:dirty-bitmap:"]

    /// The contexts `queries` name. No query lists every context, and selects none.
    static func matching(_ queries: [String], listing: Bool) -> [MetaContext] {
        if queries.isEmpty { return listing ? allCases : [] }
        return allCases.filter { context in
            queries.contains { query in
                query == context.name || (listing && listWildcards.contains(query) && context.name.hasPrefix(query))
            }
        }
    }
}
