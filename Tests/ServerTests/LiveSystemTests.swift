import Foundation
import Glibc
import XCTest

/// Issue 11 with real clients and forwarded commands: fio writes while a resync of the same
/// disk runs inside `rdr serve`; an ext4 filesystem on the Upgrade Side through an upgrade
/// session whose requests are forwarded to the server.
final class LiveSystemTests: XCTestCase {
    private func scratch() throws -> String {
        let dir = NSTemporaryDirectory() + "rdr-live-" + UUID().uuidString.prefix(8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    @discardableResult
    private func rdr(_ args: [String], expect status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line)
        throws -> Tools.Result
    {
        let r = try Tools.run(Tools.rdr, args)
        XCTAssertEqual(r.status, status, "rdr \(args.joined(separator: " ")): \(r.output)", file: file, line: line)
        return r
    }

    func testFioVerifiesWhileAResyncOfTheSameDiskRunsInsideTheServer() throws {
        try Tools.require("fio")
        guard try Tools.run("fio", ["--enghelp=nbd"]).status == 0 else { throw Tools.skip("fio has no nbd engine") }
        let dir = try scratch()
        let sys = ["--system", dir]
        try ServeProcess.initSystem(dir, disks: ["boot:128M:mandatory"])
        try rdr(["disk", "split"] + sys)
        try rdr(["write", "boot", "--side", "upgrade", "--offset", "0", "--pattern", "5", "--length", "96M"] + sys)
        let serve = try ServeProcess(system: dir)
        try rdr(["disk", "merge"] + sys)  // forwarded: runs inside the server
        // 96 MiB at 24 MiB/s: about 4 s of resync, a thread of the server.
        let started = try rdr(["disk", "resync", "boot", "--from", "11", "--background", "--max-rate", "24M"] + sys)
        XCTAssertTrue(started.stdout.contains("(pid \(serve.pid))"), started.stdout)
        XCTAssertTrue(
            try rdr(["status", "boot"] + sys).stdout.contains("Status: Resync "), "the resync runs while fio starts")
        let fio = try Tools.run(
            "fio",
            [
                "--name=live", "--ioengine=nbd", "--uri=\(serve.uri("boot@upgrade"))", "--rw=randwrite",
                "--bs=4k", "--size=16m", "--offset=8m", "--iodepth=16", "--verify=crc32c", "--do_verify=1",
                "--verify_fatal=1", "--fsync=64", "--verify_state_save=0",
            ])
        XCTAssertEqual(fio.status, 0, fio.output)
        XCTAssertFalse(fio.output.contains("verify failed") || fio.output.contains("bad magic"), fio.output)
        try rdr(["status", "--watch", "--interval", "0.1"] + sys)
        XCTAssertTrue(try rdr(["status", "boot"] + sys).stdout.contains("Status: None"))
        let verify = try rdr(["disk", "verify", "boot"] + sys)
        XCTAssertTrue(verify.stdout.hasPrefix("verify boot: members identical"), verify.stdout)
        XCTAssertEqual(serve.stop().status, 0)
        XCTAssertEqual(
            FileManager.default.contents(atPath: dir + "/boot-10.img"),
            FileManager.default.contents(atPath: dir + "/boot-11.img"))
    }

    func testExt4StaysMountedThroughMergeAndCommitForwardedToTheServer() throws {
        try session(ending: "commit")
    }

    func testExt4AfterAnAbortForwardedToTheServerIsTheOriginal() throws {
        try session(ending: "abort")
    }

    /// mkfs on the duplex disk, split, files written on the Upgrade Side through a mounted
    /// filesystem, then the session ended by `ending`, every request forwarded to the server.
    private func session(ending: String) throws {
        try Tools.require("nbdfuse", "fusermount3", "losetup", "mkfs.ext4", "e2fsck", "mount", "umount")
        guard getuid() == 0 else { throw Tools.skip("needs root (loop devices and mount)") }
        guard access("/dev/fuse", R_OK | W_OK) == 0, access("/dev/loop-control", R_OK) == 0 else {
            throw Tools.skip("no /dev/fuse or /dev/loop-control here")
        }
        let dir = try scratch()
        let sys = ["--system", dir]
        try ServeProcess.initSystem(dir, disks: ["boot:64M:mandatory"])
        let serve = try ServeProcess(system: dir)
        let fuse = dir + "/fuse"
        let mnt = dir + "/mnt"
        for d in [fuse, mnt] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        try FuseLoop.with(fuse: fuse, uri: serve.uri("boot")) { loop in try FuseLoop.run("mkfs.ext4", ["-q", loop]) }
        try rdr(["split"] + sys)
        let payload = Data((0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try FuseLoop.with(fuse: fuse, uri: serve.uri("boot@upgrade")) { loop in
            try FuseLoop.run("mount", [loop, mnt])
            var mounted = true
            defer { if mounted { _ = try? Tools.run("umount", [mnt]) } }
            try Data("upgraded\n".utf8).write(to: URL(fileURLWithPath: mnt + "/release.txt"))
            try payload.write(to: URL(fileURLWithPath: mnt + "/payload.bin"))
            if ending == "commit" {
                // Kept mounted: the Upgrade Side goes on running through merge and commit.
                try FuseLoop.run("sync", [])
                try rdr(["merge"] + sys)
                try rdr(["commit"] + sys)
                try Data("after commit\n".utf8).write(to: URL(fileURLWithPath: mnt + "/late.txt"))
            }
            try FuseLoop.run("umount", [mnt])
            mounted = false
        }
        if ending == "abort" { try rdr(["abort"] + sys) }
        try rdr(["finish"] + sys)
        try rdr(["status", "--watch", "--interval", "0.1"] + sys)
        XCTAssertTrue(try rdr(["disk", "verify", "boot"] + sys).stdout.hasPrefix("verify boot: members identical"))
        XCTAssertEqual(serve.stop().status, 0)
        for e in ["10", "11"] {
            let fsck = try Tools.run("e2fsck", ["-fn", dir + "/boot-\(e).img"])
            XCTAssertEqual(fsck.status, 0, "member \(e): \(fsck.output)")
        }
        try FuseLoop.run("mount", ["-o", "loop,ro", dir + "/boot-10.img", mnt])
        defer { _ = try? Tools.run("umount", [mnt]) }
        if ending == "commit" {
            XCTAssertEqual(FileManager.default.contents(atPath: mnt + "/release.txt"), Data("upgraded\n".utf8))
            XCTAssertEqual(FileManager.default.contents(atPath: mnt + "/payload.bin"), payload)
            XCTAssertEqual(FileManager.default.contents(atPath: mnt + "/late.txt"), Data("after commit\n".utf8))
        } else {
            XCTAssertFalse(FileManager.default.fileExists(atPath: mnt + "/release.txt"), "abort keeps the original")
            XCTAssertFalse(FileManager.default.fileExists(atPath: mnt + "/payload.bin"))
        }
    }
}

/// An export as a block device: nbdfuse's `fuse/disk` under a loop device.
enum FuseLoop {
    static func with(fuse: String, uri: String, _ body: (String) throws -> Void) throws {
        let pidFile = fuse + ".pid"
        try? FileManager.default.removeItem(atPath: pidFile)
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

    static func run(_ tool: String, _ arguments: [String]) throws {
        let r = try Tools.run(tool, arguments)
        guard r.status == 0 else {
            throw NBDTestClient.Failure(description: "\(tool) \(arguments.joined(separator: " ")): \(r.output)")
        }
    }
}
