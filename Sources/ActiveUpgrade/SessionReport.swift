import FoundationEssentials
import Glibc
import RDR

/// The session as `rdr status` shows it: the `session` object of `--json` and the text lines
/// under the status bar.
extension Session {
    /// The `session` object of `rdr status --json` (null where a field has no value).
    public func statusJSON() -> JSONValue {
        let broken = operationalState == .broken
        func text(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
        func list(_ l: [String]) -> JSONValue { .array(l.map(JSONValue.string)) }
        var event = JSONValue.null
        if let e = lastEvent {
            event = .object([
                "event": .string(e.event.rawValue), "side": .string(e.side.rawValue), "time": .string(e.time),
                "partnerStates": list(e.partnerStates.map(\.rawValue)), "consequence": .string(e.consequence),
            ])
        }
        return .object([
            "configuration": text(configurationName),
            "hardwareState": .string(hardwareState.rawValue),
            "upgradeState": .string(upgradeState.rawValue),
            "operationalState": .string(operationalState.rawValue),
            "partnerState": .string(partnerState.rawValue),
            "request": text(request?.rawValue),
            "failedStep": broken ? text(failedStep) : .null,
            "failure": broken ? text(failure) : .null,
            "interrupted": .bool(broken && interrupted),
            "autoRecover": .string(autoRecoverPolicy().rawValue),
            "allowedRequests": list(allowedRequests.map(\.rawValue)),
            "pendingEvents": list(pendingEvents.map(\.event.rawValue)),
            "lastEvent": event,
            "statusBar": .string(statusBar),
        ])
    }

    public var statusLines: [String] {
        var out: [String] = []
        if operationalState == .broken, let failure {
            var line = "Broken: \(request?.title ?? "request") — \(failure)"
            if interrupted {
                line += " (the next upgrade command completes it: autoRecover \(autoRecoverPolicy().rawValue))"
            }
            out.append(line)
        }
        if let e = lastEvent {
            out.append(
                "Simulated: \(e.event.rawValue) of the \(e.side.title) Side at \(e.time)"
                    + (e.partnerStates.isEmpty
                        ? "" : ", Partner: " + e.partnerStates.map(\.rawValue).joined(separator: " → "))
                    + " — \(e.consequence)")
        }
        if !pendingEvents.isEmpty {
            out.append("Armed: " + pendingEvents.map(\.event.rawValue).joined(separator: ", "))
        }
        return out
    }
}
