/// What a disk says about itself, each a snapshot taken under `state`.
extension VirtualDisk {
    public var record: MirrorRecord { state.withLock { $0.record } }

    /// Why the member images are not trusted (opened with `.report`), or nil.
    public var identityProblem: RDRError? {
        state.withLock { $0.identity }.error(disk: name, images: imagePaths)
    }

    /// Bitmap pages found with a damaged slot at open (all their regions are treated as dirty).
    public var metadataWarnings: [String] {
        state.withLock { s in
            s.metadata.enumerated().compactMap { i, m in
                m.suspectPages.isEmpty
                    ? nil
                    : "member \(Enclosure(index: i)?.description ?? "?") metadata has "
                        + "\(m.suspectPages.count) bitmap page(s) with a damaged copy (torn write or corruption); "
                        + "their regions are resynced in full"
            }
        }
    }

    /// Bytes marked dirty on each member (indexed by `Enclosure.index`).
    public var dirtyBytes: [Int64] { state.withLock { s in s.bitmaps.map { geometry.byteCount(of: $0) } } }

    public func bitmap(_ e: Enclosure) -> DirtyBitmap { state.withLock { $0.bitmaps[e.index] } }

    /// Both members' bitmaps together: every region that may differ between them.
    func unionOfBitmaps() -> DirtyBitmap {
        state.withLock { s in
            var union = s.bitmaps[0]
            union.formUnion(s.bitmaps[1])
            return union
        }
    }

    public var wholeDisk: Range<Int64> { 0..<size }
}
