import Foundation
import Glibc
import XCTest

/// `rdr serve` as a child process: started on a system made by `rdr init`, ready once its
/// socket answers, stopped with a signal (SIGTERM for a clean stop, SIGKILL for a crash).
final class ServeProcess {
    let system: String
    let socket: String
    let process: Process
    private let out: Pipe, err: Pipe

    /// `rdr init` of a fresh system in `dir` with the given `--disk` specs.
    static func initSystem(_ dir: String, disks: [String]) throws {
        let r = try Tools.run(Tools.rdr, ["init", "--system", dir] + disks.flatMap { ["--disk", $0] })
        guard r.status == 0 else { throw NBDTestClient.Failure(description: "rdr init: \(r.output)") }
    }

    init(system: String, arguments: [String] = []) throws {
        self.system = system
        socket = system + "/nbd.sock"
        (process, out, err) = try Tools.start(Tools.rdr, ["serve", "--system", system] + arguments)
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: socket) || (try? NBDTestClient(socket: socket)) == nil {
            guard process.isRunning, Date() < deadline else {
                throw NBDTestClient.Failure(description: "rdr serve did not start: \(finish().output)")
            }
            usleep(20_000)
        }
    }

    var pid: Int32 { process.processIdentifier }

    func uri(_ export: String) -> String { "nbd+unix:///\(export)?socket=\(socket)" }

    /// Sends `signal` and returns the exit status and output once the process has ended.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM) -> Tools.Result {
        if process.isRunning { kill(pid, signal) }
        return finish()
    }

    private func finish() -> Tools.Result { Tools.finish(process, out, err) }
}
