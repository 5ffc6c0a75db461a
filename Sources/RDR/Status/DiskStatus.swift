/// `rdr status` as data: what `--json` prints and the text view renders.
public struct SystemStatus: Codable, Sendable {
    public var system: String
    public var lockHolder: String?
    public var disks: [DiskStatus]
}

public struct MemberStatus: Codable, Sendable {
    public var enclosure: UInt8
    public var side: String
    public var path: String
    public var metadataPath: String
    public var dirtyBytes: Int64
    public var allocatedBytes: Int64
}

public struct ResyncStatus: Codable, Sendable {
    public var source: UInt8
    public var target: UInt8
    public var bytesTotal: Int64
    public var bytesDone: Int64
    public var percent: Int
    public var rateBytesPerSecond: Double
    public var etaSeconds: Double?
    /// True while a process is copying (its published record is fresh); false when stopped.
    public var running: Bool
    public var pid: Int32?
}

public struct DiskStatus: Codable, Sendable {
    /// The mirror mode, or `unknown` when the disk's metadata cannot be read.
    public enum Mode: String, Codable, Sendable, CustomStringConvertible {
        case duplex, split, merged, resyncing, unknown

        init(_ mode: MirrorMode) {
            switch mode {
            case .duplex: self = .duplex
            case .split: self = .split
            case .merged: self = .merged
            case .resyncing: self = .resyncing
            }
        }

        public var description: String { rawValue }
    }

    /// The one-word state as ftSMC shows it (`Status: Resync 42%`). `description` is the
    /// display text, and the JSON carries the same text.
    public enum Status: Codable, Sendable, Equatable, CustomStringConvertible {
        /// `None`: duplex and in sync.
        case inSync
        /// `Resync nn%`: bytes done over bytes planned, never 100 before the end.
        case resync(percent: Int)
        /// `Resync needed`: duplex with bits left by interrupted writes.
        case resyncNeeded
        /// `Simplex`: split or merged, the members diverge by design.
        case simplex
        /// `Error`: metadata or images not trusted (the disk's `error` says why).
        case error

        public var description: String {
            switch self {
            case .inSync: return "None"
            case .resync(let percent): return "Resync \(percent)%"
            case .resyncNeeded: return "Resync needed"
            case .simplex: return "Simplex"
            case .error: return "Error"
            }
        }

        /// The status its display text names, or nil.
        public init?(text: String) {
            for plain in [Status.inSync, .resyncNeeded, .simplex, .error] where plain.description == text {
                self = plain
                return
            }
            guard text.hasPrefix("Resync "), text.hasSuffix("%"),
                let percent = Int(text.dropFirst("Resync ".count).dropLast())
            else { return nil }
            self = .resync(percent: percent)
        }

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let status = Status(text: text) else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "status '\(text)'"))
            }
            self = status
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(description)
        }
    }

    public var name: String
    public var role: DiskRole
    public var size: Int64
    public var regionSize: Int64
    public var mode: Mode
    public var status: Status
    public var resync: ResyncStatus?
    public var members: [MemberStatus]
    public var error: String?
    public var warnings: [String]?

    enum CodingKeys: String, CodingKey {
        case name, role, size, regionSize, mode, status, resync, members, error, warnings
    }

    // `resync` is always present (null when not resyncing), as the published JSON shape says.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(role, forKey: .role)
        try c.encode(size, forKey: .size)
        try c.encode(regionSize, forKey: .regionSize)
        try c.encode(mode, forKey: .mode)
        try c.encode(status, forKey: .status)
        if let resync { try c.encode(resync, forKey: .resync) } else { try c.encodeNil(forKey: .resync) }
        try c.encode(members, forKey: .members)
        try c.encodeIfPresent(error, forKey: .error)
        try c.encodeIfPresent(warnings, forKey: .warnings)
    }
}
