import NBDWire

/// Random valid messages of every kind, from a seeded generator. "Valid" means what proto.md
/// allows on the wire, so that decode(encode(m)) must give back m exactly.
struct MessageGenerator {
    var random: SeededRandom
    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }
    mutating func u16() -> UInt16 { UInt16.random(in: 0...UInt16.max, using: &random) }
    mutating func u32() -> UInt32 { UInt32.random(in: 0...UInt32.max, using: &random) }
    mutating func u64() -> UInt64 { random.next() }
    mutating func bool() -> Bool { Bool.random(using: &random) }
    mutating func bytes(_ range: ClosedRange<Int>) -> [UInt8] {
        (0..<int(range)).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    /// A name proto.md allows: UTF-8 without NUL, mixing ASCII, accents, CJK and emoji.
    mutating func name(maxScalars: Int = 24) -> String {
        let alphabet: [Unicode.Scalar] = [
            "a", "z", "0", "@", ":", "-", "/", " ", "é", "ß", "日", "本", "😀", "\u{7f}", "\u{1}",
        ]
        var text = ""
        for _ in 0..<int(0...maxScalars) { text.unicodeScalars.append(alphabet[int(0...alphabet.count - 1)]) }
        return text
    }

    mutating func pick<T>(_ options: [T]) -> T { options[int(0...options.count - 1)] }

    // MARK: client → server

    mutating func exportRequest() -> ExportRequest {
        ExportRequest(name: name(), infoRequests: (0..<int(0...5)).map { _ in NBDInfo(rawValue: u16()) })
    }

    mutating func metaContextRequest() -> MetaContextRequest {
        MetaContextRequest(exportName: name(), queries: (0..<int(0...4)).map { _ in name() })
    }

    mutating func option() -> ClientOption {
        switch int(0...8) {
        case 0: .exportName(name())
        case 1: .abort
        case 2: .list
        case 3: .info(exportRequest())
        case 4: .go(exportRequest())
        case 5: .structuredReply
        case 6: .listMetaContext(metaContextRequest())
        case 7: .setMetaContext(metaContextRequest())
        default:
            // untyped codes only: STARTTLS, PEEK_EXPORT, EXTENDED_HEADERS or any code past them
            .other(
                pick([.startTLS, .peekExport, .extendedHeaders, NBDOption(rawValue: UInt32(int(12...Int(UInt32.max))))]
                ), data: bytes(0...40))
        }
    }

    mutating func request(maxWrite: Int = 600) -> NBDRequest {
        let command = pick([
            NBDCommand.read, .write, .disc, .flush, .trim, .cache, .writeZeroes, .blockStatus, .resize,
            NBDCommand(rawValue: u16()),
        ])
        let length = command == .write ? UInt32(int(0...maxWrite)) : u32()
        return NBDRequest(
            flags: CommandFlags(rawValue: u16()), command: command, cookie: u64(), offset: u64(), length: length)
    }

    // MARK: server → client

    mutating func infoItem() -> InfoItem {
        switch int(0...4) {
        case 0: .export(size: u64(), flags: TransmissionFlags(rawValue: u16()))
        case 1: .name(name())
        case 2: .description(name())
        case 3: .blockSize(BlockSizeConstraints(minimum: u32(), preferred: u32(), maximum: u32()))
        default: .other(NBDInfo(rawValue: UInt16(int(4...Int(UInt16.max)))), data: bytes(0...20))
        }
    }

    mutating func optionReply() -> OptionReply {
        let body: OptionReplyBody =
            switch int(0...5) {
            case 0: .ack
            case 1: .server(name: name(), details: name())
            case 2: .info(infoItem())
            case 3: .metaContext(id: u32(), name: name())
            case 4: .error(OptionReplyType(rawValue: OptionReplyType.errorBit | u32()), message: name())
            default: .other(OptionReplyType(rawValue: UInt32(int(5...Int(Int32.max)))), data: bytes(0...20))
            }
        // Never GO + ACK here: that one ends the option phase (tested on its own).
        let option = body == .ack ? pick([NBDOption.list, .info, .structuredReply]) : NBDOption(rawValue: u32())
        return OptionReply(option: option, body: body)
    }

    mutating func chunkBody(maxData: Int = 600) -> ChunkBody {
        switch int(0...6) {
        case 0: .none
        case 1: .offsetData(offset: u64(), dataLength: UInt32(int(1...maxData)))
        case 2: .offsetHole(offset: u64(), length: UInt32(int(1...Int(UInt32.max))))
        case 3:
            .blockStatus(
                contextID: u32(),
                extents: (0..<int(1...6)).map { _ in
                    BlockDescriptor(length: UInt32(int(1...Int(UInt32.max))), flags: u32())
                })
        case 4: .error(NBDErrno(rawValue: UInt32(int(1...Int(UInt32.max)))), message: name())
        case 5: .errorOffset(NBDErrno(rawValue: UInt32(int(1...Int(UInt32.max)))), message: name(), offset: u64())
        default:
            // untyped types only: BLOCK_STATUS_EXT, 3, 4, or past the known ones (error ones too)
            .other(
                pick([
                    ChunkType.blockStatusExt, ChunkType(rawValue: 3), ChunkType(rawValue: 4),
                    ChunkType(rawValue: 0x8003),
                    ChunkType(rawValue: UInt16(int(7...0x7fff))),
                ]), payload: bytes(0...30))
        }
    }

    /// A server message valid in the transmission phase, with the payload that follows it.
    mutating func reply() -> (ServerMessage, [UInt8]) {
        if bool() {
            let reply = SimpleReply(error: bool() ? .ok : NBDErrno(rawValue: u32()), cookie: u64())
            return (.simpleReply(reply), reply.error == .ok ? bytes(0...300) : [])
        }
        let chunk = StructuredChunk(flags: ReplyFlags(rawValue: u16()), cookie: u64(), body: chunkBody())
        if case .offsetData(_, let count) = chunk.body { return (.chunk(chunk), bytes(Int(count)...Int(count))) }
        return (.chunk(chunk), [])
    }
}
