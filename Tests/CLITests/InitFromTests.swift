import Foundation
import Glibc
import XCTest

@testable import RDR

/// `rdr init --disk NAME:ROLE:from=FILE` through the built binary: members equal to FILE, holes
/// kept, in sync; reflinks on XFS; container formats and unusable files refused before anything
/// is created; a full filesystem cleaned up; an imported ext4 image served and mounted.
final class InitFromTests: XCTestCase {
    func testMembersEqualTheFileKeepItsHolesAndStartInSync() throws {
        let s = try Scratch()
        let source = s.path + "/disk.raw"
        try makeSparse(
            source, size: 48 << 20, data: [(1 << 20, 4096), (7 << 20, 3 << 20), ((48 << 20) - 65536, 65536)])
        let before = data(source)
        let mtime = try modified(source)
        let r = try rdr([
            "init", "--system", s.system, "--disk", "boot:mandatory:from=\(source)", "--disk", "data:4M:data",
        ])
        XCTAssertTrue(r.stdout.contains("boot: mandatory, 48 MiB"), r.stdout)
        for e in [10, 11] {
            XCTAssertEqual(
                try tool("/usr/bin/cmp", [source, s.image("boot", e)]).status, 0, "member \(e) differs from the file")
            // Holes kept: the copy allocates what the file does, give or take a filesystem block per extent.
            XCTAssertLessThanOrEqual(allocatedBytes(s.image("boot", e)), allocatedBytes(source) + (64 << 10))
            XCTAssertLessThan(allocatedBytes(s.image("boot", e)), 5 << 20)
        }
        XCTAssertEqual(data(source), before, "the source was changed")
        XCTAssertEqual(try modified(source), mtime, "the source was written")
        let verify = try rdr(["disk", "verify", "boot", "--system", s.system])
        XCTAssertTrue(verify.stdout.contains("members identical"), verify.stdout)
        let status = disk(try statusJSON(s.system), "boot")
        XCTAssertEqual(status["status"] as? String, "None")
        XCTAssertEqual(status["mode"] as? String, "duplex")
        for m in status["members"] as? [[String: Any]] ?? [] { XCTAssertEqual(m["dirtyBytes"] as? Int, 0) }
        let vd = try RDRSystem.open(at: s.system).disk("boot", access: .readOnly)
        XCTAssertEqual(vd.record.generations[0], vd.record.generations[1])
        XCTAssertTrue(vd.bitmap(.ten).isEmpty && vd.bitmap(.eleven).isEmpty)
        // A disk like any other: split, write on the Upgrade Side, merge, resync back in sync.
        try rdr(["disk", "split", "--system", s.system])
        try rdr([
            "write", "boot", "--side", "upgrade", "--offset", "0", "--pattern", "5", "--length", "64K", "--system",
            s.system,
        ])
        try rdr(["disk", "merge", "--system", s.system])
        try rdr(["disk", "resync", "boot", "--from", "11", "--system", s.system])
        try rdr(["disk", "verify", "boot", "--system", s.system])
        XCTAssertEqual(data(source), before, "the source was changed")
    }

    func testReflinkedOnXFSTheMembersShareExtents() throws {
        let xfs = try XFSMount(in: try Scratch())
        let source = xfs.path + "/disk.raw"
        let outside = try Scratch()
        try makeSparse(source, size: 32 << 20, data: [(0, 8 << 20), (20 << 20, 1 << 20)])
        let system = xfs.path + "/sys"
        try rdr(["init", "--system", system, "--disk", "boot:system:from=\(source)"])
        for e in [10, 11] {
            let map = try tool("/usr/sbin/filefrag", ["-v", "\(system)/boot-\(e).img"])
            XCTAssertTrue(map.output.contains("shared"), "member \(e) is not a reflink:\n\(map.output)")
            XCTAssertEqual(try tool("/usr/bin/cmp", [source, "\(system)/boot-\(e).img"]).status, 0)
        }
        // A source on another filesystem (ext4 here): member 10 is a copy, member 11 its reflink.
        let foreign = outside.path + "/disk.raw"
        try makeSparse(foreign, size: 16 << 20, data: [(4 << 20, 2 << 20)])
        try rdr(["init", "--system", system, "--force", "--disk", "boot:system:from=\(foreign)"])
        let second = try tool("/usr/sbin/filefrag", ["-v", "\(system)/boot-11.img"])
        XCTAssertTrue(second.output.contains("shared"), second.output)
        XCTAssertEqual(try tool("/usr/bin/cmp", [foreign, "\(system)/boot-11.img"]).status, 0)
        try rdr(["disk", "verify", "boot", "--system", system])
    }

    func testContainerFormatsAreRefusedByTheirMagicAndNothingIsCreated() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-img") else {
            throw XCTSkip("qemu-img not installed")
        }
        let s = try Scratch()
        let formats: [(String, [String], String)] = [
            ("qcow2", [], "qcow2"), ("qed", [], "QED"), ("vmdk", [], "VMDK"), ("vdi", [], "VDI"),
            ("vhdx", [], "VHDX"), ("vpc", [], "VHD"), ("vpc", ["-o", "subformat=fixed"], "VHD (fixed)"),
            ("parallels", [], "Parallels"),
        ]
        for (format, options, name) in formats {
            let file = s.path + "/image.\(format)\(options.isEmpty ? "" : ".fixed")"
            let made = try tool("/usr/bin/qemu-img", ["create", "-f", format] + options + [file, "16M"])
            XCTAssertEqual(made.status, 0, made.output)
            let r = try rdr(["init", "--system", s.system, "--disk", "boot:mandatory:from=\(file)"], expect: 65)
            XCTAssertEqual(
                errorLine(r),
                "Error: disk 'boot': \(file) is a \(name) image, not a raw one; convert it first: qemu-img convert -O raw \(file) out.raw"
            )
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertFalse(
                FileManager.default.fileExists(atPath: s.system), "init created \(s.system) for a \(format) file")
        }
        // The same file converted to raw is accepted.
        let raw = s.path + "/converted.raw"
        XCTAssertEqual(try tool("/usr/bin/qemu-img", ["convert", "-O", "raw", s.path + "/image.qcow2", raw]).status, 0)
        try rdr(["init", "--system", s.system, "--disk", "boot:mandatory:from=\(raw)"])
    }

    func testUnusableFilesAreRefusedBeforeAnythingIsCreated() throws {
        let s = try Scratch()
        let odd = s.path + "/odd.raw"
        let empty = s.path + "/empty.raw"
        let fifo = s.path + "/fifo"
        XCTAssertTrue(FileManager.default.createFile(atPath: odd, contents: Data(repeating: 7, count: 1000)))
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let cases: [(String, String)] = [
            (
                odd,
                "odd.raw is 1000 bytes, not a whole number of 512-byte sectors; pad it with zeros first: truncate -s 1024 \(odd)"
            ),
            (empty, "is empty"), (fifo, "is a FIFO, not a raw image file"),
            (s.path, "is a directory, not a raw image file"),
            ("/dev/null", "is a device, not a raw image file"), (s.path + "/missing.raw", "does not exist"),
        ]
        for (file, text) in cases {
            let r = try rdr(["init", "--system", s.system, "--disk", "boot:system:from=\(file)"], expect: 65)
            XCTAssertTrue(errorLine(r).contains(text), "\(r.stderr) lacks \(text)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: s.system), "init created \(s.system) for \(file)")
        }
        // Syntax errors are usage errors, as for the other forms.
        try refused(
            ["init", "--system", s.system, "--disk", "boot:system:from="], s, status: 64, mentions: "from= needs a file"
        )
        try refused(
            ["init", "--system", s.system, "--disk", "boot:disk:from=\(odd)"], s, status: 64, mentions: "role 'disk'")
        // A file inside the system directory (init --force would delete it): refused, the system untouched.
        try rdr(["init", "--system", s.system, "--disk", "boot:8M:system"])
        try refused(
            ["init", "--system", s.system, "--force", "--disk", "boot:system:from=\(s.image("boot", 10))"], s,
            status: 65, mentions: "is inside the system directory")
        try FileManager.default.createSymbolicLink(
            atPath: s.path + "/link.raw", withDestinationPath: s.image("boot", 11))
        try refused(
            ["init", "--system", s.system, "--force", "--disk", "boot:system:from=\(s.path)/link.raw"], s,
            status: 65, mentions: "is inside the system directory")
        guard getuid() != 0 else { return }  // root reads any file: no unreadable case to make
        let locked = s.path + "/locked.raw"
        XCTAssertTrue(
            FileManager.default.createFile(
                atPath: locked, contents: Data(count: 4096), attributes: [.posixPermissions: 0]))
        try refused(
            ["init", "--system", s.path + "/other", "--disk", "boot:system:from=\(locked)"], s, status: 65,
            mentions: "cannot be read")
    }

    func testAnImportThatFillsTheFilesystemRemovesWhatInitCreated() throws {
        let small = try TestMount.tmpfs(size: "2M")
        let s = try Scratch()
        let source = s.path + "/big.raw"
        XCTAssertTrue(
            FileManager.default.createFile(
                atPath: source, contents: Data((0..<(6 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })))
        for system in [small.path + "/sys", small.path] {
            let r = try rdr(["init", "--system", system, "--disk", "boot:system:from=\(source)"], expect: 1)
            XCTAssertTrue(errorLine(r).contains("No space left on device"), r.stderr)
            XCTAssertEqual(tree(small.path), [:], "a failed import left files behind")
        }
    }

    /// Ctrl-C during an import: init stops between chunks, removes every file and directory it
    /// created (images, metadata, lock) and exits 130; the source is untouched.
    func testCtrlCDuringAnImportRemovesWhatInitCreated() throws {
        let s = try Scratch()
        let source = s.path + "/big.raw"
        // 2 GiB of written zeros: data, not holes, so the copy takes long enough to be interrupted.
        XCTAssertEqual(try tool("/usr/bin/dd", ["if=/dev/zero", "of=\(source)", "bs=4M", "count=512"]).status, 0)
        let mtime = try modified(source)
        let (p, out, err) = try RDRProcess.start(["init", "--system", s.system, "--disk", "boot:system:from=\(source)"])
        XCTAssertTrue(eventually(30) { FileManager.default.fileExists(atPath: s.image("boot", 10)) })
        kill(p.processIdentifier, SIGINT)
        let r = RDRProcess.finish(p, out, err)
        XCTAssertEqual(r.status, 130, r.stdout + r.stderr)
        XCTAssertEqual(r.stderr, "Error: init interrupted while importing disk 'boot'; nothing was kept\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.system), "init left \(tree(s.system))")
        XCTAssertEqual(try modified(source), mtime, "the source was written")
    }

    func testAnImportedExt4ImageIsServedAndMountable() throws {
        for t in [
            "/usr/sbin/mkfs.ext4", "/usr/sbin/e2fsck", "/usr/bin/nbdfuse", "/usr/sbin/losetup", "/usr/bin/fusermount3",
        ]
        where !FileManager.default.isExecutableFile(atPath: t) { throw XCTSkip("\(t) not installed") }
        guard getuid() == 0, access("/dev/fuse", R_OK | W_OK) == 0 else {
            throw XCTSkip("needs root and /dev/fuse (mount, loop devices)")
        }
        let s = try Scratch()
        let content = s.path + "/content"
        let image = s.path + "/rootfs.raw"
        let mnt = s.path + "/mnt"
        let fuse = s.path + "/fuse"
        for dir in [content, mnt, fuse] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        let payload = Data((0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        try Data("installed\n".utf8).write(to: URL(fileURLWithPath: content + "/os-release"))
        try payload.write(to: URL(fileURLWithPath: content + "/payload.bin"))
        try checked("/usr/sbin/mkfs.ext4", ["-q", "-d", content, image, "64M"])
        try rdr(["init", "--system", s.system, "--disk", "boot:mandatory:from=\(image)"])
        let (serve, out, err) = try RDRProcess.start(["serve", "--system", s.system])
        defer {
            if serve.isRunning { kill(serve.processIdentifier, SIGTERM) }
            _ = RDRProcess.finish(serve, out, err)
        }
        XCTAssertTrue(Host.wait(30) { access(s.system + "/nbd.sock", F_OK) == 0 }, "rdr serve did not start")
        let (nbdfuse, fout, ferr) = try start(
            "/usr/bin/nbdfuse", [fuse + "/disk", "nbd+unix:///boot?socket=\(s.system)/nbd.sock"])
        defer {
            Host.run("/usr/bin/fusermount3", ["-u", fuse])
            _ = RDRProcess.finish(nbdfuse, fout, ferr)
        }
        guard Host.wait(20, { access(fuse + "/disk", F_OK) == 0 }) else {
            throw XCTSkip("nbdfuse could not mount (FUSE not usable here)")
        }
        let loop = try checked("/usr/sbin/losetup", ["-f", "--show", fuse + "/disk"]).stdout.trimmingCharacters(
            in: .whitespacesAndNewlines)
        defer { Host.run("/usr/sbin/losetup", ["-d", loop]) }
        try checked("/usr/bin/mount", [loop, mnt])
        XCTAssertEqual(FileManager.default.contents(atPath: mnt + "/os-release"), Data("installed\n".utf8))
        XCTAssertEqual(FileManager.default.contents(atPath: mnt + "/payload.bin"), payload)
        try Data("written through rdr serve\n".utf8).write(to: URL(fileURLWithPath: mnt + "/note.txt"))
        try checked("/usr/bin/umount", [mnt])
        Host.run("/usr/sbin/losetup", ["-d", loop])
        Host.run("/usr/bin/fusermount3", ["-u", fuse])
        kill(serve.processIdentifier, SIGTERM)
        serve.waitUntilExit()
        XCTAssertEqual(serve.terminationStatus, 0)
        for e in [10, 11] {
            let fsck = try tool("/usr/sbin/e2fsck", ["-fn", s.image("boot", e)])
            XCTAssertEqual(fsck.status, 0, "member \(e): \(fsck.output)")
        }
        try rdr(["disk", "verify", "boot", "--system", s.system])
        XCTAssertEqual(try tool("/usr/bin/cmp", [s.image("boot", 10), s.image("boot", 11)]).status, 0)
    }

    // MARK: - Helpers

    /// A sparse file of `size` bytes with pseudo-random data at each (offset, length).
    private func makeSparse(_ path: String, size: Int64, data segments: [(Int64, Int)]) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw XCTSkip("cannot create \(path)") }
        defer { close(fd) }
        XCTAssertEqual(ftruncate(fd, off_t(size)), 0)
        var rng = SplitMixRandom(seed: UInt64(size))
        for (offset, length) in segments {
            let bytes = (0..<length / 8).flatMap { _ in withUnsafeBytes(of: rng.next()) { Array($0) } }
            XCTAssertEqual(bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, length, off_t(offset)) }, length)
        }
    }

    private func allocatedBytes(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_blocks) * 512 : -1
    }

    private func modified(_ path: String) throws -> Date {
        try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date ?? .distantPast
    }

    private func start(_ tool: String, _ args: [String]) throws -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return (p, out, err)
    }

    private func tool(_ tool: String, _ args: [String]) throws -> (status: Int32, stdout: String, output: String) {
        let (p, out, err) = try start(tool, args)
        let r = RDRProcess.finish(p, out, err)
        return (r.status, r.stdout, r.stdout + r.stderr)
    }

    @discardableResult
    private func checked(_ tool: String, _ args: [String]) throws -> (status: Int32, stdout: String, output: String) {
        let r = try self.tool(tool, args)
        guard r.status == 0 else { throw XCTSkip("\(tool) \(args.joined(separator: " ")) failed: \(r.output)") }
        return r
    }
}

/// An XFS filesystem with reflinks, loop-mounted from an image made for one test. Skips the test
/// (printing why) without root, mkfs.xfs or a loop device.
private final class XFSMount {
    let path: String
    private let scratch: Scratch

    init(in scratch: Scratch) throws {
        self.scratch = scratch
        guard getuid() == 0 else { throw XCTSkip("needs root to loop-mount an XFS image") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.xfs") else {
            throw XCTSkip("mkfs.xfs not installed")
        }
        let image = scratch.path + "/xfs.img"
        path = scratch.path + "/xfs"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Host.run("/usr/bin/truncate", ["-s", "512M", image]) == 0,
            Host.run("/usr/sbin/mkfs.xfs", ["-q", "-m", "reflink=1", image]) == 0
        else { throw XCTSkip("mkfs.xfs -m reflink=1 failed") }
        guard Host.run("/usr/bin/mount", ["-o", "loop", image, path]) == 0 else {
            throw XCTSkip("cannot loop-mount the XFS image (no loop device?)")
        }
    }

    deinit { Host.run("/usr/bin/umount", [path]) }
}
