import ActiveUpgrade
import FoundationEssentials
import Glibc
import RDR
import RDRArguments

enum StatusCommand {
    static let spec = CommandSpec(
        path: ["status"],
        overview: "Show each virtual disk's mode, resync progress and members. Never blocks, needs no lock.",
        positionals: "[<disk> ...]",
        arguments: [("<disk>", "Disks to show (default: all).")],
        options: Common.options + [
            OptionSpec(
                names: ["--json"], value: nil, help: "Print one JSON object (the fields are documented in the README)."),
            OptionSpec(names: ["--watch"], value: nil, help: "Refresh until no resync is running."),
            OptionSpec(
                names: ["--interval"], value: "seconds", help: "Refresh interval for --watch, 0.1 to 3600 (default 1)."),
        ],
        discussion:
            "Status is None (duplex, in sync), Resync nn% (resyncing; nn never reads 100 before the\nend), Resync needed (duplex with interrupted writes), Simplex (split or merged) or Error.",
        run: run)

    static let intervalRange = 0.1...3600.0

    static func run(_ p: Parsed) throws -> Int32 {
        let interval = try p.seconds("--interval", in: intervalRange) ?? 1
        let names = try p.distinctPositionals()
        let system = try Common.open(p)
        while true {
            let status = try system.status(disks: names)
            let session = try SessionStore(system: system).current()
            if p.has("--json") {
                p.env.out.line(try json(status, session))
            } else {
                if p.has("--watch") && p.env.out.isTerminal { p.env.out.write("\u{1B}[H\u{1B}[2J") }
                p.env.out.line(session.statusBar)
                for line in session.statusLines { p.env.out.line(line) }
                p.env.out.write(render(status))
            }
            let running = status.disks.contains { $0.resync?.running == true }
            if !p.has("--watch") || !running { break }
            Terminal.sleep(seconds: interval)
        }
        return ExitCode.success
    }

    /// The engine's status object plus the upgrade session.
    static func json(_ status: SystemStatus, _ session: Session) throws -> String {
        try JSONOutput.text(JSONOutput.Status(status: status, session: session.statusJSON()))
    }

    static func render(_ s: SystemStatus) -> String {
        var out = "System: \(s.system)\n"
        if let holder = s.lockHolder { out += "Busy: \(holder)\n" }
        for d in s.disks {
            out +=
                "\nDisk \(d.name) (\(d.role), \(ByteSize.format(d.size)), regions \(ByteSize.format(d.regionSize)))\n"
            out += "  Mode: \(d.mode)\n"
            out += "  Status: \(d.status)\n"
            if let e = d.error { out += "  Error: \(e)\n" }
            for w in d.warnings ?? [] { out += "  Warning: \(w)\n" }
            if let r = d.resync {
                let side = { (e: UInt8) in d.members.first { $0.enclosure == e }?.side ?? "?" }
                out += "  Direction: \(r.source) → \(r.target) (\(side(r.source)) → \(side(r.target)))\n"
                out += "  Left: \(ByteSize.format(r.bytesTotal - r.bytesDone)) of \(ByteSize.format(r.bytesTotal))"
                out +=
                    r.running
                    ? "  Rate: \(Terminal.rate(r.rateBytesPerSecond))  ETA: \(Terminal.duration(r.etaSeconds))  (pid \(r.pid ?? 0))\n"
                    : "  Stopped: resume with 'rdr disk resync \(d.name) --from \(r.source)'\n"
            }
            for m in d.members {
                out +=
                    "  Member \(m.enclosure) (\(m.side)): \(m.path)  dirty \(ByteSize.format(m.dirtyBytes))  allocated \(ByteSize.format(m.allocatedBytes))\n"
            }
        }
        return out
    }
}
