import RDR

/// The hardware state from the mirrors themselves, not from the upgrade state: the system runs
/// as a Production Side while any virtual disk is split (each side writes its own member).
/// Merged disks run fault tolerant (the guide's `Fault Tolerant | Merge`), and so do duplex and
/// resyncing ones. This is also what custom actions see as `ACTIVE_UPGRADE_HW_SPLIT`.
enum HardwareProbe {
    /// nil when a disk cannot be read (the caller falls back to the upgrade state).
    static func state(_ system: RDRSystem) -> HardwareState? {
        var split = false
        for d in system.manifest.disks {
            guard let disk = try? system.disk(d.name, access: .readOnly) else { return nil }
            if disk.record.mode == .split { split = true }
        }
        return split ? .productionSide : .faultTolerant
    }
}
