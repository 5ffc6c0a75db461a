import NBDWire
import XCTest

/// What a server's decoder does with a bad client: every bad magic, oversize and bad length
/// throws its own error; fatal ones stick, recoverable ones leave the stream usable.
final class ClientStreamErrorTests: XCTestCase {
    static let ihaveopt = "49484156454f5054"

    /// Feeds `bytes` and expects the next message to throw `expected`.
    func expectError(
        _ decoder: inout ClientMessageDecoder, _ bytes: [UInt8], _ expected: NBDWireError,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        decoder.feed(bytes)
        XCTAssertThrowsError(try decoder.next(), file: file, line: line) { error in
            XCTAssertEqual(error as? NBDWireError, expected, file: file, line: line)
            XCTAssertEqual((error as? NBDWireError)?.isFatal, expected.isFatal, file: file, line: line)
        }
    }

    /// An invalid option is consumed whole; the option after it decodes.
    func expectInvalidOption(
        _ code: String, _ data: String, _ reason: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let bytes = hex(data)
        var decoder = ClientMessageDecoder(phase: .options)
        let header = hex(Self.ihaveopt + code) + [0, 0, UInt8(bytes.count >> 8), UInt8(bytes.count & 0xff)]
        let option = NBDOption(rawValue: UInt32(hex(code).reduce(0) { $0 << 8 | Int($1) }))
        expectError(
            &decoder, header + bytes + ClientOption.list.encoded, .invalidOption(option, reason: reason), file: file,
            line: line)
        XCTAssertEqual(try decoder.next(), .option(.list), "the next option still decodes", file: file, line: line)
    }

    func testBadMagicIsFatalAndSticks() throws {
        var decoder = ClientMessageDecoder(phase: .options)
        // "IHAVEOPX": one byte off
        expectError(
            &decoder, hex("4948415645 4f5058 00000003 00000000"),
            .badMagic(expected: NBDMagic.ihaveopt, found: 0x4948_4156_454f_5058))
        // Everything after a fatal error is refused with the same error.
        expectError(
            &decoder, ClientOption.list.encoded, .badMagic(expected: NBDMagic.ihaveopt, found: 0x4948_4156_454f_5058))
        XCTAssertEqual(decoder.bufferedCount, 0, "bytes after a fatal error are not kept")

        var transmission = ClientMessageDecoder(phase: .transmission)
        expectError(
            &transmission, hex("25609514 0000 0000 0000000000000000 0000000000000000 00000000"),
            .badMagic(expected: UInt64(NBDMagic.request), found: 0x2560_9514))
        // A bad magic is reported as soon as its 4 bytes are in, before the rest of a header.
        var early = ClientMessageDecoder(phase: .transmission)
        expectError(&early, hex("deadbeef"), .badMagic(expected: UInt64(NBDMagic.request), found: 0xdead_beef))
    }

    func testExtendedRequestIsAClearProtocolError() {
        var decoder = ClientMessageDecoder(phase: .transmission)
        // NBD_EXTENDED_REQUEST_MAGIC: 32-byte header of an extension never negotiated here
        expectError(
            &decoder, hex("21e41c71 0000 0000 0000000000000001 0000000000000000 0000000000001000"),
            .extendedHeadersNotNegotiated(magic: NBDMagic.extendedRequest))
        XCTAssertTrue(
            NBDWireError.extendedHeadersNotNegotiated(magic: NBDMagic.extendedRequest).description.contains(
                "extended headers were not negotiated"))
    }

    func testClientFlagsMustMatchTheGreeting() throws {
        var unknown = ClientMessageDecoder()
        expectError(&unknown, hex("00000004"), .unsupportedClientFlags(ClientFlags(rawValue: 4)))
        // C_NO_ZEROES when the server did not offer NO_ZEROES
        var notOffered = ClientMessageDecoder(offered: .fixedNewstyle)
        expectError(&notOffered, hex("00000003"), .unsupportedClientFlags([.fixedNewstyle, .noZeroes]))
        var plain = ClientMessageDecoder(offered: .fixedNewstyle)
        plain.feed(hex("00000001"))
        XCTAssertEqual(try plain.next(), .clientFlags(.fixedNewstyle))
        XCTAssertEqual(plain.phase, .options)
    }

    func testOversizedOptionIsSkippedWithoutBuffering() throws {
        var decoder = ClientMessageDecoder(limits: NBDLimits(maxOptionData: 100), phase: .options)
        // NBD_OPT_GO with 101 bytes of data: refused at the header, before any data arrives
        expectError(&decoder, hex(Self.ihaveopt + "00000007 00000065"), .optionTooLarge(.go, length: 101, limit: 100))
        // Its data is dropped as it arrives, never held; then the stream goes on.
        decoder.feed([UInt8](repeating: 0xee, count: 60))
        XCTAssertNil(try decoder.next())
        XCTAssertEqual(decoder.bufferedCount, 0)
        decoder.feed([UInt8](repeating: 0xee, count: 41) + ClientOption.abort.encoded)
        XCTAssertEqual(try decoder.next(), .option(.abort))
        // The default limit is 64 KiB; a 4 GiB length is refused outright.
        var huge = ClientMessageDecoder(phase: .options)
        expectError(
            &huge, hex(Self.ihaveopt + "0000002a ffffffff"),
            .optionTooLarge(NBDOption(rawValue: 42), length: .max, limit: 64 << 10))
        XCTAssertEqual(huge.bufferedCount, 0)
    }

    func testStructurallyInvalidOptions() throws {
        // NBD_OPT_INFO: name length 5 past the option's end (only "boot" follows)
        try expectInvalidOption("00000006", "00000005 626f6f74", "export name runs past the end of the data")
        // NBD_OPT_GO: name length 0xffffffff — checked, never allocated
        try expectInvalidOption("00000007", "ffffffff 0000", "export name runs past the end of the data")
        // NBD_OPT_GO: 3 information requests announced, 1 present
        try expectInvalidOption(
            "00000007", "00000000 0003 0001", "list of 3 information requests runs past the end of the data")
        // NBD_OPT_GO: a byte left over after the list
        try expectInvalidOption("00000007", "00000000 0001 0003 ff", "1 bytes left over after the information requests")
        // NBD_OPT_GO: data too short for the request count
        try expectInvalidOption(
            "00000007", "00000000 00", "number of information requests runs past the end of the data")
        // NBD_OPT_LIST and NBD_OPT_STRUCTURED_REPLY with data
        try expectInvalidOption("00000003", "00", "NBD_OPT_LIST carries no data, but 1 bytes came with it")
        try expectInvalidOption(
            "00000008", "0000", "NBD_OPT_STRUCTURED_REPLY carries no data, but 2 bytes came with it")
        // SET_META_CONTEXT: 0xffffffff queries in 4 bytes — refused before reserving anything
        try expectInvalidOption(
            "0000000a", "00000000 ffffffff 00000000", "list of 4294967295 queries runs past the end of the data")
        // LIST_META_CONTEXT: a query length past the end
        try expectInvalidOption(
            "00000009", "00000000 00000001 00000010 62617365", "query runs past the end of the data")
        // SET_META_CONTEXT: data left after the queries
        try expectInvalidOption("0000000a", "00000000 00000000 00", "1 bytes left over after the queries")
        // names: NUL, invalid UTF-8, longer than 4096 bytes
        try expectInvalidOption("00000001", "626f00", "export name contains a NUL byte")
        try expectInvalidOption("00000006", "00000002 c328 0000", "export name is not valid UTF-8")
        try expectInvalidOption("00000009", "00000000 00000001 00000001 ff", "query is not valid UTF-8")
        try expectInvalidOption(
            "00000001", String(repeating: "61", count: 4097),
            "export name is 4097 bytes long, more than the 4096 allowed")
    }

    func testInvalidExportNameStaysInTheOptionPhase() throws {
        // The server cannot answer an invalid EXPORT_NAME; it must hang up, so nothing moves on.
        var decoder = ClientMessageDecoder(phase: .options)
        expectError(
            &decoder, hex(Self.ihaveopt + "00000001 00000001 00"),
            .invalidOption(.exportName, reason: "export name contains a NUL byte"))
        XCTAssertEqual(decoder.phase, .options)
    }

    func testOversizedWriteIsSkippedAndTheNextRequestDecodes() throws {
        var decoder = ClientMessageDecoder(limits: NBDLimits(maxPayload: 4096), phase: .transmission)
        let write = NBDRequest(flags: .fua, command: .write, cookie: 77, offset: 0, length: 4097)
        expectError(&decoder, write.encoded, .writeTooLarge(write, limit: 4096))
        decoder.feed([UInt8](repeating: 1, count: 4097))
        let flush = NBDRequest(command: .flush, cookie: 78, offset: 0, length: 0)
        decoder.feed(flush.encoded)
        XCTAssertEqual(try decoder.next(), .request(flush))
        XCTAssertEqual(decoder.bytesConsumed, UInt64(28 + 4097 + 28))
        // READ and TRIM lengths carry no payload: never refused by the codec (the server answers).
        let read = NBDRequest(command: .read, cookie: 79, offset: 0, length: .max)
        decoder.feed(read.encoded)
        XCTAssertEqual(try decoder.next(), .request(read))
        XCTAssertEqual(decoder.payloadRemaining, 0)
        // The default maximum is 32 MiB: one more byte is refused.
        var defaults = ClientMessageDecoder(phase: .transmission)
        let big = NBDRequest(command: .write, cookie: 1, offset: 0, length: (32 << 20) + 1)
        expectError(&defaults, big.encoded, .writeTooLarge(big, limit: 32 << 20))
        let max = NBDRequest(command: .write, cookie: 2, offset: 0, length: 32 << 20)
        var atLimit = ClientMessageDecoder(phase: .transmission)
        atLimit.feed(max.encoded)
        XCTAssertEqual(try atLimit.next(), .request(max))
        XCTAssertEqual(atLimit.payloadRemaining, 32 << 20)
    }
}
