import Dispatch
import RDR

/// Carries the environment's cancellation into a flag this program cannot replace: the upgrade
/// controller owns its own. Checked every 10 ms, far below the time any request step takes, so
/// an interrupt stops a request as promptly as when the signal set the flag directly.
final class CancellationRelay: @unchecked Sendable {
    // @unchecked: `timer` is set once in init and only cancelled afterwards (DispatchSource
    // calls are thread-safe).
    private let timer: DispatchSourceTimer

    init(from source: CancellationFlag, to target: CancellationFlag) {
        timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now(), repeating: .milliseconds(10))
        timer.setEventHandler { [timer] in
            guard source.isCancelled else { return }
            target.cancel()
            timer.cancel()
        }
        timer.resume()
    }

    func stop() { timer.cancel() }
}
