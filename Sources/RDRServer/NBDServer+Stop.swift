import Glibc
import RDR

extension NBDServer {
    /// What `stop` did.
    public struct StopReport: Sendable {
        /// Connections open when it began.
        public let connections: Int
        /// Connections cut off after `stopGrace` because they did not finish (a client that
        /// stopped reading its replies).
        public let cutOff: Int
        /// Disks flushed (every disk a client used).
        public let flushed: [String]
        /// Flushes that failed, one line each.
        public let errors: [String]
    }

    /// Stops accepting, lets every connection finish the requests it already sent (new ones are
    /// not read), flushes every disk a client used, and returns. Replies a client does not
    /// read within `stopGrace` seconds are dropped.
    public func stop() -> StopReport {
        core.stopping.store(true, ordering: .releasing)
        stopAccepting()
        let open = core.connectionCount
        core.budget.close()
        core.shutdownConnections(Int32(SHUT_RD))
        var cut = 0
        if !waitForConnections(seconds: core.configuration.stopGrace) {
            cut = core.connectionCount
            core.cutOff.store(true, ordering: .releasing)
            core.shutdownConnections(Int32(SHUT_RDWR))
            _ = waitForConnections(seconds: 10)
        }
        core.workers.stop()
        settler?.stop()
        var flushed: [String] = []
        var errors: [String] = []
        if !core.configuration.readOnly {
            for (name, disk) in core.usedDisks {
                do throws(RDRError) {
                    try disk.flush()
                    flushed.append(name)
                } catch {
                    errors.append("flush of disk '\(name)' failed: \(error.message)")
                }
            }
        }
        return StopReport(connections: open, cutOff: cut, flushed: flushed, errors: errors)
    }

    private func waitForConnections(seconds: Double) -> Bool {
        let deadline = Monotonic.now() + seconds
        while core.connectionCount > 0 {
            if Monotonic.now() >= deadline { return false }
            usleep(20_000)
        }
        return true
    }
}
