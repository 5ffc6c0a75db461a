import Foundation
import NBDWire
import XCTest

/// The codec as a server (MiniServer) against real clients: nbdinfo, qemu-io and qemu-img must
/// negotiate, write, read and map through it — with GO and structured replies, and, when those are
/// refused, through their fallbacks to NBD_OPT_EXPORT_NAME and simple replies. Skips when a client
/// is absent.
final class ServerInteropTests: XCTestCase {
    static let size = 1 << 20
    var directory = ""
    var uri: String { "nbd+unix:///?socket=\(directory)/nbd.sock" }

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "nbdwire-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    /// Runs a client; returns its standard output, failing the test on a non-zero exit.
    func run(_ name: String, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String
    {
        guard let path = tool(name) else { throw XCTSkip("\(name) is not installed (Debian: libnbd-bin / qemu-utils)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "\(name) \(arguments): \(problems)", file: file, line: line)
        return text
    }

    func testRealClientsThroughGoAndStructuredReplies() throws {
        let server = try MiniServer(path: "\(directory)/nbd.sock", size: Self.size)
        defer { server.stop() }
        XCTAssertEqual(
            try run("nbdinfo", ["--size", uri]).trimmingCharacters(in: .whitespacesAndNewlines), "\(Self.size)")
        XCTAssertTrue(try run("nbdinfo", ["--list", uri]).contains("the mini server's disk"))

        _ = try run(
            "qemu-io",
            [
                "-f", "raw", "-c", "write -P 0x55 4096 64k", "-c", "write -z 8192 4096", "-c", "flush",
                "-c", "read -P 0x55 4096 4096", "-c", "read -P 0 8192 4096", uri,
            ])
        let disk = server.contents
        XCTAssertTrue(
            disk[4096..<8192].allSatisfy { $0 == 0x55 } && disk[12288..<69632].allSatisfy { $0 == 0x55 },
            "qemu-io's writes")
        XCTAssertTrue(disk[8192..<12288].allSatisfy { $0 == 0 }, "qemu-io's write -z")

        // nbdinfo --map: one line per extent, "offset length type description".
        let map = try run("nbdinfo", ["--map", uri]).split(separator: "\n").map {
            $0.split(separator: " ").prefix(3).map(String.init)
        }
        XCTAssertEqual(
            map.prefix(4),
            [["0", "4096", "3"], ["4096", "4096", "0"], ["8192", "4096", "3"], ["12288", "57344", "0"]], "\(map)")

        // qemu-img copies the disk out through READs.
        _ = try run("qemu-img", ["convert", "-f", "raw", "-O", "raw", uri, "\(directory)/copy.raw"])
        XCTAssertTrue(
            [UInt8](FileManager.default.contents(atPath: "\(directory)/copy.raw") ?? Data()) == disk, "qemu-img's copy")
        XCTAssertTrue(
            Set(server.optionsSeen).isSuperset(of: [.go, .structuredReply, .setMetaContext, .list]),
            "\(server.optionsSeen)")
        XCTAssertFalse(server.optionsSeen.contains(.exportName))
    }

    func testRealClientsFallBackToExportNameAndSimpleReplies() throws {
        let server = try MiniServer(
            path: "\(directory)/nbd.sock", size: Self.size,
            refused: [.go, .info, .structuredReply, .listMetaContext, .setMetaContext])
        defer { server.stop() }
        XCTAssertEqual(
            try run("nbdinfo", ["--size", uri]).trimmingCharacters(in: .whitespacesAndNewlines), "\(Self.size)")
        _ = try run(
            "qemu-io",
            ["-f", "raw", "-c", "write -P 0xa7 0 128k", "-c", "read -P 0xa7 0 128k", "-c", "read -P 0 128k 4k", uri])
        XCTAssertTrue(server.contents[0..<(128 << 10)].allSatisfy { $0 == 0xa7 }, "qemu-io's write over EXPORT_NAME")
        XCTAssertTrue(server.optionsSeen.contains(.exportName), "\(server.optionsSeen)")
    }
}
