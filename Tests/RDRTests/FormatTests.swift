import CRDRSys
import XCTest

@testable import RDR

final class FormatTests: XCTestCase {
    func testCRC32CKnownVector() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        // The table path (CPUs without SSE4.2) on its own: the same published values.
        XCTAssertEqual(
            Array("123456789".utf8).withUnsafeBytes { rdr_crc32c_table(0, $0.baseAddress, $0.count) }, 0xE306_9283)
        XCTAssertEqual(
            [UInt8](repeating: 0, count: 32).withUnsafeBytes { rdr_crc32c_table(0, $0.baseAddress, $0.count) },
            0x8A91_36AA)
    }

    /// The instruction path and the table path agree at every length and alignment a page or
    /// slot can have, and a checksum continued from a seed equals the one of the whole.
    func testCRC32CPathsAgree() {
        var g = SystemRandomNumberGenerator()
        let bytes = (0..<8200).map { _ in UInt8.random(in: 0...255, using: &g) }
        bytes.withUnsafeBytes { all in
            for (start, count) in [(0, 0), (0, 1), (3, 7), (1, 8), (5, 9), (0, 4092), (4, 4064), (7, 4096), (13, 8187)]
            {
                let part = UnsafeRawBufferPointer(rebasing: all[start..<(start + count)])
                let table = rdr_crc32c_table(0, part.baseAddress, part.count)
                XCTAssertEqual(CRC32C.checksum(part), table, "\(count) bytes at \(start)")
                let half = count / 2
                let head = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: part[..<half]))
                XCTAssertEqual(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: part[half...]), seed: head), table)
            }
        }
    }

    func testByteSizes() throws {
        XCTAssertEqual(try ByteSize.parse("64K"), 65536)
        XCTAssertEqual(try ByteSize.parse("1G"), 1 << 30)
        XCTAssertEqual(try ByteSize.parse("1t"), 1 << 40)
        XCTAssertEqual(try ByteSize.parse("512"), 512)
        XCTAssertEqual(try ByteSize.parse("4MiB"), 4 << 20)
        // The "1 to 1P" of every range in --help can be typed.
        XCTAssertEqual(try ByteSize.parse("1P"), 1 << 50)
        XCTAssertEqual(try ByteSize.parse("2PiB"), 2 << 50)
        for bad in ["", "K", "1.5G", "-1", "12Q", "99999999999999999999T", "8192P", "1PB"] {
            XCTAssertThrowsError(try ByteSize.parse(bad), bad)
        }
        XCTAssertEqual(ByteSize.format(1536 << 20), "1.5 GiB")
        XCTAssertEqual(ByteSize.compact(1 << 20), "1M")
    }

    func testDiskSpecValidation() {
        XCTAssertNoThrow(try DiskSpec.parse("boot:1G:mandatory", regionSize: 65536))
        XCTAssertThrowsRDR(.invalidArgument, containing: "multiple of 512") {
            _ = try DiskSpec.parse("x:1000:data", regionSize: 65536)
        }
        XCTAssertThrowsRDR(.invalidArgument, containing: "role") {
            _ = try DiskSpec.parse("x:1G:swap", regionSize: 65536)
        }
        XCTAssertThrowsRDR(.invalidArgument, containing: "power of two") { try DiskSpec.validateRegionSize(96 << 10) }
        XCTAssertThrowsRDR(.invalidArgument, containing: "power of two") { try DiskSpec.validateRegionSize(2048) }
        XCTAssertThrowsRDR(.invalidArgument, containing: "disk name") {
            _ = try DiskSpec.parse("a/b:1G:data", regionSize: 65536)
        }
    }

    func testHeaderRoundTripAndCorruptionDetected() throws {
        let record = MirrorRecord(
            events: 7, mode: .resyncing, primary: .eleven, baseGeneration: 3, generations: [4, 5],
            resyncSource: .ten, planBytes: 12345, resyncStartedMillis: 99, modeBeforeResync: .merged)
        let h = MemberHeader(
            mirrorID: MirrorID.random(), diskName: "boot", enclosure: .eleven, size: 1 << 30, regionSize: 65536,
            record: record)
        let bytes = try h.encode()
        XCTAssertEqual(try MemberHeader.decode(bytes), h)
        for i in stride(from: 0, to: 200, by: 3) {
            var flipped = bytes
            flipped[i] ^= 0x40
            XCTAssertThrowsError(try MemberHeader.decode(flipped), "flip at \(i) not detected")
        }
        XCTAssertThrowsError(try MemberHeader.decode([UInt8](repeating: 0, count: 4096))) {
            XCTAssertEqual($0 as? MemberHeader.DecodeError, .blank)
        }
    }

    func testBitmapRuns() {
        var b = DirtyBitmap(regionCount: 200)
        for r in [0, 1, 2, 63, 64, 65, 130, 199] { b.set(r) }
        XCTAssertEqual(b.runs, [0..<3, 63..<66, 130..<131, 199..<200])
        XCTAssertEqual(b.count, 8)
        b.setAll()
        XCTAssertEqual(b.count, 200)
        XCTAssertEqual(b.runs, [0..<200])
    }
}
