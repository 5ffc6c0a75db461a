import Glibc
import NBDWire
import RDR

/// Fixed newstyle negotiation (proto.md "Handshake"): the greeting, then options until
/// NBD_OPT_GO (or NBD_OPT_EXPORT_NAME) picks an export. Every read is exact, so not a byte of
/// the transmission phase is taken early; the whole negotiation must end by `deadline`.
extension Connection {
    enum Step {
        case message(ClientMessage)
        case refused(NBDWireError)
        case end
    }

    enum Outcome {
        case next
        case enter(ExportTarget)
        case end
    }

    /// The export the client chose, or nil when the connection ends during negotiation.
    func negotiate() -> ExportTarget? {
        guard send(ServerGreeting().encoded) else { return nil }
        while true {
            switch nextMessage() {
            case .end:
                return nil
            case .refused(let error):
                guard let (code, reply) = Self.answer(to: error) else {
                    core.log("connection \(id): \(error); connection closed")
                    return nil
                }
                guard send(OptionReply(option: code, body: reply).encoded) else { return nil }
            case .message(.clientFlags(let flags)):
                noZeroes = flags.contains(.noZeroes)
            case .message(.option(let option)):
                switch handle(option) {
                case .next: continue
                case .enter(let target): return target
                case .end: return nil
                }
            case .message(.request):
                return nil  // the decoder reads requests only after GO or EXPORT_NAME
            }
        }
    }

    /// The reply to an option the decoder refused, or nil when the connection must end (a bad
    /// magic, client flags not offered, an EXPORT_NAME that cannot be answered).
    static func answer(to error: NBDWireError) -> (NBDOption, OptionReplyBody)? {
        switch error {
        case .optionTooLarge(let code, _, _) where code != .exportName:
            return (code, .error(.errTooBig, message: error.description))
        case .invalidOption(let code, let reason) where code != .exportName:
            return (code, .error(.errInvalid, message: reason))
        default:
            return nil
        }
    }

    private func nextMessage() -> Step {
        if decoder.phase == .clientFlags {
            guard let flags = receive(4) else { return .end }
            decoder.feed(flags)
        } else {
            guard let head = receive(16) else { return .end }
            let length = head[12..<16].reduce(0) { $0 << 8 | Int($1) }
            decoder.feed(head)
            if length <= decoder.limits.maxOptionData {
                guard let data = receive(length) else { return .end }
                decoder.feed(data)
            } else {
                // Refused on its header; its data is read and dropped as it comes.
                do throws(NBDWireError) { _ = try decoder.next() } catch {
                    return skipOption(length) ? .refused(error) : .end
                }
            }
        }
        do throws(NBDWireError) {
            guard let message = try decoder.next() else { return .end }
            return .message(message)
        } catch {
            return .refused(error)
        }
    }

    private func skipOption(_ length: Int) -> Bool {
        var left = length
        while left > 0 {
            guard let chunk = receive(min(left, 64 << 10)) else { return false }
            decoder.feed(chunk)
            left -= chunk.count
        }
        return true
    }

    /// Exactly `count` bytes, or nil at end of stream, on error or past the deadline.
    private func receive(_ count: Int) -> [UInt8]? {
        guard count > 0 else { return [] }
        let left = deadline - Monotonic.now()
        guard left > 0 else {
            core.log(
                "connection \(id): option haggling took longer than \(core.configuration.handshakeTimeout) s; connection closed"
            )
            return nil
        }
        socket.setTimeouts(receive: left, send: left)
        var bytes = [UInt8](repeating: 0, count: count)
        let got = bytes.withUnsafeMutableBytes { socket.receive(into: $0.baseAddress!, count: count) }
        if got == .timedOut {
            core.log(
                "connection \(id): option haggling took longer than \(core.configuration.handshakeTimeout) s; connection closed"
            )
        }
        return got == .complete ? bytes : nil
    }

    func send(_ bytes: [UInt8]) -> Bool { socket.sendAll(bytes) == 0 }
}
