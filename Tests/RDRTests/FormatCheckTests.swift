import Foundation
import XCTest

@testable import RDR

/// Paired checks of the on-disk format: what the reader refuses, the writer refuses to write
/// (an internal error, nothing written, no trap).
final class FormatCheckTests: XCTestCase {
    let sys = LinuxSystemCalls()

    func header(events: UInt64 = 1) -> MemberHeader {
        var record = MirrorRecord.fresh(generation: 5, primary: .ten)
        record.events = events
        return MemberHeader(
            mirrorID: Array(repeating: 7, count: 16), diskName: "d", enclosure: .ten, size: 100 * 4096,
            regionSize: 4096, record: record, image: MemberIdentity(inode: 9, birthNanos: 10))
    }

    func makeFile() throws -> (String, MetadataFile) {
        let path = NSTemporaryDirectory() + "rdr-check-" + UUID().uuidString
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        _ = try MetadataFile.create(path: path, header: header(), allDirty: false, replace: false, sys: sys)
        return (path, try MetadataFile.open(path: path, access: .readWrite, sys: sys).0)
    }

    /// Headers that break a rule: each is refused by `encode`, and where the rule is visible in
    /// the bytes, `decode` refuses the same header laid out without the check.
    func testHeaderEncodeRefusesWhatDecodeRefuses() throws {
        var longName = header()
        longName.diskName = String(repeating: "n", count: 256)
        var noSize = header()
        noSize.size = 0
        var resyncingWithoutSource = header()
        resyncingWithoutSource.record.mode = .resyncing
        var splitWithSource = header()
        splitWithSource.record.mode = .split
        splitWithSource.record.resyncSource = .eleven
        let cases = [
            (longName, "name length"), (noSize, "size"),
            (resyncingWithoutSource, "resync source for mode resyncing"),
            (splitWithSource, "resync source for mode split"),
        ]
        for (bad, field) in cases {
            XCTAssertThrowsRDR(.io, containing: "internal error: header of disk") { _ = try bad.encode() }
            XCTAssertThrowsError(try MemberHeader.decode(bad.layOut(version: 2)), field) {
                XCTAssertEqual($0 as? MemberHeader.DecodeError, .badField(field))
            }
        }
        var shortID = header()
        shortID.mirrorID = Array(repeating: 1, count: 15)
        XCTAssertThrowsRDR(.io, containing: "bad mirror id length") { _ = try shortID.encode() }
        var threeGenerations = header()
        threeGenerations.record.generations = [1, 2, 3]
        XCTAssertThrowsRDR(.io, containing: "bad generations") { _ = try threeGenerations.encode() }
        XCTAssertThrowsRDR(.io, containing: "unknown format 3") { _ = try header().encode(version: 3) }
        XCTAssertEqual(try MemberHeader.decode(try header().encode()), header(), "a sound header reads back as written")
        XCTAssertNil(try MemberHeader.decode(try header().encode(version: 1)).image, "format 1 keeps no identity")
    }

    /// A header write must be this file's and exactly one event newer; a refused one changes
    /// no byte of the file.
    func testAHeaderWriteCarriesExactlyOneMoreEvent() throws {
        let (path, file) = try makeFile()
        let before = contents(path)
        for events: UInt64 in [3, 1] {
            XCTAssertThrowsRDR(.io, containing: "from event 1 to \(events), not one more") {
                try file.writeHeader(self.header(events: events))
            }
        }
        var other = header(events: 2)
        other.enclosure = .eleven
        XCTAssertThrowsRDR(.io, containing: "another disk or member") { try file.writeHeader(other) }
        var bad = header(events: 2)
        bad.diskName = String(repeating: "n", count: 300)
        XCTAssertThrowsRDR(.io, containing: "internal error") { try file.writeHeader(bad) }
        XCTAssertEqual(contents(path), before, "nothing was written")
        try file.writeHeader(header(events: 2))
        try file.writeHeader(header(events: 3))
        XCTAssertEqual(try MetadataFile.open(path: path, access: .readOnly, sys: sys).1.record.events, 3)
    }

    /// No bit past `regionCount` is ever persisted (a reader masks it, so it would read back
    /// clear), and a bitmap of another size is refused; nothing is written either way.
    func testPersistRefusesBitsPastTheLastRegionAndOtherSizes() throws {
        let (path, file) = try makeFile()
        let before = contents(path)
        let pastTheEnd = DirtyBitmap(regionCount: 100, words: [0, 1 << 36])  // bit 100
        XCTAssertThrowsRDR(.io, containing: "bits past region 100") { try file.persist(pastTheEnd) }
        XCTAssertThrowsRDR(.io, containing: "a bitmap of 99 regions") { try file.persist(DirtyBitmap(regionCount: 99)) }
        XCTAssertThrowsRDR(.io, containing: "a bitmap of 100 regions") {
            try file.persist(DirtyBitmap(regionCount: 100, words: [1]))
        }
        XCTAssertEqual(contents(path), before, "nothing was written")
        var last = DirtyBitmap(regionCount: 100)
        last.set(99)
        XCTAssertEqual(try file.persist(last), 1)
        XCTAssertEqual(try MetadataFile.open(path: path, access: .readOnly, sys: sys).0.durable, last)
    }

    /// Every page a new file gets is one the reader accepts at sequence 0; one flipped byte
    /// anywhere in it makes the reader refuse it.
    func testPagesReadBackAsWrittenAndAFlipIsRefused() throws {
        let (_, file) = try makeFile()
        var bitmap = DirtyBitmap(regionCount: 100)
        bitmap.set(3)
        let pages = try file.encodeAllPages(bitmap)
        let page = UnsafeRawBufferPointer(start: pages.pointer, count: MetadataLayout.slotSize)
        XCTAssertEqual(MetadataFile.validPage(page, index: 0, tag: file.mirrorTag), 0)
        XCTAssertNil(MetadataFile.validPage(page, index: 1, tag: file.mirrorTag), "another page's index")
        XCTAssertNil(MetadataFile.validPage(page, index: 0, tag: file.mirrorTag ^ 1), "another disk's tag")
        for offset in stride(from: 0, to: MetadataLayout.slotSize, by: 61) {
            pages.pointer.storeBytes(of: page[offset] ^ 0x20, toByteOffset: offset, as: UInt8.self)
            XCTAssertNil(MetadataFile.validPage(page, index: 0, tag: file.mirrorTag), "flip at \(offset)")
            pages.pointer.storeBytes(of: page[offset] ^ 0x20, toByteOffset: offset, as: UInt8.self)
        }
    }

    /// The engine's transitions each add exactly one event to both members.
    func testEveryTransitionAddsOneEvent() throws {
        let t = try TempSystem()
        let d = try t.system.disk("boot")
        let start = d.record.events
        try d.split()
        XCTAssertEqual(d.record.events, start + 1)
        try d.write(side: .side(.upgrade), offset: 0, bytes: pattern(4096, seed: 1))
        try d.merge()
        XCTAssertEqual(d.record.events, start + 2)
        _ = try d.resync(from: .eleven)
        XCTAssertEqual(d.record.events, start + 4, "a resync begins and ends: two transitions")
        for e in Enclosure.allCases {
            let (_, header) = try MetadataFile.open(path: t.metadata("boot", e), access: .readOnly, sys: sys)
            XCTAssertEqual(header.record.events, start + 4)
        }
    }
}
