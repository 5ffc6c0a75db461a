import NBDWire
import XCTest

/// What a client's decoder does with a bad server: bad magics, oldstyle, extended replies,
/// oversized and malformed option replies and chunks — each with its error, the recoverable ones
/// leaving the stream at the next message.
final class ServerStreamErrorTests: XCTestCase {
    static let cookie = "0102030405060708"
    static let none = StructuredChunk(flags: .done, cookie: 1, body: .none)

    func expectError(
        _ decoder: inout ServerMessageDecoder, _ bytes: [UInt8], _ expected: NBDWireError,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        decoder.feed(bytes)
        XCTAssertThrowsError(try decoder.next(), file: file, line: line) { error in
            XCTAssertEqual(error as? NBDWireError, expected, file: file, line: line)
        }
    }

    /// A malformed chunk of `type` with `payload` is consumed whole; the chunk after it decodes.
    func expectInvalidChunk(
        _ type: UInt16, _ payload: String, _ reason: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let bytes = hex(payload)
        let header =
            hex("668e33ef 0001") + [UInt8(type >> 8), UInt8(type & 0xff)] + hex(Self.cookie) + [
                0, 0, UInt8(bytes.count >> 8), UInt8(bytes.count & 0xff),
            ]
        var decoder = ServerMessageDecoder(phase: .transmission)
        expectError(
            &decoder, header + bytes + Self.none.encoded,
            .invalidChunk(cookie: 0x0102_0304_0506_0708, ChunkType(rawValue: type), reason: reason), file: file,
            line: line)
        XCTAssertEqual(try decoder.next(), .chunk(Self.none), "the next chunk still decodes", file: file, line: line)
    }

    /// A malformed reply of `type` to NBD_OPT_GO is consumed whole; the reply after it decodes.
    func expectInvalidReply(
        _ type: OptionReplyType, _ data: String, _ reason: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let bytes = hex(data)
        var header = hex("0003e889045565a9 00000007")
        for shift in [24, 16, 8, 0] { header.append(UInt8(truncatingIfNeeded: type.rawValue >> UInt32(shift))) }
        header += [0, 0, UInt8(bytes.count >> 8), UInt8(bytes.count & 0xff)]
        let next = OptionReply(option: .list, body: .ack)
        var decoder = ServerMessageDecoder(phase: .optionReplies)
        expectError(
            &decoder, header + bytes + next.encoded, .invalidOptionReply(.go, type, reason: reason), file: file,
            line: line)
        XCTAssertEqual(try decoder.next(), .optionReply(next), file: file, line: line)
        XCTAssertEqual(
            decoder.phase, .optionReplies, "an invalid reply to GO does not start transmission", file: file, line: line)
    }

    func testBadGreetings() {
        var wrong = ServerMessageDecoder()
        expectError(
            &wrong, hex("4e42444d41474944"), .badMagic(expected: NBDMagic.nbdMagic, found: 0x4e42_444d_4147_4944))
        // oldstyle: NBDMAGIC then cliserv_magic
        var oldstyle = ServerMessageDecoder()
        expectError(&oldstyle, hex("4e42444d41474943 0000420281861253 0000000000100000 00000001"), .oldstyleNegotiation)
        XCTAssertTrue(NBDWireError.oldstyleNegotiation.isFatal)
        var second = ServerMessageDecoder()
        expectError(
            &second, hex("4e42444d41474943 49484156454f5055 0003"),
            .badMagic(expected: NBDMagic.ihaveopt, found: 0x4948_4156_454f_5055))
    }

    func testBadReplyMagics() {
        var options = ServerMessageDecoder(phase: .optionReplies)
        expectError(
            &options, hex("0003e889045565aa 00000007 00000001 00000000"),
            .badMagic(expected: NBDMagic.optionReply, found: 0x0003_e889_0455_65aa))
        var transmission = ServerMessageDecoder(phase: .transmission)
        expectError(
            &transmission, hex("67446699 00000000 0000000000000001"),
            .badMagic(expected: UInt64(NBDMagic.structuredReply), found: 0x6744_6699))
        // Fatal: the same error for ever after.
        expectError(
            &transmission, SimpleReply(cookie: 1).encoded,
            .badMagic(expected: UInt64(NBDMagic.structuredReply), found: 0x6744_6699))
        var extended = ServerMessageDecoder(phase: .transmission)
        expectError(
            &extended, hex("6e8a278c 0001 0000 0000000000000001 0000000000000000"),
            .extendedHeadersNotNegotiated(magic: NBDMagic.extendedReply))
    }

    func testOversizedRepliesAreSkipped() throws {
        var options = ServerMessageDecoder(limits: NBDLimits(maxOptionData: 10), phase: .optionReplies)
        expectError(
            &options, hex("0003e889045565a9 00000003 00000002 0000000b"),
            .optionReplyTooLarge(.list, .server, length: 11, limit: 10))
        options.feed([UInt8](repeating: 0, count: 11) + OptionReply(option: .list, body: .ack).encoded)
        XCTAssertEqual(try options.next(), .optionReply(OptionReply(option: .list, body: .ack)))

        var chunks = ServerMessageDecoder(limits: NBDLimits(maxPayload: 16, maxChunkPayload: 12), phase: .transmission)
        // BLOCK_STATUS of 20 bytes over a 12-byte chunk limit
        expectError(
            &chunks, hex("668e33ef 0001 0005 \(Self.cookie) 00000014"),
            .chunkTooLarge(cookie: 0x0102_0304_0506_0708, .blockStatus, length: 20, limit: 12))
        chunks.feed([UInt8](repeating: 0, count: 20))
        // OFFSET_DATA of 17 data bytes over a 16-byte payload limit (length 25 = 8 + 17)
        expectError(
            &chunks, hex("668e33ef 0000 0001 \(Self.cookie) 00000019"),
            .chunkTooLarge(cookie: 0x0102_0304_0506_0708, .offsetData, length: 25, limit: 24))
        chunks.feed([UInt8](repeating: 0, count: 25) + Self.none.encoded)
        XCTAssertEqual(try chunks.next(), .chunk(Self.none))
        // 16 data bytes are within the limit.
        let data = StructuredChunk(cookie: 2, body: .offsetData(offset: 0, dataLength: 16))
        chunks.feed(data.encoded + [UInt8](repeating: 7, count: 16))
        XCTAssertEqual(try chunks.next(), .chunk(data))
        XCTAssertEqual(chunks.takePayload(), [UInt8](repeating: 7, count: 16))
    }

    func testMalformedChunks() throws {
        try expectInvalidChunk(0x0000, "00", "1 bytes left over after NBD_REPLY_TYPE_NONE, which carries no payload")
        try expectInvalidChunk(0x0001, "0000000000000000", "length 8 is less than 9")
        try expectInvalidChunk(0x0001, "", "length 0 is less than 9")
        try expectInvalidChunk(
            0x0002, "0000000000000000 00000001 00", "1 bytes left over after NBD_REPLY_TYPE_OFFSET_HOLE")
        try expectInvalidChunk(0x0002, "0000000000000000 0000", "hole size runs past the end of the data")
        try expectInvalidChunk(0x0002, "0000000000000000 00000000", "hole size is 0")
        try expectInvalidChunk(0x0005, "00000001", "0 bytes of descriptors, not a positive multiple of 8")
        try expectInvalidChunk(
            0x0005, "00000001 00001000 000000", "7 bytes of descriptors, not a positive multiple of 8")
        try expectInvalidChunk(0x0005, "00000001 00001000 00000000 00000000 00000001", "extent 1 has length 0")
        try expectInvalidChunk(0x0005, "000000", "context ID runs past the end of the data")
        try expectInvalidChunk(0x8001, "00000016 0005 626164", "message runs past the end of the data")
        try expectInvalidChunk(0x8001, "00000000 0000", "error value is 0")
        try expectInvalidChunk(0x8001, "00000016 0000 ff", "1 bytes left over after the error message")
        try expectInvalidChunk(0x8001, "00000016", "message length runs past the end of the data")
        try expectInvalidChunk(0x8002, "00000005 0000 00000000", "error offset runs past the end of the data")
    }

    func testMalformedOptionReplies() throws {
        try expectInvalidReply(.ack, "00", "1 bytes left over after NBD_REP_ACK, which carries no data")
        try expectInvalidReply(.server, "00000005 626f6f74", "export name runs past the end of the data")
        try expectInvalidReply(.info, "0000 0000000000100000", "transmission flags runs past the end of the data")
        try expectInvalidReply(.info, "0000 0000000000100000 0001 00", "1 bytes left over after NBD_INFO_EXPORT")
        try expectInvalidReply(.info, "0003 00000001 00001000", "maximum payload size runs past the end of the data")
        try expectInvalidReply(
            .info, "0003 00000001 00001000 02000000 00", "1 bytes left over after NBD_INFO_BLOCK_SIZE")
        try expectInvalidReply(.info, "00", "information type runs past the end of the data")
        try expectInvalidReply(.info, "0001 626f00", "export name contains a NUL byte")
        try expectInvalidReply(.metaContext, "000000", "context ID runs past the end of the data")
        try expectInvalidReply(.metaContext, "00000001 ff", "context name is not valid UTF-8")
    }

    func testHumanTextIsDecodedLeniently() throws {
        // An error message with invalid UTF-8 still reports the error (U+FFFD for the bad byte).
        var decoder = ServerMessageDecoder(phase: .optionReplies)
        decoder.feed(hex("0003e889045565a9 00000007 80000006 00000003 6e6fff"))
        XCTAssertEqual(
            try decoder.next(), .optionReply(OptionReply(option: .go, body: .error(.errUnknown, message: "no\u{fffd}")))
        )
    }

    func testPayloadMustBeTakenBeforeTheNextMessage() throws {
        var decoder = ServerMessageDecoder(phase: .transmission)
        let data = StructuredChunk(cookie: 2, body: .offsetData(offset: 0, dataLength: 4))
        decoder.feed(data.encoded + [1, 2, 3, 4] + Self.none.encoded)
        XCTAssertEqual(try decoder.next(), .chunk(data))
        XCTAssertThrowsError(try decoder.next()) { XCTAssertEqual($0 as? NBDWireError, .payloadPending(remaining: 4)) }
        XCTAssertFalse(NBDWireError.payloadPending(remaining: 4).isFatal)
        XCTAssertEqual(decoder.takePayload(), [1, 2, 3, 4])
        XCTAssertEqual(try decoder.next(), .chunk(Self.none))
    }

    func testErrorMessagesNameWhatWentWrong() {
        XCTAssertEqual(
            NBDWireError.badMagic(expected: UInt64(NBDMagic.request), found: 0xdead_beef).description,
            "NBD: expected a request (NBD_REQUEST_MAGIC) with magic 0x25609513, found 0xdeadbeef")
        XCTAssertEqual(
            NBDWireError.optionTooLarge(.go, length: 70000, limit: 65536).description,
            "NBD: NBD_OPT_GO carries 70000 bytes of data, more than the limit of 65536")
        XCTAssertEqual(
            NBDWireError.invalidChunk(cookie: 5, .offsetHole, reason: "hole size is 0").description,
            "NBD: invalid NBD_REPLY_TYPE_OFFSET_HOLE chunk for cookie 5: hole size is 0")
    }
}
