import Foundation
import Synchronization
import XCTest

@testable import RDR
@testable import RDRServer

/// A temporary system with two 16 MiB disks (`boot`, mandatory; `data`, data) served in
/// process on a Unix socket, so a test can change a disk's mode on the very instance the server
/// uses, while clients are connected.
final class ServedSystem {
    static let diskSize: Int64 = 16 << 20
    let path: String
    let system: RDRSystem
    let disks: SystemDiskProvider
    let server: NBDServer
    let socket: String
    let log = LogLines()

    init(configuration: ServerConfiguration = ServerConfiguration(), disks specs: [DiskSpec]? = nil) throws {
        path = NSTemporaryDirectory() + "rdr-srv-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let region: Int64 = 64 << 10
        system = try RDRSystem.create(
            at: path,
            disks: specs ?? [
                DiskSpec(name: "boot", size: Self.diskSize, role: .mandatory, regionSize: region),
                DiskSpec(name: "data", size: Self.diskSize, role: .data, regionSize: region),
            ], primary: .ten, force: false)
        disks = SystemDiskProvider(system: system, access: configuration.readOnly ? .readOnly : .readWrite)
        socket = path + "/nbd.sock"
        let lines = log
        server = NBDServer(disks: disks, configuration: configuration) { line in lines.append(line) }
        try server.serve(try Listener.unix(path: socket))
    }

    deinit {
        _ = server.stop()
        try? FileManager.default.removeItem(atPath: path)
    }

    func disk(_ name: String) throws -> VirtualDisk { try disks.disk(named: name) }
    func uri(_ export: String) -> String { "nbd+unix:///\(export)?socket=\(socket)" }
    func image(_ disk: String, _ e: Enclosure) -> String { "\(path)/\(disk)-\(e).img" }
    func member(_ disk: String, _ e: Enclosure) -> [UInt8] {
        Array(FileManager.default.contents(atPath: image(disk, e)) ?? Data())
    }
    var logLines: [String] { log.all }

    /// Puts every disk in `mode` (duplex, split, merged or resyncing from 10) through the
    /// engine, on the instances the server shares.
    func enter(_ mode: MirrorMode) throws {
        for name in ["boot", "data"] {
            let d = try disk(name)
            switch mode {
            case .duplex: break
            case .split: try d.split()
            case .merged:
                try d.split()
                try d.merge()
            case .resyncing:
                try d.split()
                _ = try d.beginResync(from: .ten)
            }
        }
    }
}

/// The bytes a member file must hold after a test's writes: a model kept beside the files.
struct MemberModel: Equatable {
    var bytes: [UInt8]
    init(size: Int) { bytes = [UInt8](repeating: 0, count: size) }
    mutating func fill(_ offset: Int, _ count: Int, _ value: UInt8) {
        for i in offset..<offset + count { bytes[i] = value }
    }
}

/// The server's log lines, collected from its threads.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}
