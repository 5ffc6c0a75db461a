import NBDWire
import RDR

/// NBD_CMD_BLOCK_STATUS: one chunk per selected context, the last one marked DONE.
enum BlockStatus {
    static func encode(_ job: Job, into out: inout [UInt8]) throws(RDRError) {
        let t = job.transmission
        let r = job.request
        let disk = t.export.disk
        try disk.checkAccess(side: t.export.name.side)
        let limit = r.flags.contains(.reqOne) ? 1 : ServerConfiguration.maxExtents
        let offset = Int64(r.offset)
        let length = Int64(r.length)
        for (i, context) in t.contexts.enumerated() {
            let extents: [VirtualDisk.Extent]
            switch context {
            case .baseAllocation:
                extents = try disk.allocationExtents(
                    side: t.export.name.side, offset: offset, length: length, limit: limit)
            case .dirtyProduction, .dirtyUpgrade:
                let side: Side = context == .dirtyProduction ? .production : .upgrade
                extents = try disk.dirtyExtents(
                    of: disk.enclosure(of: side), offset: offset, length: length, limit: limit)
            }
            var descriptors = extents.map { BlockDescriptor(length: UInt32($0.length), flags: flags(context, $0.flag)) }
            // Status 0 is always true (proto.md); never send a chunk without a descriptor.
            if descriptors.isEmpty { descriptors = [BlockDescriptor(length: r.length, flags: 0)] }
            StructuredChunk(
                flags: i == t.contexts.count - 1 ? .done : [], cookie: r.cookie,
                body: .blockStatus(contextID: context.rawValue, extents: descriptors)
            ).encode(into: &out)
        }
    }

    /// base:allocation: a hole reads as zeroes (HOLE | ZERO). Dirty bitmaps: bit 0 = dirty.
    private static func flags(_ context: MetaContext, _ flag: Bool) -> UInt32 {
        guard flag else { return 0 }
        return context == .baseAllocation ? BaseAllocation.hole | BaseAllocation.zero : 1
    }
}
