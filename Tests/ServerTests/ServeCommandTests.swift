import Foundation
import Glibc
import XCTest

/// `rdr serve` end to end: help, refusals with their exit codes, the socket's mode, the lock,
/// and a clean stop on SIGTERM that flushes and exits 0.
final class ServeCommandTests: XCTestCase {
    private func scratch() throws -> String {
        let dir = NSTemporaryDirectory() + "rdr-serve-" + UUID().uuidString.prefix(8)
        try ServeProcess.initSystem(dir, disks: ["boot:16M:mandatory", "data:16M:data"])
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func testHelpSaysThereIsNoTLSOrAuthentication() throws {
        let r = try Tools.run(Tools.rdr, ["serve", "--help"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("There is no TLS and no authentication"), r.stdout)
        XCTAssertTrue(
            r.stdout.contains("--allow-remote") && r.stdout.contains("--read-only")
                && r.stdout.contains("--max-connections"))
    }

    func testRemoteAddressesAreRefusedUnlessAllowed() throws {
        let dir = try scratch()
        let r = try Tools.run(Tools.rdr, ["serve", "--system", dir, "--listen", "0.0.0.0:0"])
        XCTAssertEqual(r.status, 64, r.output)
        XCTAssertTrue(r.stderr.hasPrefix("Error: refusing to listen on 0.0.0.0"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--allow-remote"), r.stderr)
        let bad = try Tools.run(Tools.rdr, ["serve", "--system", dir, "--listen", "localhost"])
        XCTAssertEqual(bad.status, 64, bad.output)
        XCTAssertTrue(bad.stderr.contains("--listen wants HOST:PORT"), bad.stderr)
        XCTAssertEqual(try Tools.run(Tools.rdr, ["serve", "--system", dir, "--allow-remote"]).status, 64)
    }

    func testServesOnTCPLoopbackAndStopsCleanly() throws {
        try Tools.require("nbdinfo")
        let dir = try scratch()
        let (p, out, err) = try Tools.start(Tools.rdr, ["serve", "--system", dir, "--listen", "127.0.0.1:0"])
        var port = ""
        let handle = out.fileHandleForReading
        var text = ""
        while port.isEmpty, p.isRunning {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on tcp:127.0.0.1:") }) {
                port = String(line.dropFirst("listening on tcp:127.0.0.1:".count).prefix { $0.isNumber })
            }
        }
        XCTAssertFalse(port.isEmpty, text)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: dir + "/nbd.sock"), "--listen alone must not open the Unix socket")
        let info = try Tools.run("nbdinfo", ["--size", "nbd://127.0.0.1:\(port)/data"])
        XCTAssertEqual(info.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "\(16 << 20)", info.output)
        kill(p.processIdentifier, SIGTERM)
        let r = Tools.finish(p, out, err)
        XCTAssertEqual(r.status, 0, r.output)
    }

    /// The URI serve prints works as printed when the system's path has a space, `?` or `#`
    /// (percent-encoded), and with an export name that has `@`.
    func testThePrintedURIWorksForAPathWithSpaces() throws {
        try Tools.require("nbdinfo")
        let dir = NSTemporaryDirectory() + "rdr serve ?#" + UUID().uuidString.prefix(8)
        try ServeProcess.initSystem(dir, disks: ["data:16M:data"])
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let (p, out, err) = try Tools.start(Tools.rdr, ["serve", "--system", dir])
        let handle = out.fileHandleForReading
        var text = ""
        var uri = ""
        while uri.isEmpty, p.isRunning {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on unix:") }),
                let at = line.range(of: "e.g. ")
            {
                uri = String(line[at.upperBound...])
            }
        }
        XCTAssertTrue(
            uri.hasSuffix(
                "?socket=" + dir.replacing(" ", with: "%20").replacing("?", with: "%3F").replacing("#", with: "%23")
                    + "/nbd.sock"), uri)
        let info = try Tools.run("nbdinfo", ["--size", uri.replacing("EXPORT", with: "data@upgrade")])
        XCTAssertEqual(info.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "\(16 << 20)", info.output)
        kill(p.processIdentifier, SIGTERM)
        XCTAssertEqual(Tools.finish(p, out, err).status, 0)
    }

    func testUnixSocketIsPrivateTheLockIsHeldAndSIGTERMFlushes() throws {
        try Tools.require("qemu-io")
        let dir = try scratch()
        let serve = try ServeProcess(system: dir)
        var st = stat()
        XCTAssertEqual(stat(serve.socket, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        // Issue 11: a command that needs the lock no longer fails with 75 while the server holds
        // it: it runs in the server (the owner). A second server is still refused, naming it.
        let forwarded = try Tools.run(
            Tools.rdr, ["write", "boot", "--offset", "0", "--pattern", "1", "--length", "4K", "--system", dir])
        XCTAssertEqual(forwarded.status, 0, forwarded.output)
        XCTAssertEqual(forwarded.stdout, "wrote 4096 bytes to boot at offset 0\n")
        let second = try Tools.run(Tools.rdr, ["serve", "--system", dir, "--socket", dir + "/other.sock"])
        XCTAssertEqual(second.status, 75, second.output)
        XCTAssertTrue(second.stderr.contains("rdr serve"), second.stderr)
        let w = try Tools.run("qemu-io", ["-f", "raw", "-c", "write -P 0x42 0 65536", serve.uri("boot")])
        XCTAssertEqual(w.status, 0, w.output)
        let r = serve.stop(SIGTERM)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.stdout.contains("stopped; flushed boot"), r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: serve.socket), "the socket file was left behind")
        // Flushed duplex writes leave the disk in sync: no `Resync needed`.
        let status = try Tools.run(Tools.rdr, ["status", "boot", "--system", dir])
        XCTAssertTrue(status.stdout.contains("Status: None"), status.stdout)
    }

    /// `--read-only`: writes fail with EPERM and no file of the system changes, metadata included.
    func testReadOnlyServerChangesNoFile() throws {
        try Tools.require("qemu-io")
        let dir = try scratch()
        func files() -> [String: Data] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            return Dictionary(
                uniqueKeysWithValues: names.filter { !$0.hasPrefix(".rdr.lock") && $0 != "nbd.sock" }
                    .map { ($0, FileManager.default.contents(atPath: dir + "/" + $0) ?? Data()) })
        }
        let before = files()
        let serve = try ServeProcess(system: dir, arguments: ["--read-only"])
        let w = try Tools.run("qemu-io", ["-f", "raw", "-c", "write -P 0x42 0 4096", serve.uri("boot")])
        XCTAssertNotEqual(w.status, 0, w.output)
        XCTAssertEqual(
            try Tools.run("qemu-io", ["-f", "raw", "-r", "-c", "read -P 0 0 4096", serve.uri("data@11")]).status, 0)
        XCTAssertEqual(serve.stop().status, 0)
        XCTAssertEqual(files(), before, "a read-only server changed a file")
    }

    func testALiveSocketIsNotTakenOverAndAStaleOneIs() throws {
        let dir = try scratch()
        let serve = try ServeProcess(system: dir)
        let other = try scratch()
        let r = try Tools.run(Tools.rdr, ["serve", "--system", other, "--socket", serve.socket])
        XCTAssertEqual(r.status, 75, r.output)
        XCTAssertTrue(r.stderr.contains("another server is listening on \(serve.socket)"), r.stderr)
        serve.stop(SIGKILL)
        XCTAssertTrue(FileManager.default.fileExists(atPath: serve.socket), "a killed server leaves its socket file")
        let again = try ServeProcess(system: dir)  // replaces the stale socket
        XCTAssertEqual(again.stop().status, 0)
    }
}
