import Foundation
import XCTest

/// Self-rollback: a request killed at any step boundary is completed by the next `rdr` command
/// by the auto-recovery policy (abort before Commit, retry from Commit on), which says so.
final class SelfRollbackTests: XCTestCase {
    /// A fresh system driven to just before `request` (writes on both sides once split);
    /// returns the bytes each disk must end with after an abort and after a commit.
    func prepare(_ s: Scratch, before request: String, config: String? = nil) throws -> (abort: [Data], commit: [Data])
    {
        let sys = ["--system", s.system]
        try rdr(["init"] + sessionDisks + sys)
        if request == "split" { return ([Data(count: 4 << 20), Data(count: 4 << 20)], []) }
        let dataBytes = try splitWithWrites(s, config: config)
        let bootUpgrade = data(s.image("boot", 11))
        if request != "merge" { try rdr(["merge"] + sys) }
        return ([Data(count: 4 << 20), dataBytes], [bootUpgrade, dataBytes])
    }

    func testKilledRequestsRollThemselvesBack() throws {
        for request in ["split", "merge", "commit", "abort"] {
            var kills = 0
            for k in 1..<60 {
                let s = try Scratch()
                let sys = ["--system", s.system]
                let expected = try prepare(s, before: request)
                let r = try RDRProcess.run([request] + sys, environment: ["RDR_AU_CRASH_POINT": "\(k)"])
                if r.status == 0 { break }
                kills += 1
                let st = try session(s.system)
                XCTAssertEqual(st["operationalState"] as? String, "Broken", "\(request) k=\(k)")
                XCTAssertEqual(st["interrupted"] as? Bool, true)
                let policy = request == "commit" ? "retry" : "abort"
                XCTAssertEqual(st["autoRecover"] as? String, policy)
                // The next command completes the interrupted request first, and says so.
                let next = try rdr(["finish"] + sys)
                XCTAssertTrue(
                    next.stdout.contains("Recovered (autoRecover: \(policy))"), "\(request) k=\(k): \(next.stdout)")
                try waitForResyncs(s.system)
                let want = request == "commit" ? expected.commit : expected.abort
                for (i, d) in ["boot", "data"].enumerated() {
                    for e in [10, 11] {
                        XCTAssertTrue(data(s.image(d, e)) == want[i], "\(request) killed at \(k): \(d) member \(e)")
                    }
                }
            }
            XCTAssertGreaterThan(kills, 3, request)
        }
    }

    func testPolicyComesFromTheConfigurationAndTheCommandLine() throws {
        let s = try Scratch()
        let sys = ["--system", s.system]
        _ = try prepare(s, before: "split")
        let config = s.config("r.Config", #"{"autoRecover": "retry"}"#)
        let killed = try RDRProcess.run(["split", "--config", config] + sys, environment: ["RDR_AU_CRASH_POINT": "9"])
        XCTAssertNotEqual(killed.status, 0)
        XCTAssertEqual(try session(s.system)["autoRecover"] as? String, "retry")
        // "none" on the command line: the interrupted request waits for a person.
        let wait = try rdr(["merge", "--auto-recover", "none"] + sys, expect: 1)
        XCTAssertTrue(
            wait.stderr.contains("interrupted") && wait.stderr.contains("'rdr retry'")
                && wait.stderr.contains("'rdr abort'"), wait.stderr)
        // The configuration's policy: retried, then the merge asked for runs.
        let merged = try rdr(["merge"] + sys)
        XCTAssertTrue(merged.stdout.contains("Recovered (autoRecover: retry)"), merged.stdout)
        XCTAssertTrue(
            merged.stdout.contains("r.Config | Fault Tolerant | Merge | Ready | Partner: OS Up"), merged.stdout)
        // The command line overrides the configuration.
        let again = try RDRProcess.run(["commit"] + sys, environment: ["RDR_AU_CRASH_POINT": "2"])
        XCTAssertNotEqual(again.status, 0)
        try rdr(["finish", "--auto-recover", "retry"] + sys)
        try refused(
            ["merge", "--auto-recover", "sometimes"] + sys, s, status: 64,
            mentions: "--auto-recover must be abort, retry or none")
        try waitForResyncs(s.system)
    }
}
