import Foundation
import Glibc
import RDRTestSupport
import XCTest

@testable import RDR

/// The engine side of `init --disk NAME:ROLE:from=FILE`: which files are taken as raw, the sparse
/// copy through the OS seam (the path every filesystem without reflinks takes), and a failure at
/// any copy call leaving nothing behind.
final class ImageImportTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "rdr-import-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testContainerMagicsAreRecognisedAndRawSectorsAreNot() {
        func header(_ bytes: [UInt8], at offset: Int = 0) -> [UInt8] {
            var h = [UInt8](repeating: 0, count: 512)
            h.replaceSubrange(offset..<offset + bytes.count, with: bytes)
            return h
        }
        let cases: [([UInt8], String)] = [
            (header([0x51, 0x46, 0x49, 0xFB, 0, 0, 0, 3]), "qcow2"), (header(Array("QED".utf8) + [0]), "QED"),
            (header(Array("KDMV".utf8)), "VMDK"), (header(Array("COWD".utf8)), "VMDK (COWD)"),
            (header(Array("# Disk DescriptorFile\nversion=1".utf8)), "VMDK descriptor"),
            (header(Array("vhdxfile".utf8)), "VHDX"), (header(Array("conectix".utf8)), "VHD"),
            (header(Array("WithoutFreeSpace".utf8)), "Parallels"),
            (
                header(
                    Array("<<< Oracle VM VirtualBox Disk Image >>>\n".utf8) + [UInt8](repeating: 0, count: 24) + [
                        0x7F, 0x10, 0xDA, 0xBE,
                    ]), "VDI"
            ),
        ]
        for (bytes, format) in cases { XCTAssertEqual(ImageSource.formatOfHeader(bytes), format) }
        // Raw sectors: an MBR boot sector, zeros, an ext4 superblock area, near-misses of magics.
        var mbr = [UInt8](repeating: 0, count: 512)
        mbr[510] = 0x55
        mbr[511] = 0xAA
        for raw in [
            mbr, [UInt8](repeating: 0, count: 512), header([0x51, 0x46, 0x49, 0xFA]), header(Array("QED!".utf8)),
            header(Array("vhdxfil".utf8)), header([0x7F, 0x10, 0xDA, 0xBE], at: 60), [],
        ] {
            XCTAssertNil(ImageSource.formatOfHeader(raw))
        }
    }

    func testTheSparseCopyThroughTheSeamGivesTheFilesBytesAndKeepsItsHoles() throws {
        let source = try makeSource(
            size: 24 << 20, data: [(0, 1 << 20), (5 << 20, 65536 + 4096), ((24 << 20) - 512, 512)])
        // The fault-injecting seam cannot reflink, so this is the copy every plain filesystem gets.
        let sys = FaultInjectingSystemCalls()
        let spec = try DiskSpec.parseArgument(
            "boot:system:from=\(source)", regionSize: 64 << 10, systemPath: dir + "/sys", sys: sys)
        XCTAssertEqual(spec.size, 24 << 20)
        let system = try RDRSystem.create(at: dir + "/sys", disks: [spec], primary: .ten, force: false, sys: sys)
        XCTAssertGreaterThan(sys.callCounts[.copyFileRange] ?? 0, 0, "the copy did not go through the seam")
        for e in Enclosure.allCases {
            let image = system.path + "/boot-\(e).img"
            XCTAssertEqual(contents(image), contents(source), "member \(e)")
            XCTAssertLessThanOrEqual(allocated(image), allocated(source) + 65536, "member \(e) lost holes")
            XCTAssertTrue(isHole(image, offset: 2 << 20, length: 2 << 20), "member \(e) filled a hole")
        }
        XCTAssertTrue(try system.disk("boot").verify().mismatched.isEmpty)
        XCTAssertEqual(try system.status().disks.first?.status, .inSync)
    }

    func testShortInKernelCopiesAreFinished() throws {
        let source = try makeSource(size: 8 << 20, data: [(1 << 20, 3 << 20)])
        let sys = FaultInjectingSystemCalls(failing: .copyFileRange, call: 1, with: .short)
        let spec = DiskSpec(name: "boot", size: 8 << 20, role: .system, source: source)
        let system = try RDRSystem.create(at: dir + "/sys", disks: [spec], primary: .ten, force: false, sys: sys)
        XCTAssertTrue(sys.fired)
        for e in Enclosure.allCases { XCTAssertEqual(contents(system.path + "/boot-\(e).img"), contents(source)) }
    }

    func testTheReadWriteFallbackCopiesExactlyTheRange() throws {
        let source = try makeSource(size: 4 << 20, data: [(0, 4 << 20)])
        let sys = LinuxSystemCalls()
        let input = try FileDescriptor.open(source, .readOnly, sys: sys)
        defer { input.close() }
        let output = try FileDescriptor.create(dir + "/out", sys: sys)
        defer { output.close() }
        try output.truncate(to: 4 << 20)
        var inKernel = false
        try ImageImport.copy(from: input, to: output, 1000, 3_000_123, inKernel: &inKernel)
        let copied = contents(dir + "/out")
        let original = contents(source)
        XCTAssertEqual(copied[1000..<3_000_123], original[1000..<3_000_123])
        XCTAssertTrue(copied[0..<1000].allSatisfy { $0 == 0 } && copied[3_000_123...].allSatisfy { $0 == 0 })
    }

    /// Every copy call of both members, failed in turn: the error names the cause and nothing
    /// create made is left (the directory it was given is as empty as before).
    func testAFailureAtAnyCopyCallLeavesNothingBehind() throws {
        let source = try makeSource(size: 16 << 20, data: [(0, 65536), (3 << 20, 1 << 20), (9 << 20, 4096)])
        let spec = DiskSpec(name: "boot", size: 16 << 20, role: .system, source: source)
        var n = 1
        while n < 100 {
            let sys = FaultInjectingSystemCalls(failing: .copyFileRange, call: n, with: .enospc)
            do {
                _ = try RDRSystem.create(at: dir, disks: [spec], primary: .ten, force: false, sys: sys)
                XCTAssertFalse(sys.fired, "create succeeded despite the fault at copy call \(n)")
                break
            } catch {
                XCTAssertTrue(sys.fired && error.message.contains("No space left on device"), "\(n): \(error)")
            }
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [], "fault at copy call \(n)")
            n += 1
        }
        // Three segments per member: every call of both members' copies failed once.
        XCTAssertGreaterThanOrEqual(n, 7)
    }

    func testASourceThatChangedSinceItWasCheckedIsRefused() throws {
        let source = try makeSource(size: 1 << 20, data: [(0, 4096)])
        let spec = DiskSpec(name: "boot", size: 2 << 20, role: .system, source: source)
        XCTAssertThrowsRDR(.corrupt, containing: "changed since init checked it") {
            _ = try RDRSystem.create(at: dir + "/sys", disks: [spec], primary: .ten, force: false)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/sys"))
    }

    func testAFileReachedThroughTheSystemDirectoryIsRefused() throws {
        let system = dir + "/sys"
        let source = try makeSource(size: 1 << 20, data: [])
        try FileManager.default.createDirectory(atPath: system, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: system + "/in.raw", withDestinationPath: source)
        XCTAssertThrowsRDR(.corrupt, containing: "is inside the system directory") {
            _ = try DiskSpec.parseArgument(
                "boot:system:from=\(system)/in.raw", regionSize: 64 << 10, systemPath: system)
        }
        XCTAssertThrowsRDR(.corrupt, containing: "is inside the system directory") {
            _ = try DiskSpec.parseArgument(
                "boot:system:from=\(dir)/sys/../sys/in.raw", regionSize: 64 << 10, systemPath: dir + "/./sys")
        }
        // A link out of the system names a file elsewhere: the spec records the file itself.
        try FileManager.default.createSymbolicLink(atPath: dir + "/out.raw", withDestinationPath: source)
        let spec = try DiskSpec.parseArgument(
            "boot:system:from=\(dir)/out.raw", regionSize: 64 << 10, systemPath: system)
        XCTAssertEqual(spec.source, ImageSource.realPath(source))
    }

    /// A sparse file with pattern data at each (offset, length).
    private func makeSource(size: Int64, data segments: [(Int64, Int)]) throws -> String {
        let path = NSTemporaryDirectory() + "rdr-import-src-" + UUID().uuidString
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        let fd = try FileDescriptor.create(path, sys: LinuxSystemCalls())
        defer { fd.close() }
        try fd.truncate(to: size)
        for (i, (offset, length)) in segments.enumerated() {
            try fd.write(pattern(length, seed: UInt64(i + 1), offset: offset), at: offset)
        }
        return path
    }
}
