import Foundation
import RDR

/// The readiness check: each check logs Success, Warning or Error under one parent entry.
/// Warnings never block; any Error fails the check.
struct Readiness {
    let system: RDRSystem
    let model: SystemModel
    let config: Configuration?
    let log: ActivityLog

    struct Finding {
        var severity: Severity
        var message: String
        var detail: String?
    }

    /// The machine and disk checks (Table 5-1 and the guide's prerequisites).
    func findings() -> [Finding] {
        var out: [Finding] = []
        // Disks: every virtual disk duplexed and in sync; system disks present; mandatory not data.
        for d in system.manifest.disks {
            do {
                let disk = try system.disk(d.name, access: .readOnly)
                let r = disk.record
                if r.mode != .duplex || disk.dirtyBytes.contains(where: { $0 > 0 }) {
                    let why = r.mode == .resyncing ? "resyncing" : r.mode == .duplex ? "interrupted writes not resynced" : r.mode.description
                    out.append(Finding(severity: .error, message: "RDR disk is not duplexed", detail: "disk \(d.name): \(why); wait for the resync to finish ('rdr status')"))
                } else {
                    out.append(Finding(severity: .success, message: "RDR disk \(d.name) is duplexed", detail: nil))
                }
            } catch {
                out.append(Finding(severity: .error, message: "RDR disk is not duplexed", detail: "disk \(d.name): \(error.message)"))
            }
        }
        for (name, role) in (config?.disks ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let d = system.manifest.disks.first(where: { $0.name == name }) else {
                out.append(Finding(severity: .error, message: "Disk \(name) selected in the configuration is not present", detail: nil))
                continue
            }
            if d.role == .mandatory && role == .data {
                out.append(Finding(severity: .error, message: "Mandatory system disk \(name) cannot be marked data", detail: nil))
            }
        }
        if !system.manifest.disks.contains(where: { (config?.disks[$0.name].map { $0 != .data } ?? $0.role.isSystem) }) {
            out.append(Finding(severity: .error, message: "No system disk is selected", detail: "mark at least one disk system"))
        }
        // Hardware (Table 5-1).
        for b in model.ioBoards where !b.safeToPull {
            out.append(Finding(severity: .error, message: "IO board \(b.number) is unsafe to pull", detail: "a critical resource in enclosure \(b.number) is not duplexed"))
        }
        for e in [10, 11] where !model.vtms.contains(where: { $0.enclosure == e && $0.configured }) {
            out.append(Finding(severity: .error, message: "IO board \(e) is unsafe to pull", detail: "no configured VTM in enclosure \(e)"))
        }
        for n in model.nics where n.embedded && n.team == nil {
            out.append(Finding(severity: .error, message: "Embedded NIC not teamed", detail: "adapter \(n.name) in enclosure \(n.enclosure)"))
        }
        for t in model.teams {
            if (t.ipAddress ?? "").isEmpty {
                out.append(Finding(severity: .error, message: "No IP address on Upgrade ready team", detail: "team \(t.name)"))
            }
            let members = model.nics.filter { $0.team == t.name && $0.link }
            if !(members.contains { $0.enclosure == 10 } && members.contains { $0.enclosure == 11 }) {
                out.append(Finding(severity: .error, message: "Team does not have link on both sides", detail: "team \(t.name)"))
            }
            if t.dhcp && !model.dhcpServerReachable {
                out.append(Finding(severity: .warning, message: "Active Upgrade may fail. Check DHCP server.", detail: "team \(t.name) uses DHCP"))
            }
        }
        if !model.dhcpServerReachable && !model.teams.contains(where: \.dhcp) {
            out.append(Finding(severity: .warning, message: "Active Upgrade may fail. Check DHCP server.", detail: "no DHCP server answers"))
        }
        if !model.remoteDesktopEnabled {
            out.append(Finding(severity: .warning, message: "Remote Desktop is not enabled", detail: "use Remote KVM to reach the Upgrade Side, or enable Remote Desktop"))
        }
        // Controlled services present and running; custom action executables present.
        for s in config?.services ?? [] {
            guard let svc = model.service(s.name) else {
                out.append(Finding(severity: .error, message: "Service \(s.name) is not present", detail: nil))
                continue
            }
            out.append(svc.production.running
                       ? Finding(severity: .success, message: "Service \(s.name) is running", detail: nil)
                       : Finding(severity: .error, message: "Service \(s.name) is not running", detail: "start it on the Production Side"))
        }
        for a in config?.customActions ?? [] where !FileManager.default.isExecutableFile(atPath: a.file) {
            out.append(Finding(severity: .error, message: "The executable filename does not exist.", detail: "\(a.controlType.rawValue) action \(a.file)"))
        }
        return out
    }
}
