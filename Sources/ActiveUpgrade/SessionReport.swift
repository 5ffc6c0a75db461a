import Foundation
import RDR

/// The session as `rdr status` shows it: the `session` object of `--json` and the text lines
/// under the status bar.
extension Session {
    public func statusObject() -> [String: Any] {
        let broken = operationalState == .broken
        var event: Any = NSNull()
        if let e = lastEvent {
            event = ["event": e.event.rawValue, "side": e.side.rawValue, "time": e.time,
                     "partnerStates": e.partnerStates.map(\.rawValue), "consequence": e.consequence] as [String: Any]
        }
        return [
            "configuration": configurationName as Any? ?? NSNull(),
            "hardwareState": hardwareState.rawValue,
            "upgradeState": upgradeState.rawValue,
            "operationalState": operationalState.rawValue,
            "partnerState": partnerState.rawValue,
            "request": request?.rawValue as Any? ?? NSNull(),
            "failedStep": broken ? (failedStep as Any? ?? NSNull()) : NSNull(),
            "failure": broken ? (failure as Any? ?? NSNull()) : NSNull(),
            "interrupted": broken && interrupted,
            "autoRecover": autoRecoverPolicy().rawValue,
            "allowedRequests": allowedRequests,
            "pendingEvents": pendingEvents.map(\.event.rawValue),
            "lastEvent": event,
            "statusBar": statusBar,
        ]
    }

    public var statusLines: [String] {
        var out: [String] = []
        if operationalState == .broken, let failure {
            var line = "Broken: \(request?.title ?? "request") — \(failure)"
            if interrupted { line += " (the next upgrade command completes it: autoRecover \(autoRecoverPolicy().rawValue))" }
            out.append(line)
        }
        if let e = lastEvent {
            out.append("Simulated: \(e.event.rawValue) of the \(e.side.title) Side at \(e.time)"
                       + (e.partnerStates.isEmpty ? "" : ", Partner: " + e.partnerStates.map(\.rawValue).joined(separator: " → "))
                       + " — \(e.consequence)")
        }
        if !pendingEvents.isEmpty { out.append("Armed: " + pendingEvents.map(\.event.rawValue).joined(separator: ", ")) }
        return out
    }
}
