import RDR

/// Steps that change the RDR mirrors: split, merge, the resync direction and the background copy.
extension UpgradeController {
    /// Runs `body` on every virtual disk under the system lock (engine transitions).
    func mirrors(_ ctx: StepContext, _ body: (VirtualDisk) throws -> Void) throws(RDRError) {
        let lock = try system.lock(command: command)
        defer { lock.release() }
        for d in system.manifest.disks {
            let disk = try system.disk(d.name)
            do { try body(disk) } catch let e as RDRError { throw e } catch { throw RDRError(.io, "\(error)") }
            log.add(.information, "RDR disk \(d.name): \(disk.record.mode)", parent: ctx.parent)
        }
    }

    func splitMirrors(_ ctx: StepContext) throws(RDRError) {
        try mirrors(ctx) { d in if d.record.mode == .duplex { try d.split() } }
    }

    func mergeMirrors(_ ctx: StepContext) throws(RDRError) {
        try mirrors(ctx) { d in if d.record.mode == .split { try d.merge() } }
    }

    /// Split: the data disks are the Production Side's alone from now on (said in the log).
    func isolateUpgradeSide(_ ctx: StepContext) {
        let data = system.manifest.disks.filter { $0.role == .data }.map(\.name)
        log.add(
            .information,
            data.isEmpty
                ? "No data disks to isolate" : "The Upgrade Side has no access to \(data.joined(separator: ", "))",
            parent: ctx.parent)
    }

    /// Fixes each diverged disk's resync direction durably (the plan names the member that
    /// wins); an already started resync keeps its direction.
    func startResyncs(_ plan: ResyncPlan, _ ctx: StepContext) throws(RDRError) {
        try mirrors(ctx) { d in
            let r = d.record
            if r.mode == .resyncing { return }
            let from = plan == .commit && d.role.isSystem ? r.primary.other : r.primary
            if try d.startResync(from: from) {
                self.log.add(
                    .information, "RDR disk \(d.name): resync from member \(from) to \(from.other) started",
                    parent: ctx.parent)
            }
        }
    }

    func background() throws(RDRError) {
        do { try startBackgroundResync(system) } catch let e as RDRError { throw e } catch {
            throw RDRError(.io, "\(error)")
        }
    }
}
