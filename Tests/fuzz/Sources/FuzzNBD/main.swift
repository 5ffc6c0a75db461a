import NBDWire

// The NBD wire decoders on arbitrary bytes, as a hostile client or server would send them:
// the server-side decoder from each of its phases, the client-side decoder from each of its
// phases. Beyond "never trap", two oracles:
//  - decoding the bytes whole and in small pieces gives the same messages, payloads and errors;
//  - every decoded message encodes to bytes that decode to the same message (and, on the
//    strictly decoded client side, to exactly the bytes it was read from).
// Small limits, so the skip paths for oversized options, WRITEs and chunks are reached too.

let limits = NBDLimits(maxOptionData: 1024, maxPayload: 16 << 10, maxChunkPayload: 1024)

enum Item<Message: Hashable>: Hashable {
    case message(Message, payload: [UInt8])
    case error(NBDWireError)
}

/// Decodes `bytes` fed in `pieces` (cycled). `react` plays the peer after each message; `check`
/// sees each message with the phase it was decoded in and the bytes it consumed.
func run<D: NBDStreamDecoding, Phase>(
    _ decoder: D, _ bytes: [UInt8], pieces: [Int], phase: (D) -> Phase,
    react: (inout D, D.Message) -> Void,
    check: (Phase, D.Message, ArraySlice<UInt8>) -> Void
) -> [Item<D.Message>] {
    var decoder = decoder
    var items: [Item<D.Message>] = []
    var fed = 0
    var piece = 0
    var pending: (D.Message, [UInt8])?
    while true {
        while true {
            if let (message, payload) = pending {
                var chunk = [UInt8](repeating: 0, count: decoder.payloadRemaining)
                let got = chunk.withUnsafeMutableBytes { decoder.readPayload(into: $0) }
                pending = (message, payload + chunk.prefix(got))
                guard decoder.payloadRemaining == 0 else { break }
                items.append(.message(message, payload: payload + chunk.prefix(got)))
                pending = nil
            }
            let (before, start) = (phase(decoder), Int(decoder.bytesConsumed))
            do throws(NBDWireError) {
                guard let message = try decoder.next() else { break }
                check(before, message, bytes[start..<Int(decoder.bytesConsumed)])
                react(&decoder, message)
                pending = (message, [])
            } catch {
                items.append(.error(error))
                if error.isFatal { return items }
            }
        }
        guard fed < bytes.count else { return items }
        let size = min(pieces[piece % pieces.count], bytes.count - fed)
        decoder.feed(bytes[fed..<fed + size])
        fed += size
        piece += 1
    }
}

/// Runs both ways and demands the same result.
func differential<D: NBDStreamDecoding, Phase>(
    _ make: @autoclosure () -> D, _ bytes: [UInt8], phase: (D) -> Phase,
    react: (inout D, D.Message) -> Void,
    check: (Phase, D.Message, ArraySlice<UInt8>) -> Void
) {
    let pieces = (0..<8).map { 1 + Int(bytes.isEmpty ? 0 : bytes[$0 % bytes.count]) % 13 }
    let whole = run(make(), bytes, pieces: [Int.max], phase: phase, react: react, check: check)
    let split = run(make(), bytes, pieces: pieces, phase: phase, react: react, check: { _, _, _ in })
    precondition(whole == split, "decoding in pieces \(pieces) differs from decoding whole")
}

/// Re-encodes a message and decodes it again from the same phase: the same message must come back.
func reencode<D: NBDStreamDecoding>(_ fresh: D, _ message: D.Message, exactly original: ArraySlice<UInt8>?)
where D.Message: NBDEncodable {
    var decoder = fresh
    let bytes = message.encoded
    if let original { precondition(bytes == Array(original), "\(message) re-encodes to different bytes") }
    decoder.feed(bytes)
    let again = try? decoder.next()
    precondition(again == message, "\(message) re-decodes as \(String(describing: again))")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for phase in [ClientMessageDecoder.Phase.clientFlags, .options, .transmission] {
        differential(
            ClientMessageDecoder(limits: limits, phase: phase), bytes, phase: \.phase,
            react: { decoder, message in
                if case .option(.go) = message { decoder.phase = .transmission }  // as if the server accepted GO
            },
            check: { before, message, consumed in
                // ABORT ignores any data sent with it, so only its decoding round-trips.
                let exact = message != .option(.abort)
                reencode(ClientMessageDecoder(phase: before), message, exactly: exact ? consumed : nil)
            })
    }
    let serverPhases: [ServerMessageDecoder.Phase] = [
        .greeting, .optionReplies, .exportNameReply(zeroPadding: true),
        .exportNameReply(zeroPadding: false), .transmission,
    ]
    for phase in serverPhases {
        differential(
            ServerMessageDecoder(limits: limits, phase: phase), bytes, phase: \.phase,
            react: { decoder, message in
                // A simple reply is taken as the answer to a READ of (cookie mod 1024) bytes.
                if case .simpleReply(let reply) = message, reply.error == .ok {
                    decoder.expectPayload(Int(reply.cookie % 1024))
                }
            },
            check: { before, message, _ in
                // Text for humans is decoded leniently (a bad byte becomes 3 bytes of U+FFFD), so compare
                // messages rather than bytes, and re-decode with the default, larger limits.
                reencode(ServerMessageDecoder(phase: before), message, exactly: nil)
            })
    }
    return 0
}
