extension VirtualDisk {
    /// Re-adopts member images that are not the files the metadata recorded — a system copied
    /// or restored as a whole gets new files — once they are shown to be the same members: a
    /// verify must find differences only where a bitmap says the members may differ. A swap of
    /// the two images is refused (it would pass that check and reverse every later copy), and so
    /// is a difference the bitmaps do not explain (a replaced or foreign image). Needs the disk
    /// opened for writing with `identity: .report`.
    public func adoptImages(workers: Int = ResyncOptions.defaultWorkers) throws(RDRError) -> VerifyReport {
        guard writable else { throw RDRError(.invalidState, "disk '\(name)' was opened read-only") }
        let finding = state.withLock { $0.identity }
        if finding == .swapped, let error = finding.error(disk: name, images: imagePaths) { throw error }
        let report = try verify(workers: workers)
        guard report.unexplained.isEmpty else {
            throw RDRError(
                .corrupt,
                "the members of disk '\(name)' differ in \(report.unexplained.count) region(s) "
                    + "marked in sync on both members: an image was replaced or swapped, not copied with its system, so "
                    + "it is not adopted; rename the right files back, or keep one member with 'rdr disk resync \(name) "
                    + "--from 10|11 --full --force'")
        }
        if finding != .trusted { try recordIdentities() }
        return report
    }

    /// Writes the images found at open into both headers (as one transition, so a crash in
    /// between rolls forward like any other) and trusts them from now on.
    func recordIdentities() throws(RDRError) {
        guard writable else { throw RDRError(.invalidState, "disk '\(name)' was opened read-only") }
        try ranges.withLock([wholeDisk]) { () throws(RDRError) in
            try state.withLock { (s) throws(RDRError) in
                var next = s.record
                try writeRecord(&next, in: &s, first: next.primary)
                s.identity = .trusted
            }
        }
    }
}
