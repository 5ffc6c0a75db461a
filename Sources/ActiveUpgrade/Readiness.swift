import FoundationEssentials
import Glibc
import RDR

/// The readiness check (the guide's prerequisites, Tables 2-2, 5-1 and 5-2). Every individual
/// check is reported: Success when it passes, Warning when it should be addressed but never
/// blocks, Error when it must be fixed before the upgrade can go on.
struct Readiness {
    let system: RDRSystem
    let model: SystemModel
    let config: Configuration?

    func findings() -> [Finding] {
        disks() + hardware() + network() + services() + (config?.findings(sys: system.sys) ?? [])
    }

    /// Every virtual disk duplexed and in sync; system disks present; mandatory not data.
    func disks() -> [Finding] {
        var out: [Finding] = []
        for d in system.manifest.disks {
            do {
                let disk = try system.disk(d.name, access: .readOnly)
                let r = disk.record
                if r.mode != .duplex || disk.dirtyBytes.contains(where: { $0 > 0 }) {
                    let why =
                        r.mode == .resyncing
                        ? "resyncing" : r.mode == .duplex ? "interrupted writes not resynced" : r.mode.description
                    out.append(
                        Finding(
                            .error, "RDR disk is not duplexed",
                            "disk \(d.name): \(why); wait for the resync to finish ('rdr status')"))
                } else {
                    out.append(Finding(.success, "RDR disk \(d.name) is duplexed"))
                }
            } catch {
                out.append(Finding(.error, "RDR disk is not duplexed", "disk \(d.name): \(error.message)"))
            }
        }
        for (name, role) in (config?.disks ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let d = system.manifest.disks.first(where: { $0.name == name }) else {
                out.append(Finding(.error, "Disk \(name) selected in the configuration is not present"))
                continue
            }
            if d.role == .mandatory && role == .data {
                out.append(Finding(.error, "Mandatory system disk \(name) cannot be marked data"))
            }
        }
        let system = self.system.manifest.disks.filter {
            config?.disks[$0.name].map { $0 != .data } ?? $0.role.isSystem
        }.map(\.name)
        out.append(
            system.isEmpty
                ? Finding(.error, "No system disk is selected", "mark at least one disk system")
                : Finding(.success, "System disks selected: \(system.joined(separator: ", "))"))
        return out
    }

    /// I/O boards and VTMs (Table 5-1: "IO board nn is unsafe to pull").
    func hardware() -> [Finding] {
        var out: [Finding] = []
        for b in model.ioBoards {
            out.append(
                b.safeToPull
                    ? Finding(.success, "IO board \(b.number) is safe to pull")
                    : Finding(
                        .error, "IO board \(b.number) is unsafe to pull",
                        "a critical resource in enclosure \(b.number) is not duplexed"))
        }
        for e in [10, 11] {
            out.append(
                model.vtms.contains { $0.enclosure == e && $0.configured }
                    ? Finding(.success, "VTM configured in enclosure \(e)")
                    : Finding(.error, "IO board \(e) is unsafe to pull", "no configured VTM in enclosure \(e)"))
        }
        return out
    }

    /// Ethernet adapters and teams (2-2, Table 5-1), DHCP and Remote Desktop.
    func network() -> [Finding] {
        var out: [Finding] = []
        for n in model.nics {
            if n.embedded {
                out.append(
                    n.team == nil
                        ? Finding(.error, "Embedded NIC not teamed", "adapter \(n.name) in enclosure \(n.enclosure)")
                        : Finding(.success, "Embedded NIC \(n.name) is teamed"))
            } else if n.team == nil {
                out.append(
                    Finding(
                        .warning, "Ethernet PCI adapter \(n.name) is not teamed",
                        "team it to keep its network through the upgrade"))
            }
        }
        let ports = Dictionary(grouping: model.nics.filter { $0.adapter != nil }, by: { $0.adapter ?? "" })
        for (adapter, list) in ports.sorted(by: { $0.key < $1.key })
        where list.count > 1 && list.contains(where: { $0.team != nil }) && list.contains(where: { $0.team == nil }) {
            out.append(
                Finding(
                    .warning, "Only one port of adapter \(adapter) is teamed",
                    "team all its ports or none: \(list.map(\.name).joined(separator: ", "))"))
        }
        for t in model.teams {
            out.append(
                (t.ipAddress ?? "").isEmpty
                    ? Finding(.error, "No IP address on Upgrade ready team", "team \(t.name)")
                    : Finding(.success, "Team \(t.name) has an IP address"))
            if t.dhcp && !model.dhcpServerReachable {
                out.append(Finding(.warning, "Active Upgrade may fail. Check DHCP server.", "team \(t.name) uses DHCP"))
            }
        }
        // One embedded team with a linked adapter in each enclosure is what the split needs.
        let linked = model.teams.filter { t in
            let members = model.nics.filter { $0.team == t.name && $0.link && $0.embedded }
            return members.contains { $0.enclosure == 10 } && members.contains { $0.enclosure == 11 }
        }
        out.append(
            linked.first.map { Finding(.success, "Team \($0.name) has link on both sides") }
                ?? Finding(
                    .error, "Team does not have link on both sides",
                    "no embedded team has a linked adapter in both enclosures"))
        if !model.dhcpServerReachable && !model.teams.contains(where: \.dhcp) {
            out.append(Finding(.warning, "Active Upgrade may fail. Check DHCP server.", "no DHCP server answers"))
        }
        out.append(
            model.remoteDesktopEnabled
                ? Finding(.success, "Remote Desktop is enabled")
                : Finding(
                    .warning, "Remote Desktop is not enabled",
                    "use Remote KVM to reach the Upgrade Side, or enable Remote Desktop"))
        return out
    }

    /// Controlled services present and running on the Production Side.
    func services() -> [Finding] {
        (config?.services ?? []).map { s in
            guard let svc = model.service(s.name) else { return Finding(.error, "Service \(s.name) is not present") }
            return svc.production.running
                ? Finding(.success, "Service \(s.name) is running")
                : Finding(.error, "Service \(s.name) is not running", "start it on the Production Side")
        }
    }
}
