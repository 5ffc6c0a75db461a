import Foundation
import NBDWire
import XCTest

/// Replays the FuzzNBD seeds — real conversations of nbdinfo, qemu-io, qemu-img and nbdcopy with
/// nbdkit and qemu-nbd, recorded by Tests/fuzz/capture-nbd-seeds.sh — and every kept crashing
/// input (Tests/fuzz/regressions/FuzzNBD) through the decoders the fuzz target drives.
final class SeedReplayTests: XCTestCase {
    static let fuzzDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz").path

    func files(_ kind: String) -> [(name: String, bytes: [UInt8])] {
        let dir = "\(Self.fuzzDir)/\(kind)/FuzzNBD"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }
            .sorted()
        return names.compactMap { name in
            FileManager.default.contents(atPath: "\(dir)/\(name)").map { (name, [UInt8]($0)) }
        }
    }

    func messages<M>(_ decoded: [Decoded<M>]) -> [M] {
        decoded.compactMap { if case .message(let m, _) = $0 { m } else { nil } }
    }

    /// Real clients' streams decode whole, with no error, every byte accounted for.
    func testRealClientStreamsDecodeCleanly() throws {
        let seeds = files("seeds").filter { $0.name.hasSuffix(".c2s") }
        XCTAssertGreaterThanOrEqual(seeds.count, 10, "the captured client streams are checked in")
        var options = Set<NBDOption>()
        var commands = Set<NBDCommand>()
        var flags = CommandFlags()
        for seed in seeds {
            var decoder = ClientMessageDecoder()
            let decoded = decodeAll(&decoder, seed.bytes, afterMessage: acceptGo)
            XCTAssertEqual(decoded.filter { if case .error = $0 { true } else { false } }, [], seed.name)
            XCTAssertEqual(decoder.bytesConsumed, UInt64(seed.bytes.count), seed.name)
            let all = messages(decoded)
            XCTAssertEqual(all.first, .clientFlags([.fixedNewstyle, .noZeroes]), seed.name)
            for message in all {
                switch message {
                case .option(let option): options.insert(option.code)
                case .request(let request):
                    commands.insert(request.command)
                    flags.formUnion(request.flags)
                case .clientFlags: break
                }
            }
        }
        // What the recorded clients exercise between them.
        XCTAssertTrue(
            options.isSuperset(of: [.go, .info, .list, .abort, .structuredReply, .setMetaContext]), "\(options)")
        XCTAssertTrue(
            commands.isSuperset(of: [.read, .write, .flush, .trim, .writeZeroes, .blockStatus, .disc]), "\(commands)")
        XCTAssertTrue(flags.contains(.fua), "qemu-io's write -f sends FUA")
    }

    /// Real servers' streams decode whole, with no error. A simple reply's data length comes from
    /// the client's side of the same connection: the oldest unanswered request with its cookie
    /// (qemu reuses a cookie once its reply has arrived).
    func testRealServerStreamsDecodeCleanly() throws {
        let seeds = files("seeds")
        let servers = seeds.filter { $0.name.hasSuffix(".s2c") }
        XCTAssertGreaterThanOrEqual(servers.count, 10)
        var chunkTypes = Set<ChunkType>()
        for server in servers {
            let clientName = server.name.replacingOccurrences(of: ".s2c", with: ".c2s")
            var requests = ClientMessageDecoder()
            let client = seeds.first { $0.name == clientName }?.bytes ?? []
            var inFlight: [UInt64: [NBDRequest]] = [:]
            for case .request(let request) in messages(decodeAll(&requests, client, afterMessage: acceptGo))
            where request.command != .disc {
                inFlight[request.cookie, default: []].append(request)
            }
            var decoder = ServerMessageDecoder()
            let decoded = decodeAll(&decoder, server.bytes) { decoder, message in
                switch message {
                case .simpleReply(let reply):
                    let request = inFlight[reply.cookie]?.removeFirst()
                    if reply.error == .ok, let request, request.command == .read {
                        decoder.expectPayload(Int(request.length))
                    }
                case .chunk(let chunk) where chunk.flags.contains(.done): _ = inFlight[chunk.cookie]?.removeFirst()
                default: break
                }
            }
            XCTAssertEqual(decoded.filter { if case .error = $0 { true } else { false } }, [], server.name)
            XCTAssertEqual(decoder.bytesConsumed, UInt64(server.bytes.count), server.name)
            XCTAssertEqual(
                messages(decoded).first, .greeting(ServerGreeting(flags: [.fixedNewstyle, .noZeroes])), server.name)
            XCTAssertTrue(inFlight.values.allSatisfy(\.isEmpty), "every request was answered: \(server.name)")
            for case .chunk(let chunk) in messages(decoded) { chunkTypes.insert(chunk.body.type) }
        }
        XCTAssertTrue(chunkTypes.isSuperset(of: [.offsetData, .blockStatus]), "\(chunkTypes)")
    }

    /// Every seed and kept crash, from every phase of both decoders, with the fuzzer's small limits:
    /// decoded or refused, never a trap, and the same whole as one byte at a time.
    func testEveryFuzzInputIsDecodedOrRefused() {
        let limits = NBDLimits(maxOptionData: 1024, maxPayload: 16 << 10, maxChunkPayload: 1024)
        let inputs = files("seeds") + files("regressions")
        XCTAssertFalse(inputs.isEmpty)
        for input in inputs {
            for phase in [ClientMessageDecoder.Phase.clientFlags, .options, .transmission] {
                var whole = ClientMessageDecoder(limits: limits, phase: phase)
                var bytewise = whole
                XCTAssertEqual(
                    decodeAll(&whole, input.bytes, afterMessage: acceptGo),
                    decodeAll(&bytewise, input.bytes, pieces: [1], afterMessage: acceptGo), "\(input.name) \(phase)")
            }
            let phases: [ServerMessageDecoder.Phase] = [
                .greeting, .optionReplies, .exportNameReply(zeroPadding: true), .transmission,
            ]
            for phase in phases {
                var whole = ServerMessageDecoder(limits: limits, phase: phase)
                var bytewise = whole
                let reads = expectReads { Int($0 % 1024) }
                XCTAssertEqual(
                    decodeAll(&whole, input.bytes, afterMessage: reads),
                    decodeAll(&bytewise, input.bytes, pieces: [1], afterMessage: reads), "\(input.name) \(phase)")
            }
        }
    }
}
