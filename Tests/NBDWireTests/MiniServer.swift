import Foundation
import NBDWire

/// A minimal NBD server over an in-memory disk, written against NBDWire alone, so real clients
/// (nbdinfo, qemu-io, qemu-img) can prove the server half of the codec: option decoding with
/// recovery from invalid options, every reply encoder, WRITE payloads read straight from the
/// socket. One connection at a time, requests answered in order. Options in `refused` are
/// answered NBD_REP_ERR_UNSUP, to drive clients down their fallbacks (EXPORT_NAME, simple replies).
final class MiniServer: @unchecked Sendable {
    let size: Int
    let refused: Set<NBDOption>
    private let listener: UnixSocket
    private let lock = NSLock()
    private var disk: [UInt8]
    private var options: [NBDOption] = []
    static let flags: TransmissionFlags = [.hasFlags, .sendFlush, .sendFUA, .sendTrim, .sendWriteZeroes, .sendCache]
    static let contextID: UInt32 = 7

    init(path: String, size: Int, refused: Set<NBDOption> = []) throws {
        self.size = size
        self.refused = refused
        disk = [UInt8](repeating: 0, count: size)
        listener = try UnixSocket.listen(path)
        let thread = Thread { [self] in while let connection = try? listener.accept() { try? serve(connection) } }
        thread.start()
    }

    /// Stops accepting (the accept loop ends with the listener).
    func stop() { shutdown(listener.fd, Int32(SHUT_RDWR)) }

    var contents: [UInt8] { lock.withLock { disk } }
    /// Every option code clients sent, in order.
    var optionsSeen: [NBDOption] { lock.withLock { options } }

    private func serve(_ socket: UnixSocket) throws {
        try socket.send(ServerGreeting().encoded)
        var decoder = ClientMessageDecoder()
        guard let structured = try negotiate(socket, &decoder) else { return }
        while case .request(let request) = try socket.next(&decoder) {
            if request.command == .disc { return }
            try answer(request, socket, &decoder, structured: structured)
        }
    }

    /// Option haggling until transmission; the result says whether structured replies were agreed
    /// (nil when the client aborted).
    private func negotiate(_ socket: UnixSocket, _ decoder: inout ClientMessageDecoder) throws -> Bool? {
        var structured = false
        var noZeroes = false
        while true {
            let message: ClientMessage
            do {
                message = try socket.next(&decoder)
            } catch let error as NBDWireError {
                // A malformed option is answered and the next one read, as proto.md requires.
                guard case .invalidOption(let code, let reason) = error else { throw error }
                try socket.send(OptionReply(option: code, body: .error(.errInvalid, message: reason)).encoded)
                continue
            }
            guard case .option(let option) = message else {
                if case .clientFlags(let flags) = message { noZeroes = flags.contains(.noZeroes) }
                continue
            }
            lock.withLock { options.append(option.code) }
            if refused.contains(option.code) {
                try socket.send(
                    OptionReply(option: option.code, body: .error(.errUnsup, message: "not offered")).encoded)
                continue
            }
            var out: [UInt8] = []
            let reply = { (body: OptionReplyBody) in OptionReply(option: option.code, body: body).encode(into: &out) }
            switch option {
            case .exportName:
                try socket.send(ExportNameReply(size: UInt64(size), flags: Self.flags, zeroPadding: !noZeroes).encoded)
                return structured
            case .abort:
                try socket.send(OptionReply(option: .abort, body: .ack).encoded)
                return nil
            case .list: reply(.server(name: "", details: "the mini server's disk"))
            case .structuredReply: structured = true
            case .listMetaContext(let request), .setMetaContext(let request):
                if request.queries.contains(BaseAllocation.contextName) || request.queries.isEmpty {
                    reply(.metaContext(id: Self.contextID, name: BaseAllocation.contextName))
                }
            case .info, .go:
                reply(.info(.export(size: UInt64(size), flags: Self.flags)))
                reply(.info(.blockSize(BlockSizeConstraints(minimum: 1, preferred: 4096, maximum: 32 << 20))))
            case .other(let code, _):
                try socket.send(OptionReply(option: code, body: .error(.errUnsup, message: "unknown option")).encoded)
                continue
            }
            reply(.ack)
            try socket.send(out)
            if case .go = option {
                decoder.phase = .transmission
                return structured
            }
        }
    }

    private func answer(
        _ request: NBDRequest, _ socket: UnixSocket, _ decoder: inout ClientMessageDecoder, structured: Bool
    ) throws {
        let payload = request.command == .write ? try socket.payload(&decoder) : []
        let start = Int(request.offset)
        let end = Int(request.offset) + Int(request.length)
        guard request.offset <= UInt64(size), end <= size else {
            let chunk = StructuredChunk(
                flags: .done, cookie: request.cookie, body: .error(.einval, message: "beyond the end of the disk"))
            try socket.send(structured ? chunk.encoded : SimpleReply(error: .einval, cookie: request.cookie).encoded)
            return
        }
        switch request.command {
        case .read:
            // Header then data, the data not copied into the header's buffer.
            let header =
                structured
                ? StructuredChunk(
                    flags: .done, cookie: request.cookie,
                    body: .offsetData(offset: request.offset, dataLength: request.length)
                ).encoded
                : SimpleReply(cookie: request.cookie).encoded
            try socket.send(header)
            try socket.send(lock.withLock { Array(disk[start..<end]) })
        case .blockStatus:
            let extents = blockStatus(from: start, to: end, one: request.flags.contains(.reqOne))
            try socket.send(
                StructuredChunk(
                    flags: .done, cookie: request.cookie,
                    body: .blockStatus(contextID: Self.contextID, extents: extents)
                ).encoded)
        default:
            lock.withLock {
                if request.command == .write { disk.replaceSubrange(start..<end, with: payload) }
                if request.command == .writeZeroes || request.command == .trim {
                    disk.replaceSubrange(start..<end, with: repeatElement(0, count: end - start))
                }
            }
            try socket.send(SimpleReply(cookie: request.cookie).encoded)
        }
    }

    /// base:allocation by 4 KiB blocks: an all-zero block is reported as a zero hole.
    private func blockStatus(from start: Int, to end: Int, one: Bool) -> [BlockDescriptor] {
        var extents: [BlockDescriptor] = []
        var offset = start
        lock.withLock {
            while offset < end {
                let blockEnd = min(end, (offset / 4096 + 1) * 4096)
                let flags =
                    disk[offset..<blockEnd].allSatisfy { $0 == 0 } ? BaseAllocation.hole | BaseAllocation.zero : 0
                if let last = extents.last, last.flags == flags {
                    extents[extents.count - 1].length += UInt32(blockEnd - offset)
                } else {
                    extents.append(BlockDescriptor(length: UInt32(blockEnd - offset), flags: flags))
                }
                offset = blockEnd
            }
        }
        return one ? Array(extents.prefix(1)) : extents
    }
}
