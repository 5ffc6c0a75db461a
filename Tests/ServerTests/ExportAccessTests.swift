import Foundation
import XCTest

@testable import RDR
@testable import RDRServer

/// qemu-io pattern writes and reads (`write -P`, `read -P`, `-f` FUA, `flush`, zeroes with and
/// without NO_HOLE, `discard`) on every export of both disks in every mode, checked against
/// the member files and against an access table written here from the README's mirror
/// semantics (not from the engine's routing).
final class ExportAccessTests: XCTestCase {
    /// Which member a side reads and which members its writes reach; nil: no access.
    struct Access: Equatable {
        let read: Enclosure
        let writes: [Enclosure]
    }

    static let suffixes = ["", "@production", "@upgrade", "@10", "@11"]

    /// The README's table, primary enclosure 10 (the Production Side).
    static func expected(_ mode: MirrorMode, data: Bool, suffix: String) -> Access? {
        let upgrade = suffix == "@upgrade" || suffix == "@11"
        switch mode {
        case .duplex: return Access(read: upgrade ? .eleven : .ten, writes: [.ten, .eleven])
        case .resyncing: return Access(read: .ten, writes: [.ten, .eleven])  // from 10: reads from the source
        case .split:
            if data { return upgrade ? nil : Access(read: .ten, writes: [.ten]) }
            return upgrade ? Access(read: .eleven, writes: [.eleven]) : Access(read: .ten, writes: [.ten])
        case .merged:
            // The Production Side is stopped; the Upgrade Side runs system disks on its own
            // member and data disks on the Production member.
            if !upgrade { return nil }
            return data ? Access(read: .ten, writes: [.ten]) : Access(read: .eleven, writes: [.eleven])
        }
    }

    func testPatternIOOnEveryExportInEveryMode() throws {
        try Tools.require("qemu-io")
        for mode in [MirrorMode.duplex, .split, .merged, .resyncing] {
            let s = try ServedSystem()
            try s.enter(mode)
            var models: [String: [Enclosure: MemberModel]] = [:]
            for disk in ["boot", "data"] {
                models[disk] = [
                    .ten: MemberModel(size: Int(ServedSystem.diskSize)),
                    .eleven: MemberModel(size: Int(ServedSystem.diskSize)),
                ]
            }
            for (i, suffix) in Self.suffixes.enumerated() {
                for (d, disk) in ["boot", "data"].enumerated() {
                    let area = (d * Self.suffixes.count + i) * (256 << 10)
                    let value = UInt8(0x10 + d * 0x40 + i * 4)
                    let label = "\(mode) \(disk)\(suffix)"
                    let access = Self.expected(mode, data: disk == "data", suffix: suffix)
                    let r = try qemuIO(s.uri(disk + suffix), area: area, value: value)
                    guard let access else {
                        XCTAssertNotEqual(r.status, 0, "\(label): qemu-io worked on an export without access")
                        XCTAssertTrue(
                            r.output.contains("no access") || r.output.contains("stopped"), "\(label): \(r.output)")
                        continue
                    }
                    XCTAssertEqual(r.status, 0, "\(label): \(r.output)")
                    XCTAssertFalse(r.output.contains("Pattern verification failed"), "\(label): \(r.output)")
                    for e in access.writes { apply(&models[disk]![e]!, area: area, value: value) }
                }
            }
            for disk in ["boot", "data"] {
                for e in Enclosure.allCases {
                    XCTAssertTrue(
                        s.member(disk, e) == models[disk]![e]!.bytes,
                        "\(mode): member \(e) of \(disk) differs from the model")
                }
            }
        }
    }

    /// What the qemu-io script leaves in a member it writes: a pattern, a FUA block, zeroes.
    private func apply(_ m: inout MemberModel, area: Int, value: UInt8) {
        m.fill(area, 65536, value)
        m.fill(area + 65536, 4096, value &+ 1)
        m.fill(area + 69632, 4096, value &+ 2)  // overwritten below by zeroes
        m.fill(area + 69632, 4096, 0)
        m.fill(area + 131072, 131072, 0)
    }

    private func qemuIO(_ uri: String, area: Int, value: UInt8) throws -> Tools.Result {
        let v = "0x" + String(value, radix: 16)
        let w = "0x" + String(value &+ 1, radix: 16)
        let x = "0x" + String(value &+ 2, radix: 16)
        let script = [
            "write -P \(v) \(area) 65536",
            "read -P \(v) \(area) 65536",
            "write -f -P \(w) \(area + 65536) 4096",
            "write -P \(x) \(area + 69632) 4096",
            "write -z \(area + 69632) 4096",
            "write -P \(x) \(area + 131072) 65536",
            "write -z -u \(area + 131072) 65536",
            "write -P \(x) \(area + 196608) 65536",
            "discard \(area + 196608) 65536",
            "flush",
            "read -P 0 \(area + 131072) 131072",
            "read -P \(w) \(area + 65536) 4096",
        ]
        return try Tools.run("qemu-io", ["-f", "raw", "--discard=unmap"] + script.flatMap { ["-c", $0] } + [uri])
    }
}
