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
        try withFuseLoop(fuse: fuse, uri: s.uri("boot@upgrade")) { loop in
            try run("mkfs.ext4", ["-q", loop])
            try run("mount", [loop, mnt])
            var unmounted = false
            defer { if !unmounted { _ = try? Tools.run("umount", [mnt]) } }
            try Data("upgraded\n".utf8).write(to: URL(fileURLWithPath: mnt + "/release.txt"))
            try Data(payload).write(to: URL(fileURLWithPath: mnt + "/payload.bin"))
            try run("umount", [mnt])
            unmounted = true
        }
        let fsck = try Tools.run("e2fsck", ["-fn", s.image("boot", .eleven)])
        XCTAssertEqual(fsck.status, 0, fsck.output)
        XCTAssertTrue(s.member("boot", .ten) == production, "the Production member was written")
        // The files, read from the Upgrade member itself.
        try run("mount", ["-o", "loop,ro", s.image("boot", .eleven), mnt])
        defer { _ = try? Tools.run("umount", [mnt]) }
        XCTAssertEqual(FileManager.default.contents(atPath: mnt + "/release.txt"), Data("upgraded\n".utf8))
        XCTAssertEqual(FileManager.default.contents(atPath: mnt + "/payload.bin"), Data(payload))
    }

    /// nbdfuse exposes the export as `fuse/disk`; a loop device over it is handed to `body`.
    private func withFuseLoop(fuse: String, uri: String, _ body: (String) throws -> Void) throws {
        let pidFile = fuse + ".pid"
        let (nbdfuse, out, err) = try Tools.start("nbdfuse", ["-P", pidFile, fuse + "/disk", uri])
        defer {
            _ = try? Tools.run("fusermount3", ["-u", fuse])
            _ = Tools.finish(nbdfuse, out, err)
        }
        let deadline = Date().addingTimeInterval(20)
        while (FileManager.default.contents(atPath: pidFile)?.isEmpty ?? true) && nbdfuse.isRunning && Date() < deadline
        { usleep(20_000) }
        guard nbdfuse.isRunning || FileManager.default.fileExists(atPath: fuse + "/disk") else {
            throw Tools.skip("nbdfuse could not mount (FUSE not usable here)")
        }
        let attach = try Tools.run("losetup", ["-f", "--show", fuse + "/disk"])
        guard attach.status == 0 else { throw Tools.skip("no free loop device: \(attach.output)") }
        let loop = attach.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? Tools.run("losetup", ["-d", loop]) }
        try body(loop)
    }

    private func run(_ tool: String, _ arguments: [String]) throws {
        let r = try Tools.run(tool, arguments)
        guard r.status == 0 else {
            throw NBDTestClient.Failure(description: "\(tool) \(arguments.joined(separator: " ")): \(r.output)")
        }
    }
}
