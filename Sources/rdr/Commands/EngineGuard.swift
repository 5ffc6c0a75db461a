import ActiveUpgrade
import RDR
import RDRArguments

/// The one call each `rdr disk` command makes before changing a disk: refused while an upgrade
/// session owns it (ActiveUpgrade's SessionGuard), unless `--force`.
enum EngineGuard {
    static let forceOption = OptionSpec(
        names: ["--force"], value: nil,
        help: "Run even while an upgrade session owns the disks\n(recorded in the activity log).")

    static func check(_ p: Parsed, _ system: RDRSystem, _ operation: SessionGuard.Operation, disks: [String]) throws {
        try SessionGuard.check(
            system: system, operation: operation, disks: disks, force: p.has("--force"), commandLine: p.env.commandLine)
    }
}
