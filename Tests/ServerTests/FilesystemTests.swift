import Foundation
import Glibc
import XCTest

@testable import RDR

/// A real filesystem on the Upgrade Side: mkfs.ext4 on boot@upgrade through nbdfuse and a loop
/// device, mount, write files, unmount; e2fsck finds it clean on the Upgrade member, the files
/// are there, and the Production member was never written.
final class FilesystemTests: XCTestCase {
    func testExt4OnTheUpgradeSideThroughNbdfuseAndALoopDevice() throws {
        try Tools.require("nbdfuse", "fusermount3", "losetup", "mkfs.ext4", "e2fsck", "mount", "umount")
        guard getuid() == 0 else { throw Tools.skip("needs root (loop devices and mount)") }
        guard access("/dev/fuse", R_OK | W_OK) == 0, access("/dev/loop-control", R_OK) == 0 else {
            throw Tools.skip("no /dev/fuse or /dev/loop-control here")
        }
        let s = try ServedSystem(disks: [DiskSpec(name: "boot", size: 64 << 20, role: .mandatory, regionSize: 64 << 10)]
        )
        try s.disk("boot").split()
        let production = s.member("boot", .ten)
        let fuse = s.path + "/fuse"
        let mnt = s.path + "/mnt"
        for dir in [fuse, mnt] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        let payload = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        try FuseLoop.with(fuse: fuse, uri: s.uri("boot@upgrade")) { loop in
            try FuseLoop.run("mkfs.ext4", ["-q", loop])
            try FuseLoop.run("mount", [loop, mnt])
            var unmounted = false
            defer { if !unmounted { _ = try? Tools.run("umount", [mnt]) } }
            try Data("upgraded\n".utf8).write(to: URL(fileURLWithPath: mnt + "/release.txt"))
            try Data(payload).write(to: URL(fileURLWithPath: mnt + "/payload.bin"))
            try FuseLoop.run("umount", [mnt])
            unmounted = true
        }
        let fsck = try Tools.run("e2fsck", ["-fn", s.image("boot", .eleven)])
        XCTAssertEqual(fsck.status, 0, fsck.output)
        XCTAssertTrue(s.member("boot", .ten) == production, "the Production member was written")
        // The files, read from the Upgrade member itself.
        try FuseLoop.run("mount", ["-o", "loop,ro", s.image("boot", .eleven), mnt])
        defer { _ = try? Tools.run("umount", [mnt]) }
        XCTAssertEqual(FileManager.default.contents(atPath: mnt + "/release.txt"), Data("upgraded\n".utf8))
        XCTAssertEqual(FileManager.default.contents(atPath: mnt + "/payload.bin"), Data(payload))
    }
}
