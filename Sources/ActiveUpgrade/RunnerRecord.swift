import FoundationEssentials
import Glibc
import RDR

/// Who is running an upgrade request right now, where another process can find it:
/// `.session.runner.json` holds the pid of the process holding the session lock and the process
/// group of the custom action it is waiting for. `abort --force` reads it to stop them. Written
/// durably (a crash leaves the last action's group on record) and removed when the request ends.
struct RunnerRecord: Codable, Equatable {
    var pid: Int32
    var request: String
    var actionGroup: Int32?
}

final class RunnerFile {
    let path: String
    let sys: any SystemCalls
    private var record: RunnerRecord?

    init(system: RDRSystem) {
        path = system.path + "/.session.runner.json"
        sys = system.sys
    }

    func begin(_ request: String) {
        record = RunnerRecord(pid: getpid(), request: request, actionGroup: nil)
        write()
    }

    /// The action's process group, or nil when it ended.
    func action(_ group: Int32?) {
        guard record != nil else { return }
        record?.actionGroup = group
        write()
    }

    func end() {
        record = nil
        _ = sys.unlink(path)
    }

    private func write() {
        guard let record, let data = try? JSONEncoder().encode(record) else { return }
        // Best effort: without the record `abort --force` still stops the lock holder itself.
        try? Directory.writeAtomically(Array(data), to: path, sys: sys)
    }

    static func read(_ path: String, sys: any SystemCalls) -> RunnerRecord? {
        guard let bytes = try? FileDescriptor.readFile(path, limit: 64 << 10, sys: sys) else { return nil }
        return try? JSONDecoder().decode(RunnerRecord.self, from: Data(bytes))
    }
}
