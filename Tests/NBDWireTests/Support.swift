import NBDWire
import XCTest

/// Bytes from hex digits; spaces, newlines and `|` only separate fields for the reader.
func hex(_ text: String) -> [UInt8] {
    let digits = text.filter { $0.isHexDigit }
    precondition(digits.count % 2 == 0, "odd number of hex digits in \(text)")
    var bytes: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        bytes.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

/// The 20-byte option reply header, typed by hand: NBD_REP_MAGIC, option, reply type, length.
func replyHeader(option: String, type: String, length: String) -> String {
    "0003e889045565a9 \(option) \(type) \(length)"
}

/// SplitMix64: a tiny seeded generator, so every random test replays the same way.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// One decoded item of a stream: a message with the payload that followed it, or an error.
enum Decoded<Message: Hashable>: Hashable {
    case message(Message, payload: [UInt8])
    case error(NBDWireError)
}

/// Feeds `bytes` in the pieces `sizes` gives (cycled) and decodes everything, taking each payload
/// as it arrives with `readPayload(into:)`. `afterMessage` lets the test act as the peer would
/// (set a phase, expect a READ's data). Stops at the first fatal error.
func decodeAll<D: NBDStreamDecoding>(
    _ decoder: inout D, _ bytes: [UInt8], pieces sizes: [Int] = [Int.max],
    afterMessage: (inout D, D.Message) -> Void = { _, _ in }
) -> [Decoded<D.Message>] {
    var out: [Decoded<D.Message>] = []
    var position = 0
    var piece = 0
    var pending: (D.Message, [UInt8])?
    func settle(_ decoder: inout D) -> Bool {
        guard let (message, payload) = pending else { return true }
        var chunk = [UInt8](repeating: 0, count: decoder.payloadRemaining)
        let got = chunk.withUnsafeMutableBytes { decoder.readPayload(into: $0) }
        pending = (message, payload + chunk.prefix(got))
        guard decoder.payloadRemaining == 0 else { return false }
        out.append(.message(message, payload: payload + chunk.prefix(got)))
        pending = nil
        return true
    }
    while true {
        drain: while settle(&decoder) {
            do throws(NBDWireError) {
                guard let message = try decoder.next() else { break drain }
                afterMessage(&decoder, message)
                pending = (message, [])
            } catch {
                out.append(.error(error))
                if error.isFatal { return out }
            }
        }
        guard position < bytes.count else { break }
        let size = min(sizes[piece % sizes.count], bytes.count - position)
        decoder.feed(bytes[position..<position + size])
        position += size
        piece += 1
    }
    return out
}

/// Decodes `bytes` with a fresh decoder once per way of cutting them into pieces (default: whole,
/// then one byte at a time); each way must give `expected` and consume every byte.
func assertDecodes<D: NBDStreamDecoding>(
    _ make: () -> D, _ bytes: [UInt8], _ expected: [Decoded<D.Message>],
    pieces: [[Int]] = [[Int.max], [1]], after: (inout D, D.Message) -> Void = { _, _ in },
    file: StaticString = #filePath, line: UInt = #line
) {
    for sizes in pieces {
        var decoder = make()
        XCTAssertEqual(
            decodeAll(&decoder, bytes, pieces: sizes, afterMessage: after), expected, "pieces \(sizes)", file: file,
            line: line)
        XCTAssertEqual(decoder.bytesConsumed, UInt64(bytes.count), "pieces \(sizes)", file: file, line: line)
    }
}

/// What a client does on a server's stream: a simple reply to a READ of `readLength(cookie)`
/// bytes announces that many bytes of data.
func expectReads(_ readLength: @escaping (UInt64) -> Int?) -> (inout ServerMessageDecoder, ServerMessage) -> Void {
    { decoder, message in
        if case .simpleReply(let reply) = message, reply.error == .ok, let count = readLength(reply.cookie) {
            decoder.expectPayload(count)
        }
    }
}

/// What a server does on a client's stream: answer NBD_OPT_GO with NBD_REP_ACK (transmission).
func acceptGo(_ decoder: inout ClientMessageDecoder, _ message: ClientMessage) {
    if case .option(.go) = message { decoder.phase = .transmission }
}
