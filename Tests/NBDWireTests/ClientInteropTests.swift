import Foundation
import NBDWire
import XCTest

/// The codec as a client against real servers (qemu-nbd on a raw file, nbdkit memory) over a Unix
/// socket: fixed newstyle handshake with structured replies, base:allocation and block sizes, then
/// WRITE (FUA), READ, BLOCK_STATUS, WRITE_ZEROES, TRIM, FLUSH and DISC. Skips when a tool is absent.
final class ClientInteropTests: XCTestCase {
    static let size = 1 << 20
    var directory = ""
    var server: Process?

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "nbdwire-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        if let server, server.isRunning {
            server.terminate()
            server.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts `tool` with `arguments` and waits for its socket.
    func start(_ name: String, _ arguments: [String]) throws -> String {
        guard let path = tool(name) else { throw XCTSkip("\(name) is not installed (Debian: qemu-utils / nbdkit)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice  // the out-of-range READ makes servers log
        try process.run()
        server = process
        let socket = "\(directory)/nbd.sock"
        XCTAssertTrue(waitForSocket(socket), "\(name) did not create its socket")
        return socket
    }

    func testAgainstQemuNbd() throws {
        let image = "\(directory)/disk.raw"
        XCTAssertTrue(FileManager.default.createFile(atPath: image, contents: nil))
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: image))
        try file.truncate(atOffset: UInt64(Self.size))
        try file.close()
        let socket = try start("qemu-nbd", ["--socket", "\(directory)/nbd.sock", "--format", "raw", image])
        try exercise(socket)
        // The WRITE landed in the file (but for the 4 KiB zeroed at 128 KiB and trimmed at 160 KiB).
        let bytes = [UInt8](FileManager.default.contents(atPath: image) ?? Data())
        XCTAssertEqual(bytes.count, Self.size)
        XCTAssertTrue(
            bytes[(132 << 10)..<(160 << 10)].elementsEqual(Self.pattern[(4 << 10)..<(32 << 10)]),
            "written bytes in the image")
        XCTAssertTrue(
            bytes[(164 << 10)..<(192 << 10)].elementsEqual(Self.pattern[(36 << 10)...]), "written bytes in the image")
        XCTAssertTrue(bytes[(128 << 10)..<(132 << 10)].allSatisfy { $0 == 0 }, "zeroed bytes in the image")
    }

    func testAgainstNbdkitMemory() throws {
        let socket = try start("nbdkit", ["--unix", "\(directory)/nbd.sock", "--foreground", "memory", "\(Self.size)"])
        try exercise(socket)
    }

    static let pattern = (0..<(64 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }

    func exercise(_ path: String) throws {
        let socket = try UnixSocket.connect(path)
        var decoder = ServerMessageDecoder()
        let context = try handshake(socket, &decoder)

        // WRITE 64 KiB with FUA at 128 KiB: header and payload sent separately, as a client would.
        try socket.send(
            NBDRequest(flags: .fua, command: .write, cookie: 1, offset: 128 << 10, length: UInt32(Self.pattern.count))
                .encoded)
        try socket.send(Self.pattern)
        try expectSuccess(socket, &decoder, cookie: 1)

        // READ it back: the chunks (data, maybe holes) reassembled give the pattern.
        try socket.send(
            NBDRequest(command: .read, cookie: 2, offset: 128 << 10, length: UInt32(Self.pattern.count)).encoded)
        XCTAssertTrue(
            try readReply(socket, &decoder, cookie: 2, offset: 128 << 10, count: Self.pattern.count) == Self.pattern,
            "read back")

        // BLOCK_STATUS over the whole disk: a hole before the write, data over it.
        try socket.send(NBDRequest(command: .blockStatus, cookie: 3, offset: 0, length: UInt32(Self.size)).encoded)
        let extents = try blockStatus(socket, &decoder, cookie: 3, context: context)
        XCTAssertEqual(status(at: 0, extents), BaseAllocation.hole | BaseAllocation.zero, "\(extents)")
        XCTAssertEqual(status(at: 128 << 10, extents).map { $0 & BaseAllocation.hole }, 0, "\(extents)")

        // WRITE_ZEROES, TRIM and FLUSH succeed; the zeroed range reads as zeroes.
        try socket.send(NBDRequest(command: .writeZeroes, cookie: 4, offset: 128 << 10, length: 4096).encoded)
        try expectSuccess(socket, &decoder, cookie: 4)
        try socket.send(NBDRequest(command: .trim, cookie: 5, offset: 160 << 10, length: 4096).encoded)
        try expectSuccess(socket, &decoder, cookie: 5)
        try socket.send(NBDRequest(command: .flush, cookie: 6, offset: 0, length: 0).encoded)
        try expectSuccess(socket, &decoder, cookie: 6)
        try socket.send(NBDRequest(command: .read, cookie: 7, offset: 128 << 10, length: 8192).encoded)
        let afterZero = try readReply(socket, &decoder, cookie: 7, offset: 128 << 10, count: 8192)
        XCTAssertTrue(
            afterZero == [UInt8](repeating: 0, count: 4096) + Self.pattern[4096..<8192], "zeroes, then the pattern")

        // An out-of-range READ gets an error for its cookie; the connection stays usable.
        try socket.send(NBDRequest(command: .read, cookie: 8, offset: UInt64(Self.size), length: 4096).encoded)
        XCTAssertThrowsError(try readReply(socket, &decoder, cookie: 8, offset: UInt64(Self.size), count: 4096))
        try socket.send(NBDRequest(command: .flush, cookie: 9, offset: 0, length: 0).encoded)
        try expectSuccess(socket, &decoder, cookie: 9)

        try socket.send(NBDRequest(command: .disc, cookie: 10, offset: 0, length: 0).encoded)
        XCTAssertEqual(try socket.receive(), [], "the server closes after NBD_CMD_DISC")
    }

    /// Greeting, flags, STRUCTURED_REPLY, SET_META_CONTEXT base:allocation, GO with BLOCK_SIZE.
    /// Returns the context ID of base:allocation.
    func handshake(_ socket: UnixSocket, _ decoder: inout ServerMessageDecoder) throws -> UInt32 {
        guard case .greeting(let greeting) = try socket.next(&decoder) else { throw XCTSkip("no greeting") }
        XCTAssertTrue(greeting.flags.contains([.fixedNewstyle, .noZeroes]))
        try socket.send(ClientFlags([.fixedNewstyle, .noZeroes]).encoded + ClientOption.structuredReply.encoded)
        XCTAssertEqual(try socket.next(&decoder), .optionReply(OptionReply(option: .structuredReply, body: .ack)))

        try socket.send(
            ClientOption.setMetaContext(MetaContextRequest(exportName: "", queries: [BaseAllocation.contextName]))
                .encoded)
        guard case .optionReply(let reply) = try socket.next(&decoder), case .metaContext(let id, let name) = reply.body
        else {
            throw Failure("no NBD_REP_META_CONTEXT")
        }
        XCTAssertEqual(name, BaseAllocation.contextName)
        XCTAssertEqual(try socket.next(&decoder), .optionReply(OptionReply(option: .setMetaContext, body: .ack)))

        try socket.send(ClientOption.go(ExportRequest(name: "", infoRequests: [.blockSize])).encoded)
        var exportSize: UInt64?
        while case .optionReply(let reply) = try socket.next(&decoder), reply.body != .ack {
            guard case .info(let item) = reply.body else { throw Failure("GO failed: \(reply)") }
            if case .export(let size, let flags) = item {
                exportSize = size
                XCTAssertTrue(flags.contains([.hasFlags, .sendFlush]))
            }
        }
        XCTAssertEqual(exportSize, UInt64(Self.size))
        XCTAssertEqual(decoder.phase, .transmission)
        return id
    }

    struct Failure: Error {
        let text: String
        init(_ text: String) { self.text = text }
    }

    /// The reply to a command without data: a simple reply or structured chunks without error.
    func expectSuccess(_ socket: UnixSocket, _ decoder: inout ServerMessageDecoder, cookie: UInt64) throws {
        switch try socket.next(&decoder) {
        case .simpleReply(let reply):
            XCTAssertEqual(reply, SimpleReply(cookie: cookie))
        case .chunk(let chunk):
            XCTAssertEqual(chunk, StructuredChunk(flags: .done, cookie: cookie, body: .none))
        default: throw Failure("unexpected message")
        }
    }

    /// Reassembles a structured READ reply; throws on an error chunk.
    func readReply(
        _ socket: UnixSocket, _ decoder: inout ServerMessageDecoder, cookie: UInt64, offset: UInt64, count: Int
    ) throws -> [UInt8] {
        var data = [UInt8](repeating: 0xee, count: count)
        var failure: ChunkBody?
        while true {
            guard case .chunk(let chunk) = try socket.next(&decoder) else {
                throw Failure("a READ reply must be structured")
            }
            XCTAssertEqual(chunk.cookie, cookie)
            switch chunk.body {
            case .offsetData(let at, _):
                let bytes = try socket.payload(&decoder)
                data.replaceSubrange(Int(at - offset)..<Int(at - offset) + bytes.count, with: bytes)
            case .offsetHole(let at, let length):
                data.replaceSubrange(
                    Int(at - offset)..<Int(at - offset) + Int(length), with: repeatElement(0, count: Int(length)))
            case .none: break
            default: failure = chunk.body
            }
            if chunk.flags.contains(.done) { break }
        }
        if let failure { throw Failure("READ failed: \(failure)") }
        return data
    }

    func blockStatus(_ socket: UnixSocket, _ decoder: inout ServerMessageDecoder, cookie: UInt64, context: UInt32)
        throws -> [BlockDescriptor]
    {
        var extents: [BlockDescriptor] = []
        while true {
            guard case .chunk(let chunk) = try socket.next(&decoder) else {
                throw Failure("BLOCK_STATUS must be structured")
            }
            if case .blockStatus(let id, let list) = chunk.body {
                XCTAssertEqual(id, context)
                extents = list
            }
            if chunk.flags.contains(.done) { return extents }
        }
    }

    /// The status flags of the extent covering `offset`.
    func status(at offset: Int, _ extents: [BlockDescriptor]) -> UInt32? {
        var start = 0
        for extent in extents {
            if offset < start + Int(extent.length) { return extent.flags }
            start += Int(extent.length)
        }
        return nil
    }
}
