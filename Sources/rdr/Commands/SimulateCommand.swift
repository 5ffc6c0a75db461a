import ActiveUpgrade
import FoundationEssentials
import Glibc
import RDR
import RDRArguments

/// `rdr simulate EVENT`: rehearse the failures the guide describes.
enum SimulateCommand {
    static let spec = CommandSpec(
        path: ["simulate"],
        overview:
            "Rehearse a failure: a side crashing, hanging, shut down or losing power while split, a split\nthat times out, a custom action killed by a signal.",
        positionals: "<event>",
        arguments: [
            (
                "<event>",
                "crash, hang, shutdown, power-loss (while split); split-timeout, action-signal\n(armed for the next request)."
            )
        ],
        options: Common.options + [
            OptionSpec(
                names: ["--side"], value: "upgrade|production", help: "The side the event happens to (default upgrade)."
            ),
            OptionSpec(
                names: ["--during"], value: "point", help: "hang only: up (default), boot, post, reboot or shutdown."),
            OptionSpec(
                names: ["--signal"], value: "name",
                help: "action-signal only: KILL (default), TERM, INT, HUP, SEGV, … or a number."),
            UpgradeCommands.autoRecoverOption,
        ],
        discussion: """
            EVENT          PARTNER STATES (Table 4-6)                           CONSEQUENCE
            crash          NMI issued → Reset → BIOS POST → OS Booting → OS Up  the upgrade goes on; the dump is
                                                                                copied to the Production Side at abort
            hang           Hung: OS Up (or, --during: OS Rebooting → … →       merge refused until 'rdr restart
                           Hung: OS Booting / BIOS POST / OS Rebooting /       upgrade' resets it (Reset → BIOS POST
                           OS Shutting Down)                                   → OS Booting → OS Up), or abort
            shutdown       OS Shutting Down → DC On                            the upgrade is aborted (forced)
            power-loss     DC Off                                              the upgrade is aborted (forced)
            --side production (any of the four)                                the Production Side restarts from
                                                                                its original disks; aborted (forced)
            split-timeout  (armed: the next split's Upgrade Side applications  the split breaks at its time limit
                           do not stop)                                        (splitTimeoutSeconds, default 300;
                                                                                RDR_SPLIT_TIMEOUT overrides); retry
                                                                                or abort
            action-signal  (armed: the next custom action is killed)           the request breaks: 'Custom action
                                                                                was killed by signal N (SIGNAME)'

            Each event is logged, and 'rdr status' (--json: session.lastEvent, session.pendingEvents) shows it.
            """,
        observesCancellation: true, run: run)

    static func run(_ p: Parsed) throws -> Int32 {
        let name = try p.positional(0, "<event>")
        try p.noMorePositionals(than: 1)
        guard let event = SimulatedEvent(rawValue: name) else {
            throw p.usage(
                "unknown event '\(name)'; events: \(SimulatedEvent.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var side = Side.upgrade
        if let text = p.value("--side") {
            guard let s = Side(rawValue: text) else {
                throw p.usage("--side must be upgrade or production, not '\(text)'")
            }
            side = s
        }
        var during = HangPoint.up
        if let text = p.value("--during") {
            guard event == .hang, let d = HangPoint(rawValue: text) else {
                throw p.usage(
                    "--during is for hang only and must be one of \(HangPoint.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'"
                )
            }
            during = d
        }
        var signal = SIGKILL
        if let text = p.value("--signal") {
            guard event == .actionSignal, let s = SignalName.parse(text) else {
                throw p.usage(
                    "--signal is for action-signal only and must name a signal (KILL, TERM, INT, HUP, SEGV, …), not '\(text)'"
                )
            }
            signal = s
        }
        if !event.isHardware && p.has("--side") { throw p.usage("--side is for crash, hang, shutdown and power-loss") }
        var o = RequestOptions()
        o.autoRecover = try UpgradeCommands.autoRecover(p)
        let code = try UpgradeCommands.withController(p) { ctl in
            try ctl.simulate(event, side: side, during: during, signal: signal, options: o)
        }
        if !event.isHardware {
            p.env.out.line("\(event.rawValue) armed for the next \(event == .splitTimeout ? "split" : "custom action")")
        }
        return code
    }
}
