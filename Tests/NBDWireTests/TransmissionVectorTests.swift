import NBDWire
import XCTest

/// Byte-exact transmission vectors typed by hand from proto.md: requests (with a WRITE's payload),
/// simple replies (with a READ's data) and every structured chunk type. Each decodes to the
/// expected message and payload, whole and one byte at a time, and encodes back to its header.
final class TransmissionVectorTests: XCTestCase {
    static let cookie: UInt64 = 0x0102_0304_0506_0708

    func checkRequest(
        _ vector: String, _ expected: NBDRequest, payload: [UInt8] = [],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let bytes = hex(vector) + payload
        assertDecodes(
            { ClientMessageDecoder(phase: .transmission) }, bytes, [.message(.request(expected), payload: payload)],
            file: file, line: line)
        XCTAssertEqual(expected.encoded + payload, bytes, "encoding", file: file, line: line)
        XCTAssertEqual(expected.payloadLength, payload.count, file: file, line: line)
    }

    func checkReply(
        _ vector: String, _ expected: ServerMessage, payload: [UInt8] = [],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let bytes = hex(vector) + payload
        assertDecodes(
            { ServerMessageDecoder(phase: .transmission) }, bytes, [.message(expected, payload: payload)],
            after: expectReads { _ in payload.count }, file: file, line: line)
        XCTAssertEqual(expected.encoded + payload, bytes, "encoding", file: file, line: line)
    }

    func testRequests() {
        // NBD_REQUEST_MAGIC | flags | type | cookie | offset | length
        checkRequest(
            "25609513 | 0000 | 0000 | 0102030405060708 | 0000000000001000 | 00001000",
            NBDRequest(command: .read, cookie: Self.cookie, offset: 4096, length: 4096))
        // WRITE with FUA (bit 0), 4 bytes of payload follow the header
        checkRequest(
            "25609513 | 0001 | 0001 | 0102030405060708 | 0000000000000200 | 00000004",
            NBDRequest(flags: .fua, command: .write, cookie: Self.cookie, offset: 512, length: 4),
            payload: [0xde, 0xad, 0xbe, 0xef])
        // a WRITE of 0 bytes has no payload
        checkRequest(
            "25609513 | 0000 | 0001 | 0102030405060708 | 0000000000000000 | 00000000",
            NBDRequest(command: .write, cookie: Self.cookie, offset: 0, length: 0))
        checkRequest(
            "25609513 | 0000 | 0002 | 0102030405060708 | 0000000000000000 | 00000000",
            NBDRequest(command: .disc, cookie: Self.cookie, offset: 0, length: 0))
        checkRequest(
            "25609513 | 0000 | 0003 | 0000000000000000 | 0000000000000000 | 00000000",
            NBDRequest(command: .flush, cookie: 0, offset: 0, length: 0))
        checkRequest(
            "25609513 | 0001 | 0004 | 0102030405060708 | 0000000000010000 | 00010000",
            NBDRequest(flags: .fua, command: .trim, cookie: Self.cookie, offset: 65536, length: 65536))
        checkRequest(
            "25609513 | 0000 | 0005 | 0102030405060708 | 0000000000000000 | 00100000",
            NBDRequest(command: .cache, cookie: Self.cookie, offset: 0, length: 1 << 20))
        // WRITE_ZEROES with NO_HOLE (bit 1) and FAST_ZERO (bit 4)
        checkRequest(
            "25609513 | 0012 | 0006 | 0102030405060708 | ffffffffffff0000 | ffffffff",
            NBDRequest(
                flags: [.noHole, .fastZero], command: .writeZeroes, cookie: Self.cookie, offset: 0xffff_ffff_ffff_0000,
                length: .max))
        // BLOCK_STATUS with REQ_ONE (bit 3); READ with DF (bit 2); RESIZE (8); PAYLOAD_LEN (bit 5)
        checkRequest(
            "25609513 | 0008 | 0007 | 0102030405060708 | 0000000000000000 | 00100000",
            NBDRequest(flags: .reqOne, command: .blockStatus, cookie: Self.cookie, offset: 0, length: 1 << 20))
        checkRequest(
            "25609513 | 0004 | 0000 | 0102030405060708 | 0000000000000000 | 00010000",
            NBDRequest(flags: .df, command: .read, cookie: Self.cookie, offset: 0, length: 65536))
        checkRequest(
            "25609513 | 0020 | 0008 | 0102030405060708 | 0000000000200000 | 00000000",
            NBDRequest(flags: .payloadLen, command: .resize, cookie: Self.cookie, offset: 2 << 20, length: 0))
        // an unknown command (0x42) with unknown flags: decoded, for the server to answer NBD_EINVAL
        checkRequest(
            "25609513 | 8000 | 0042 | 0102030405060708 | 0000000000000000 | 00000001",
            NBDRequest(
                flags: CommandFlags(rawValue: 0x8000), command: NBDCommand(rawValue: 0x42), cookie: Self.cookie,
                offset: 0, length: 1))
    }

    func testSimpleReplies() {
        // NBD_SIMPLE_REPLY_MAGIC | error | cookie; a successful READ's data follows
        checkReply(
            "67446698 | 00000000 | 0102030405060708", .simpleReply(SimpleReply(cookie: Self.cookie)),
            payload: [1, 2, 3])
        checkReply("67446698 | 00000000 | 0102030405060708", .simpleReply(SimpleReply(cookie: Self.cookie)))
        for (code, error) in [
            ("00000001", NBDErrno.eperm), ("00000005", .eio), ("0000000c", .enomem), ("00000016", .einval),
            ("0000001c", .enospc), ("0000004b", .eoverflow), ("0000005f", .enotsup), ("0000006c", .eshutdown),
        ] {
            checkReply(
                "67446698 | \(code) | 0102030405060708", .simpleReply(SimpleReply(error: error, cookie: Self.cookie)))
        }
    }

    func testStructuredChunks() {
        // NBD_STRUCTURED_REPLY_MAGIC | flags | type | cookie | length | payload
        // NONE with DONE
        checkReply(
            "668e33ef | 0001 | 0000 | 0102030405060708 | 00000000",
            .chunk(StructuredChunk(flags: .done, cookie: Self.cookie, body: .none)))
        // OFFSET_DATA: length 12 = offset (8) + 4 bytes of data, which follow as the payload
        checkReply(
            "668e33ef | 0000 | 0001 | 0102030405060708 | 0000000c | 0000000000000200",
            .chunk(StructuredChunk(cookie: Self.cookie, body: .offsetData(offset: 512, dataLength: 4))),
            payload: [0xca, 0xfe, 0xba, 0xbe])
        // OFFSET_HOLE: offset 4096, size 4096
        checkReply(
            "668e33ef | 0000 | 0002 | 0102030405060708 | 0000000c | 0000000000001000 | 00001000",
            .chunk(StructuredChunk(cookie: Self.cookie, body: .offsetHole(offset: 4096, length: 4096))))
        // BLOCK_STATUS: context 1 | 4096 bytes HOLE|ZERO | 61440 bytes allocated
        checkReply(
            "668e33ef | 0001 | 0005 | 0102030405060708 | 00000014 | 00000001 | 00001000 00000003 | 0000f000 00000000",
            .chunk(
                StructuredChunk(
                    flags: .done, cookie: Self.cookie,
                    body: .blockStatus(
                        contextID: 1,
                        extents: [
                            BlockDescriptor(length: 4096, flags: BaseAllocation.hole | BaseAllocation.zero),
                            BlockDescriptor(length: 61440, flags: 0),
                        ]))))
        // ERROR: NBD_EINVAL | message length 3 | "bad"
        checkReply(
            "668e33ef | 0001 | 8001 | 0102030405060708 | 00000009 | 00000016 | 0003 | 626164",
            .chunk(StructuredChunk(flags: .done, cookie: Self.cookie, body: .error(.einval, message: "bad"))))
        // ERROR_OFFSET: NBD_EIO | message length 2 | "io" | offset 512
        checkReply(
            "668e33ef | 0000 | 8002 | 0102030405060708 | 00000010 | 00000005 | 0002 | 696f | 0000000000000200",
            .chunk(StructuredChunk(cookie: Self.cookie, body: .errorOffset(.eio, message: "io", offset: 512))))
        // unknown types keep their payload: 0x0042, and an unknown error type 0x8003
        checkReply(
            "668e33ef | 0000 | 0042 | 0102030405060708 | 00000001 | 01",
            .chunk(StructuredChunk(cookie: Self.cookie, body: .other(ChunkType(rawValue: 0x42), payload: [1]))))
        checkReply(
            "668e33ef | 0001 | 8003 | 0102030405060708 | 00000006 | 00000005 | 0000",
            .chunk(
                StructuredChunk(
                    flags: .done, cookie: Self.cookie,
                    body: .other(ChunkType(rawValue: 0x8003), payload: [0, 0, 0, 5, 0, 0]))))
    }

    func testHeaderOnlyEncodersLeaveTheDataToTheCaller() {
        // A READ answer is sent as this header followed by the data, straight from the file.
        XCTAssertEqual(SimpleReply(cookie: 7).encoded, hex("67446698 00000000 0000000000000007"))
        let chunk = StructuredChunk(flags: .done, cookie: 7, body: .offsetData(offset: 1 << 20, dataLength: 32 << 20))
        // length = 8 + 32 MiB, but only the 28 bytes of header and offset are produced
        XCTAssertEqual(chunk.encoded, hex("668e33ef 0001 0001 0000000000000007 02000008 0000000000100000"))
    }
}
