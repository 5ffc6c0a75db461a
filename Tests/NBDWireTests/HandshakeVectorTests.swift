import NBDWire
import XCTest

/// Byte-exact handshake vectors typed by hand from proto.md (field by field, not produced by the
/// encoder): each must decode to the expected message, whole and one byte at a time, and the
/// message must encode back to the same bytes.
final class HandshakeVectorTests: XCTestCase {
    func checkClient(
        _ vector: String, _ expected: ClientMessage, phase: ClientMessageDecoder.Phase = .options,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        assertDecodes(
            { ClientMessageDecoder(phase: phase) }, hex(vector), [.message(expected, payload: [])], file: file,
            line: line)
        XCTAssertEqual(expected.encoded, hex(vector), "encoding", file: file, line: line)
    }

    func checkServer(
        _ vector: String, _ expected: ServerMessage, phase: ServerMessageDecoder.Phase = .optionReplies,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        assertDecodes(
            { ServerMessageDecoder(phase: phase) }, hex(vector), [.message(expected, payload: [])], file: file,
            line: line)
        XCTAssertEqual(expected.encoded, hex(vector), "encoding", file: file, line: line)
    }

    func testGreetingAndClientFlags() {
        // NBDMAGIC | IHAVEOPT | handshake flags FIXED_NEWSTYLE (bit 0) + NO_ZEROES (bit 1)
        checkServer("4e42444d41474943 | 49484156454f5054 | 0003", .greeting(ServerGreeting()), phase: .greeting)
        checkServer(
            "4e42444d41474943 | 49484156454f5054 | 0001", .greeting(ServerGreeting(flags: .fixedNewstyle)),
            phase: .greeting)
        // client flags C_FIXED_NEWSTYLE + C_NO_ZEROES
        checkClient("00000003", .clientFlags([.fixedNewstyle, .noZeroes]), phase: .clientFlags)
        checkClient("00000000", .clientFlags([]), phase: .clientFlags)
    }

    func testExportNameAbortListStructuredReply() {
        // IHAVEOPT | NBD_OPT_EXPORT_NAME (1) | length 4 | "boot"
        checkClient("49484156454f5054 | 00000001 | 00000004 | 626f6f74", .option(.exportName("boot")))
        // the default export: empty name
        checkClient("49484156454f5054 | 00000001 | 00000000", .option(.exportName("")))
        // NBD_OPT_ABORT (2), NBD_OPT_LIST (3), NBD_OPT_STRUCTURED_REPLY (8): no data
        checkClient("49484156454f5054 | 00000002 | 00000000", .option(.abort))
        checkClient("49484156454f5054 | 00000003 | 00000000", .option(.list))
        checkClient("49484156454f5054 | 00000008 | 00000000", .option(.structuredReply))
    }

    func testInfoAndGo() {
        // NBD_OPT_INFO (6) | length 12 | name length 4 | "boot" | 1 request | NBD_INFO_BLOCK_SIZE (3)
        checkClient(
            "49484156454f5054 | 00000006 | 0000000c | 00000004 | 626f6f74 | 0001 | 0003",
            .option(.info(ExportRequest(name: "boot", infoRequests: [.blockSize]))))
        // NBD_OPT_GO (7) | length 6 | empty name | no requests
        checkClient("49484156454f5054 | 00000007 | 00000006 | 00000000 | 0000", .option(.go(ExportRequest(name: ""))))
        // NBD_OPT_GO | length 15 | name length 1 | "x" | 4 requests: 0, 1, 2, 3
        checkClient(
            "49484156454f5054 | 00000007 | 0000000f | 00000001 | 78 | 0004 | 0000 0001 0002 0003",
            .option(.go(ExportRequest(name: "x", infoRequests: [.export, .name, .description, .blockSize]))))
    }

    func testMetaContextOptions() {
        // NBD_OPT_LIST_META_CONTEXT (9) | length 18 | name length 1 | "x" | 1 query | length 5 | "base:"
        checkClient(
            "49484156454f5054 | 00000009 | 00000012 | 00000001 | 78 | 00000001 | 00000005 | 626173653a",
            .option(.listMetaContext(MetaContextRequest(exportName: "x", queries: ["base:"]))))
        // NBD_OPT_SET_META_CONTEXT (10) | length 68 | "boot@upgrade" | 2 queries:
        // "base:allocation" (15), "qemu:dirty-bitmap:upgrade" (25)
        checkClient(
            """
            49484156454f5054 | 0000000a | 00000044 | 0000000c | 626f6f744075706772616465 | 00000002
            | 0000000f | 626173653a616c6c6f636174696f6e
            | 00000019 | 71656d753a64697274792d6269746d61703a75706772616465
            """,
            .option(
                .setMetaContext(
                    MetaContextRequest(
                        exportName: "boot@upgrade",
                        queries: ["base:allocation", "qemu:dirty-bitmap:upgrade"]))))
        // zero queries: list everything
        checkClient(
            "49484156454f5054 | 00000009 | 00000009 | 00000001 | 78 | 00000000",
            .option(.listMetaContext(MetaContextRequest(exportName: "x", queries: []))))
    }

    func testUnknownOptionsKeepTheirData() {
        // NBD_OPT_STARTTLS (5), no data; NBD_OPT_EXTENDED_HEADERS (11); an unknown code 0x2a with 2 bytes
        checkClient("49484156454f5054 | 00000005 | 00000000", .option(.other(.startTLS, data: [])))
        checkClient("49484156454f5054 | 0000000b | 00000000", .option(.other(.extendedHeaders, data: [])))
        checkClient(
            "49484156454f5054 | 0000002a | 00000002 | 0102", .option(.other(NBDOption(rawValue: 42), data: [1, 2])))
    }

    func testAckServerAndMetaContextReplies() {
        // NBD_REP_ACK (1) to NBD_OPT_LIST (3), no data
        checkServer(
            replyHeader(option: "00000003", type: "00000001", length: "00000000"),
            .optionReply(OptionReply(option: .list, body: .ack)))
        // NBD_REP_SERVER (2): name length 4 | "boot" | no details
        checkServer(
            replyHeader(option: "00000003", type: "00000002", length: "00000008") + "00000004 626f6f74",
            .optionReply(OptionReply(option: .list, body: .server(name: "boot", details: ""))))
        // ... with details "x"
        checkServer(
            replyHeader(option: "00000003", type: "00000002", length: "00000009") + "00000004 626f6f74 78",
            .optionReply(OptionReply(option: .list, body: .server(name: "boot", details: "x"))))
        // NBD_REP_META_CONTEXT (4) to SET_META_CONTEXT (10): id 1 | "base:allocation"
        checkServer(
            replyHeader(option: "0000000a", type: "00000004", length: "00000013")
                + "00000001 626173653a616c6c6f636174696f6e",
            .optionReply(OptionReply(option: .setMetaContext, body: .metaContext(id: 1, name: "base:allocation"))))
    }

    func testInfoReplies() {
        // NBD_REP_INFO (3) to NBD_OPT_GO (7), NBD_INFO_EXPORT: size 1 MiB, flags HAS_FLAGS|SEND_FLUSH|
        // SEND_FUA|SEND_TRIM|SEND_WRITE_ZEROES|CAN_MULTI_CONN = 0x0001+0x0004+0x0008+0x0020+0x0040+0x0100
        checkServer(
            replyHeader(option: "00000007", type: "00000003", length: "0000000c") + "0000 | 0000000000100000 | 016d",
            .optionReply(
                OptionReply(
                    option: .go,
                    body: .info(
                        .export(
                            size: 1 << 20,
                            flags: [.hasFlags, .sendFlush, .sendFUA, .sendTrim, .sendWriteZeroes, .canMultiConn])))))
        // NBD_INFO_NAME (1) "boot"; NBD_INFO_DESCRIPTION (2) "disk"
        checkServer(
            replyHeader(option: "00000006", type: "00000003", length: "00000006") + "0001 | 626f6f74",
            .optionReply(OptionReply(option: .info, body: .info(.name("boot")))))
        checkServer(
            replyHeader(option: "00000006", type: "00000003", length: "00000006") + "0002 | 6469736b",
            .optionReply(OptionReply(option: .info, body: .info(.description("disk")))))
        // NBD_INFO_BLOCK_SIZE (3): minimum 1, preferred 4096, maximum 32 MiB
        checkServer(
            replyHeader(option: "00000007", type: "00000003", length: "0000000e")
                + "0003 | 00000001 | 00001000 | 02000000",
            .optionReply(
                OptionReply(
                    option: .go,
                    body: .info(.blockSize(BlockSizeConstraints(minimum: 1, preferred: 4096, maximum: 32 << 20))))))
        // an unknown information type 9 with 1 byte
        checkServer(
            replyHeader(option: "00000007", type: "00000003", length: "00000003") + "0009 | ff",
            .optionReply(OptionReply(option: .go, body: .info(.other(NBDInfo(rawValue: 9), data: [0xff])))))
    }

    func testErrorReplies() {
        // every NBD_REP_ERR_* (2^31 + 1 … 2^31 + 10) to NBD_OPT_GO, message "no" (6e6f)
        let types: [OptionReplyType] = [
            .errUnsup, .errPolicy, .errInvalid, .errPlatform, .errTLSReqd, .errUnknown,
            .errShutdown, .errBlockSizeReqd, .errTooBig, .errExtHeaderReqd,
        ]
        for (i, type) in types.enumerated() {
            let code = "800000" + (i + 1 < 16 ? "0" : "") + String(i + 1, radix: 16)
            checkServer(
                replyHeader(option: "00000007", type: code, length: "00000002") + "6e6f",
                .optionReply(OptionReply(option: .go, body: .error(type, message: "no"))))
        }
        // an error with no message; an unknown non-error reply type 77 with its data kept
        checkServer(
            replyHeader(option: "00000005", type: "80000001", length: "00000000"),
            .optionReply(OptionReply(option: .startTLS, body: .error(.errUnsup, message: ""))))
        checkServer(
            replyHeader(option: "00000005", type: "0000004d", length: "00000001") + "07",
            .optionReply(OptionReply(option: .startTLS, body: .other(OptionReplyType(rawValue: 77), data: [7]))))
    }

    func testExportNameReply() {
        // size 1 MiB | flags HAS_FLAGS|READ_ONLY = 0x0003 | 124 zeroes
        let zeroes = String(repeating: "00", count: 124)
        checkServer(
            "0000000000100000 | 0003 | " + zeroes,
            .exportNameReply(ExportNameReply(size: 1 << 20, flags: [.hasFlags, .readOnly], zeroPadding: true)),
            phase: .exportNameReply(zeroPadding: true))
        checkServer(
            "0000000000100000 | 0003",
            .exportNameReply(ExportNameReply(size: 1 << 20, flags: [.hasFlags, .readOnly], zeroPadding: false)),
            phase: .exportNameReply(zeroPadding: false))
    }

    func testGoAckEntersTransmissionOnTheClientSide() {
        var decoder = ServerMessageDecoder(phase: .optionReplies)
        // NBD_REP_ACK to NBD_OPT_INFO keeps negotiating; NBD_REP_ACK to NBD_OPT_GO starts transmission
        decoder.feed(hex(replyHeader(option: "00000006", type: "00000001", length: "00000000")))
        XCTAssertEqual(try decoder.next(), .optionReply(OptionReply(option: .info, body: .ack)))
        XCTAssertEqual(decoder.phase, .optionReplies)
        decoder.feed(hex(replyHeader(option: "00000007", type: "00000001", length: "00000000")))
        XCTAssertEqual(try decoder.next(), .optionReply(OptionReply(option: .go, body: .ack)))
        XCTAssertEqual(decoder.phase, .transmission)
    }

    func testExportNameEntersTransmissionOnTheServerSide() {
        var decoder = ClientMessageDecoder(phase: .options)
        decoder.feed(
            hex("49484156454f5054 00000001 00000000 | 25609513 0000 0003 0000000000000001 0000000000000000 00000000"))
        XCTAssertEqual(try decoder.next(), .option(.exportName("")))
        XCTAssertEqual(try decoder.next(), .request(NBDRequest(command: .flush, cookie: 1, offset: 0, length: 0)))
    }
}
