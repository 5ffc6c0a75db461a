import FoundationEssentials
import RDR

/// The `--json` outputs of `status`, `disk resync`, `disk verify` and `workload`, as Codable
/// types. Keys and values are those of the text these commands printed before; keys are sorted
/// (a dictionary's order is not stable otherwise) and a whole-number double prints without `.0`.
enum JSONOutput {
    static func text(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do { return String(decoding: try encoder.encode(value), as: UTF8.self) } catch {
            throw RDRError(.io, "cannot encode the JSON output: \(error)")
        }
    }

    /// The engine's status object with the upgrade session as its `session` member.
    struct Status: Encodable {
        let status: SystemStatus
        let session: JSONValue

        enum Key: String, CodingKey { case session }

        func encode(to encoder: any Encoder) throws {
            try status.encode(to: encoder)
            var members = encoder.container(keyedBy: Key.self)
            try members.encode(session, forKey: .session)
        }
    }

    struct Resync: Encodable {
        let disk: String
        let source: Enclosure
        let target: Enclosure
        let bytesPlanned: Int64
        let bytesDoneBefore: Int64
        let bytesCopied: Int64
        let bytesPunched: Int64
        let checkpoints: Int
        let seconds: Double
        let mibPerSecond: Double

        init(_ s: ResyncSummary) {
            (disk, source, target) = (s.disk, s.source, s.target)
            (bytesPlanned, bytesDoneBefore, bytesCopied, bytesPunched) = (
                s.bytesPlanned, s.bytesDoneBefore, s.bytesCopied, s.bytesPunched
            )
            (checkpoints, seconds, mibPerSecond) = (s.checkpoints, s.seconds, s.mibPerSecond)
        }
    }

    struct Verify: Encodable {
        struct Range: Encodable {
            let offset: Int64
            let length: Int64
        }

        let disk: String
        let identical: Bool
        let bytesCompared: Int64
        let mismatchedBytes: Int64
        let unexplainedRegions: Int
        let mismatched: [Range]
        let repaired: Bool
        let seconds: Double

        init(_ report: VerifyReport, name: String) {
            let ranges = report.mismatchedRanges
            (disk, identical, bytesCompared, mismatchedBytes) = (
                name, ranges.isEmpty, report.bytesCompared, report.mismatchedBytes
            )
            unexplainedRegions = report.unexplained.count
            mismatched = ranges.map { Range(offset: Int64($0.lowerBound), length: Int64($0.count)) }
            (repaired, seconds) = (report.repair != nil, report.seconds)
        }
    }

    struct Workload: Encodable {
        let bytesWritten: Int64
        let writes: Int
        let seconds: Double
        let mibPerSecond: Double

        init(_ s: RDR.Workload.Summary) {
            (bytesWritten, writes, seconds, mibPerSecond) = (s.bytesWritten, s.writes, s.seconds, s.mibPerSecond)
        }
    }
}
