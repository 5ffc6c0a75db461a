import NBDWire
import XCTest

/// Seeded random round trips of every message kind: encode, then decode whole, one byte at a
/// time and in random pieces — always the same message and payload back, every byte consumed —
/// and every truncation of a message only ever asks for more bytes.
final class RoundTripTests: XCTestCase {
    static let count = 400

    /// Decodes `bytes` whole, byte by byte and in random pieces; each must give `expected`.
    func check<D: NBDStreamDecoding>(
        _ make: () -> D, _ bytes: [UInt8], _ expected: [Decoded<D.Message>],
        random: inout SeededRandom, after: (inout D, D.Message) -> Void = { _, _ in },
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let randomPieces = (0..<16).map { _ in Int.random(in: 1...64, using: &random) }
        assertDecodes(
            make, bytes, expected, pieces: [[Int.max], [1], randomPieces], after: after, file: file, line: line)
    }

    func testOptions() {
        var gen = MessageGenerator(seed: 1)
        for _ in 0..<Self.count {
            let option = gen.option()
            check(
                { ClientMessageDecoder(phase: .options) }, option.encoded, [.message(.option(option), payload: [])],
                random: &gen.random)
        }
    }

    func testRequestsWithWritePayloads() {
        var gen = MessageGenerator(seed: 2)
        for _ in 0..<Self.count {
            let request = gen.request()
            let payload = gen.bytes(request.payloadLength...request.payloadLength)
            check(
                { ClientMessageDecoder(phase: .transmission) }, request.encoded + payload,
                [.message(.request(request), payload: payload)], random: &gen.random)
        }
    }

    func testGreetingsFlagsAndExportNameReplies() {
        var gen = MessageGenerator(seed: 3)
        for _ in 0..<Self.count {
            let greeting = ServerGreeting(flags: HandshakeFlags(rawValue: gen.u16()))
            check(
                { ServerMessageDecoder() }, greeting.encoded, [.message(.greeting(greeting), payload: [])],
                random: &gen.random)
            let flags = ClientFlags(rawValue: UInt32(gen.int(0...3)))
            check(
                { ClientMessageDecoder() }, flags.encoded, [.message(.clientFlags(flags), payload: [])],
                random: &gen.random)
            let reply = ExportNameReply(
                size: gen.u64(), flags: TransmissionFlags(rawValue: gen.u16()), zeroPadding: gen.bool())
            check(
                { ServerMessageDecoder(phase: .exportNameReply(zeroPadding: reply.zeroPadding)) }, reply.encoded,
                [.message(.exportNameReply(reply), payload: [])], random: &gen.random)
        }
    }

    func testOptionReplies() {
        var gen = MessageGenerator(seed: 4)
        for _ in 0..<Self.count {
            let reply = gen.optionReply()
            check(
                { ServerMessageDecoder(phase: .optionReplies) }, reply.encoded,
                [.message(.optionReply(reply), payload: [])], random: &gen.random)
        }
    }

    func testRepliesAndChunksWithReadData() {
        var gen = MessageGenerator(seed: 5)
        for _ in 0..<Self.count {
            let (reply, payload) = gen.reply()
            check(
                { ServerMessageDecoder(phase: .transmission) }, reply.encoded + payload,
                [.message(reply, payload: payload)],
                random: &gen.random, after: expectReads { _ in payload.count })
        }
    }

    /// A whole connection as a client sends it — flags, options, GO, requests with payloads —
    /// decoded in random pieces, the server switching to transmission when it accepts GO.
    func testWholeClientStream() {
        var gen = MessageGenerator(seed: 6)
        for _ in 0..<40 {
            var messages: [ClientMessage] = [.clientFlags([.fixedNewstyle, .noZeroes])]
            for _ in 0..<gen.int(0...6) {
                var option = gen.option()
                while [NBDOption.exportName, .go].contains(option.code) { option = gen.option() }
                messages.append(.option(option))
            }
            messages.append(.option(.go(gen.exportRequest())))
            var expected = messages.map { Decoded.message($0, payload: []) }
            var bytes = messages.flatMap(\.encoded)
            for _ in 0..<gen.int(0...20) {
                let request = gen.request(maxWrite: 5000)
                let payload = gen.bytes(request.payloadLength...request.payloadLength)
                bytes += request.encoded + payload
                expected.append(.message(.request(request), payload: payload))
            }
            check({ ClientMessageDecoder() }, bytes, expected, random: &gen.random, after: acceptGo)
        }
    }

    /// A whole connection as a server sends it — greeting, option replies, GO's ACK, replies and
    /// chunks with READ data — decoded in random pieces.
    func testWholeServerStream() {
        var gen = MessageGenerator(seed: 7)
        for _ in 0..<40 {
            var messages: [ServerMessage] = [.greeting(ServerGreeting())]
            for _ in 0..<gen.int(0...6) { messages.append(.optionReply(gen.optionReply())) }
            messages.append(.optionReply(OptionReply(option: .go, body: .ack)))
            var expected = messages.map { Decoded.message($0, payload: []) }
            var bytes = messages.flatMap(\.encoded)
            var readLengths: [UInt64: Int] = [:]
            for _ in 0..<gen.int(0...20) {
                let (reply, payload) = gen.reply()
                if case .simpleReply(let simple) = reply { readLengths[simple.cookie] = payload.count }
                bytes += reply.encoded + payload
                expected.append(.message(reply, payload: payload))
            }
            check(
                { ServerMessageDecoder() }, bytes, expected, random: &gen.random, after: expectReads { readLengths[$0] }
            )
        }
    }

    /// Every proper prefix of a message's header returns nil (more bytes needed) and takes nothing.
    func testTruncatedMessagesAskForMoreBytes() throws {
        var gen = MessageGenerator(seed: 8)
        for _ in 0..<100 {
            let clientSide: [(ClientMessageDecoder.Phase, [UInt8])] = [
                (.clientFlags, ClientFlags.fixedNewstyle.encoded), (.options, gen.option().encoded),
                (.transmission, gen.request().encoded),
            ]
            for (phase, bytes) in clientSide {
                for cut in 0..<bytes.count {
                    var decoder = ClientMessageDecoder(phase: phase)
                    decoder.feed(bytes.prefix(cut))
                    XCTAssertNil(try decoder.next(), "\(phase) cut at \(cut) of \(bytes.count)")
                    XCTAssertEqual(decoder.bytesConsumed, 0)
                }
            }
            let (reply, _) = gen.reply()
            let serverSide: [(ServerMessageDecoder.Phase, [UInt8])] = [
                (.greeting, ServerGreeting().encoded), (.optionReplies, gen.optionReply().encoded),
                (.transmission, reply.encoded),
                (
                    .exportNameReply(zeroPadding: true),
                    ExportNameReply(size: 1, flags: .hasFlags, zeroPadding: true).encoded
                ),
            ]
            for (phase, bytes) in serverSide {
                for cut in 0..<bytes.count {
                    var decoder = ServerMessageDecoder(phase: phase)
                    decoder.feed(bytes.prefix(cut))
                    XCTAssertNil(try decoder.next(), "\(phase) cut at \(cut) of \(bytes.count)")
                    XCTAssertEqual(decoder.bytesConsumed, 0)
                }
            }
        }
    }

    /// A truncated payload is never handed over as complete: `takePayload` waits for all of it.
    func testTruncatedPayloadIsNotTaken() throws {
        let request = NBDRequest(command: .write, cookie: 9, offset: 0, length: 100)
        let payload = [UInt8](repeating: 0x5a, count: 100)
        var decoder = ClientMessageDecoder(phase: .transmission)
        decoder.feed(request.encoded + payload.prefix(99))
        XCTAssertEqual(try decoder.next(), .request(request))
        XCTAssertEqual(decoder.payloadRemaining, 100)
        XCTAssertNil(decoder.takePayload())
        XCTAssertThrowsError(try decoder.next()) {
            XCTAssertEqual($0 as? NBDWireError, .payloadPending(remaining: 100))
        }
        decoder.feed(payload.suffix(1))
        XCTAssertEqual(decoder.takePayload(), payload)
        XCTAssertNil(try decoder.next())
    }
}
