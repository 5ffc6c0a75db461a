/// The two CPU-I/O enclosures of the mirror, numbered as ftSMC numbers them.
public enum Enclosure: UInt8, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case ten = 10
    case eleven = 11

    public var index: Int { self == .ten ? 0 : 1 }
    public var other: Enclosure { self == .ten ? .eleven : .ten }
    public var description: String { String(rawValue) }

    public init?(index: Int) {
        switch index {
        case 0: self = .ten
        case 1: self = .eleven
        default: return nil
        }
    }

    public init?(text: String) {
        switch text {
        case "10": self = .ten
        case "11": self = .eleven
        default: return nil
        }
    }
}

/// The two halves of a split system. The primary enclosure becomes the Production Side.
public enum Side: String, Sendable, Codable, CustomStringConvertible {
    case production
    case upgrade

    public var description: String { rawValue }
    public var title: String { self == .production ? "Production" : "Upgrade" }
}

/// How a user names a side on the command line: `production`, `upgrade`, `10` or `11`.
public enum SideSelector: Sendable, Equatable, CustomStringConvertible {
    case side(Side)
    case enclosure(Enclosure)

    public init?(text: String) {
        switch text.lowercased() {
        case "production", "prod", "p": self = .side(.production)
        case "upgrade", "u": self = .side(.upgrade)
        default:
            guard let e = Enclosure(text: text) else { return nil }
            self = .enclosure(e)
        }
    }

    public var description: String {
        switch self {
        case .side(let s): return s.rawValue
        case .enclosure(let e): return e.description
        }
    }

    public func enclosure(primary: Enclosure) -> Enclosure {
        switch self {
        case .enclosure(let e): return e
        case .side(.production): return primary
        case .side(.upgrade): return primary.other
        }
    }
}

/// A virtual disk's role decides how it behaves while split and which way it resyncs.
public enum DiskRole: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case system
    case data
    case mandatory

    /// Mandatory disks are system disks that can never be marked data.
    public var isSystem: Bool { self != .data }
    public var description: String { rawValue }
}

/// The mirror state of a virtual disk, shared by both members' metadata.
public enum MirrorMode: UInt8, Sendable, Codable, CustomStringConvertible {
    case duplex = 1
    case split = 2
    case merged = 3
    case resyncing = 4

    public var description: String {
        switch self {
        case .duplex: return "duplex"
        case .split: return "split"
        case .merged: return "merged"
        case .resyncing: return "resyncing"
        }
    }
}
