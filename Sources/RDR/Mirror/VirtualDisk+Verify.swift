extension VirtualDisk {
    /// Compares both members region by region, in parallel, skipping ranges that are holes in
    /// both (`Verifier`). With `repairFrom`, mismatched regions are resynced from that member.
    public func verify(
        workers: Int = ResyncOptions.defaultWorkers, chunkSize: Int64 = 4 << 20,
        repairFrom: Enclosure? = nil, options: ResyncOptions = ResyncOptions(),
        observer: (@Sendable (ResyncProgress) -> Void)? = nil
    ) throws(RDRError) -> VerifyReport {
        let begin = sys.clock.monotonicSeconds()
        let marked = unionOfBitmaps()
        let (mismatched, compared) = try Verifier(disk: self, chunkSize: chunkSize).run(workers: workers)
        var report = VerifyReport(
            disk: name, mismatched: mismatched, unexplained: mismatched.subtracting(marked),
            regionSize: regionSize, size: size, bytesCompared: compared,
            seconds: sys.clock.monotonicSeconds() - begin)
        if let source = repairFrom, !report.mismatched.isEmpty {
            guard record.mode == .duplex || record.mode == .resyncing else {
                throw RDRError(
                    .invalidState,
                    "disk '\(name)' is \(record.mode): its members differ by design; "
                        + "repair only a duplexed disk")
            }
            report.repair = try resync(from: source, options: options, extra: report.mismatched, observer: observer)
        }
        return report
    }
}
