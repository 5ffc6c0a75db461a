import Foundation
import XCTest

@testable import RDR
@testable import RDRServer

/// Real clients against the server: qemu-img (convert both ways, compare, map), nbdinfo
/// (--list, --can, --map, the dirty bitmap), nbdcopy with 4 connections, fio with verify. The
/// Upgrade Side of a split system disk is written; the Production member must stay untouched.
final class ToolInteropTests: XCTestCase {
    let mib = 1 << 20

    /// A split system with 64 KiB at 1 MiB and 128 KiB at 5 MiB written on boot@upgrade.
    private func splitWithUpgradeWrites() throws -> ServedSystem {
        let s = try ServedSystem()
        try s.enter(.split)
        let boot = try s.disk("boot")
        try boot.write(side: .side(.upgrade), offset: Int64(mib), bytes: [UInt8](repeating: 0x5A, count: 65536))
        try boot.write(side: .side(.upgrade), offset: Int64(5 * mib), bytes: [UInt8](repeating: 0xA5, count: 131072))
        return s
    }

    /// A raw file with data in two places and holes elsewhere.
    private func sourceImage(_ s: ServedSystem) throws -> String {
        let path = s.path + "/source.raw"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.truncate(atOffset: UInt64(ServedSystem.diskSize))
        try h.seek(toOffset: UInt64(3 * mib))
        h.write(Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }))
        try h.seek(toOffset: UInt64(11 * mib + 4096))
        h.write(Data(repeating: 0xEE, count: 8192))
        try h.close()
        return path
    }

    func testQemuImgConvertsOutToQcow2AndComparesWithTheMember() throws {
        try Tools.require("qemu-img")
        let s = try splitWithUpgradeWrites()
        let out = s.path + "/out.qcow2"
        let convert = try Tools.run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", s.uri("boot@upgrade"), out])
        XCTAssertEqual(convert.status, 0, convert.output)
        XCTAssertEqual(
            try Tools.run("qemu-img", ["compare", "-f", "qcow2", "-F", "raw", out, s.image("boot", .eleven)]).status, 0)
        let other = try Tools.run("qemu-img", ["compare", "-f", "qcow2", "-F", "raw", out, s.image("boot", .ten)])
        XCTAssertEqual(other.status, 1, "the Production member must differ: \(other.output)")
    }

    func testQemuImgConvertsIntoAnExport() throws {
        try Tools.require("qemu-img")
        let s = try ServedSystem()
        try s.enter(.split)
        let source = try sourceImage(s)
        let before10 = s.member("boot", .ten)
        let r = try Tools.run("qemu-img", ["convert", "-n", "-f", "raw", "-O", "raw", source, s.uri("boot@upgrade")])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(
            try Tools.run("qemu-img", ["compare", "-f", "raw", "-F", "raw", source, s.image("boot", .eleven)]).status, 0
        )
        XCTAssertTrue(s.member("boot", .ten) == before10, "the Production member changed")
    }

    /// qemu-img map reads base:allocation: its data extents are where the member has data.
    func testQemuImgMapShowsTheMembersAllocation() throws {
        try Tools.require("qemu-img")
        let s = try splitWithUpgradeWrites()
        let r = try Tools.run("qemu-img", ["map", "--output=json", "-f", "raw", s.uri("boot@upgrade")])
        XCTAssertEqual(r.status, 0, r.output)
        let entries = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        let data = entries.filter { $0["data"] as? Bool == true }.map {
            ($0["start"] as? Int ?? -1)..<(($0["start"] as? Int ?? -1) + ($0["length"] as? Int ?? 0))
        }
        XCTAssertEqual(data, [mib..<mib + 65536, 5 * mib..<5 * mib + 131072], r.stdout)
        let production = try Tools.run("qemu-img", ["map", "--output=json", "-f", "raw", s.uri("boot")])
        XCTAssertFalse(production.stdout.contains("\"data\": true"), production.stdout)
    }

    func testNbdinfoListsCanAndMaps() throws {
        try Tools.require("nbdinfo")
        let s = try splitWithUpgradeWrites()
        let list = try Tools.run("nbdinfo", ["--list", "--json", s.uri("")])
        XCTAssertEqual(list.status, 0, list.output)
        let exports =
            (try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])?["exports"]
            as? [[String: Any]] ?? []
        // While split, the Upgrade Side of the data disk is not listed: it cannot be used.
        XCTAssertEqual(
            exports.compactMap { $0["export-name"] as? String },
            ["boot", "boot@production", "boot@upgrade", "boot@10", "boot@11", "data", "data@production", "data@10"])
        for feature in ["flush", "fua", "trim", "zero", "fast-zero", "multi-conn", "df", "cache", "structured-reply"] {
            XCTAssertEqual(
                try Tools.run("nbdinfo", ["--can", feature, s.uri("boot@upgrade")]).status, 0, "can \(feature)")
        }
        XCTAssertEqual(try Tools.run("nbdinfo", ["--is", "readonly", s.uri("boot@upgrade")]).status, 2)
        let map = try Tools.run("nbdinfo", ["--map", s.uri("boot@upgrade")])
        XCTAssertEqual(dataRanges(map.stdout, flag: 0), [mib..<mib + 65536, 5 * mib..<5 * mib + 131072], map.stdout)
        let dirty = try Tools.run("nbdinfo", ["--map=qemu:dirty-bitmap:upgrade", s.uri("boot@upgrade")])
        XCTAssertEqual(
            dataRanges(dirty.stdout, flag: 1), [mib..<mib + 65536, 5 * mib..<5 * mib + 131072], dirty.stdout)
        let production = try Tools.run("nbdinfo", ["--map=qemu:dirty-bitmap:production", s.uri("boot@upgrade")])
        XCTAssertEqual(dataRanges(production.stdout, flag: 1), [], production.stdout)
    }

    func testNbdinfoSeesAReadOnlyServer() throws {
        try Tools.require("nbdinfo")
        var configuration = ServerConfiguration()
        configuration.readOnly = true
        let s = try ServedSystem(configuration: configuration)
        XCTAssertEqual(try Tools.run("nbdinfo", ["--is", "readonly", s.uri("boot")]).status, 0)
        XCTAssertEqual(try Tools.run("nbdinfo", ["--can", "trim", s.uri("boot")]).status, 2)
    }

    func testNbdcopyWithFourConnectionsAndFlush() throws {
        try Tools.require("nbdcopy")
        let s = try ServedSystem()
        try s.enter(.split)
        let source = try sourceImage(s)
        let before10 = s.member("boot", .ten)
        let copy = try Tools.run("nbdcopy", ["--connections=4", "--flush", source, s.uri("boot@upgrade")])
        XCTAssertEqual(copy.status, 0, copy.output)
        XCTAssertTrue(s.member("boot", .eleven) == Array(FileManager.default.contents(atPath: source) ?? Data()))
        XCTAssertTrue(s.member("boot", .ten) == before10, "the Production member changed")
        let back = s.path + "/back.raw"
        XCTAssertEqual(try Tools.run("nbdcopy", ["--connections=4", s.uri("boot@11"), back]).status, 0)
        XCTAssertTrue(Array(FileManager.default.contents(atPath: back) ?? Data()) == s.member("boot", .eleven))
    }

    func testFioVerifiesWhatItWroteThroughTheNbdEngine() throws {
        try Tools.require("fio")
        guard try Tools.run("fio", ["--enghelp=nbd"]).status == 0 else { throw Tools.skip("fio has no nbd engine") }
        let s = try ServedSystem()
        try s.enter(.split)
        let before10 = s.member("boot", .ten)
        let r = try Tools.run(
            "fio",
            [
                "--name=nbdjob", "--ioengine=nbd", "--uri=\(s.uri("boot@upgrade"))", "--rw=randwrite",
                "--bs=4k", "--size=8m", "--iodepth=16", "--verify=crc32c", "--do_verify=1",
                "--verify_fatal=1", "--fsync=64", "--verify_state_save=0",
            ])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertFalse(r.output.contains("verify failed") || r.output.contains("bad magic"), r.output)
        XCTAssertTrue(s.member("boot", .ten) == before10, "the Production member changed")
        XCTAssertGreaterThan(try s.disk("boot").bitmap(.eleven).count, 100)
    }

    /// `offset length type …` lines of nbdinfo --map whose type is `flag`, merged.
    private func dataRanges(_ map: String, flag: Int) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        for line in map.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 3, let start = Int(f[0]), let length = Int(f[1]), Int(f[2]) == flag else { continue }
            if let last = ranges.last, last.upperBound == start {
                ranges[ranges.count - 1] = last.lowerBound..<start + length
            } else {
                ranges.append(start..<start + length)
            }
        }
        return ranges
    }
}
