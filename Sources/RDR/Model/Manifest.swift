import FoundationEssentials

/// What a user asks `init` for: one virtual disk.
public struct DiskSpec: Sendable, Equatable {
    public var name: String
    public var size: Int64
    public var role: DiskRole
    public var regionSize: Int64
    /// The raw image both members start as a copy of (`NAME:ROLE:from=FILE`), resolved to an
    /// absolute path; nil for a new, empty disk.
    public var source: String?

    public static let defaultRegionSize: Int64 = 64 << 10
    public static let minRegionSize: Int64 = 4 << 10
    public static let maxRegionSize: Int64 = 64 << 20

    public init(
        name: String, size: Int64, role: DiskRole, regionSize: Int64 = DiskSpec.defaultRegionSize,
        source: String? = nil
    ) {
        self.name = name
        self.size = size
        self.role = role
        self.regionSize = regionSize
        self.source = source
    }

    /// `NAME:SIZE:ROLE`, e.g. `boot:1G:mandatory`.
    public static func parse(_ text: String, regionSize: Int64) throws(RDRError) -> DiskSpec {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else {
            throw RDRError(
                .invalidArgument,
                "disk '\(text)' is not NAME:SIZE:ROLE (e.g. boot:1G:mandatory; roles: system, data, mandatory)")
        }
        let size: Int64
        do { size = try ByteSize.parse(parts[1]) } catch {
            throw RDRError(.invalidArgument, "disk '\(text)': \(error)")
        }
        guard let role = DiskRole(rawValue: parts[2].lowercased()) else {
            throw RDRError(.invalidArgument, "disk '\(text)': role '\(parts[2])' is not one of system, data, mandatory")
        }
        let spec = DiskSpec(name: parts[0], size: size, role: role, regionSize: regionSize)
        try spec.validate()
        return spec
    }

    public static let defaults = [
        DiskSpec(name: "boot", size: 1 << 30, role: .mandatory),
        DiskSpec(name: "data", size: 1 << 30, role: .data),
    ]

    public func validate() throws(RDRError) {
        try Self.validateName(name)
        guard size > 0, size % 512 == 0 else {
            throw RDRError(.invalidArgument, "disk '\(name)': size \(size) is not a positive multiple of 512 bytes")
        }
        guard size <= 1 << 50 else {
            throw RDRError(
                .invalidArgument, "disk '\(name)': size \(ByteSize.format(size)) is larger than the 1 PiB limit")
        }
        try Self.validateRegionSize(regionSize)
    }

    /// Disk and system names: 1-64 letters, digits, '-', '_' or '.', starting with neither '.'
    /// (hidden files are rdr's own) nor '-' (it would read as an option).
    public static func validateName(_ name: String, what: String = "disk name") throws(RDRError) {
        let allowed = name.unicodeScalars.allSatisfy { c in
            ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c)
                || "-_.".unicodeScalars.contains(c)
        }
        guard !name.isEmpty, name.count <= 64, allowed, !name.hasPrefix("."), !name.hasPrefix("-") else {
            throw RDRError(
                .invalidArgument,
                "\(what) '\(name)' must be 1-64 characters of letters, digits, '-', '_' or '.', and cannot start with '-' or '.'"
            )
        }
    }

    public static func validateRegionSize(_ regionSize: Int64) throws(RDRError) {
        guard regionSize >= minRegionSize, regionSize <= maxRegionSize, regionSize & (regionSize - 1) == 0 else {
            throw RDRError(.invalidArgument, "region size \(regionSize) must be a power of two from 4K to 64M")
        }
    }
}

/// The system manifest (`rdr.json`): which virtual disks exist, their roles, sizes, identities
/// and where their members live. Paths are relative to the system directory. Hand-editable
/// JSON; every field is cross-checked against the members' checksummed headers on open.
public struct Manifest: Codable, Sendable, Equatable {
    public static let fileName = "rdr.json"
    public static let formatName = "rdr-system/1"
    /// A manifest is a few KiB; anything past this is not one (and is not read into memory).
    public static let maxBytes = 16 << 20

    public struct Member: Codable, Sendable, Equatable {
        public var enclosure: UInt8
        public var image: String
        public var metadata: String
    }

    public struct Disk: Codable, Sendable, Equatable {
        public var name: String
        public var role: DiskRole
        public var size: Int64
        public var regionSize: Int64
        public var mirrorID: String
        public var members: [Member]

        public var spec: DiskSpec { DiskSpec(name: name, size: size, role: role, regionSize: regionSize) }

        func member(_ enclosure: Enclosure) -> Member? { members.first { $0.enclosure == enclosure.rawValue } }
    }

    public var format: String
    public var primary: UInt8
    public var disks: [Disk]

    public var primaryEnclosure: Enclosure { Enclosure(rawValue: primary) ?? .ten }

    public func disk(named name: String) throws(RDRError) -> Disk {
        guard let d = disks.first(where: { $0.name == name }) else {
            let names = disks.map(\.name).joined(separator: ", ")
            throw RDRError(.invalidArgument, "no disk named '\(name)' in this system; its disks are: \(names)")
        }
        return d
    }

    /// Structural validation after decoding; names the field that is wrong.
    public func validate(path: String) throws(RDRError) {
        func bad(_ what: String) -> RDRError { RDRError(.corrupt, "manifest \(path): \(what)") }
        guard format == Self.formatName else { throw bad("format is '\(format)', expected '\(Self.formatName)'") }
        guard Enclosure(rawValue: primary) != nil else { throw bad("primary is \(primary), expected 10 or 11") }
        guard !disks.isEmpty else { throw bad("lists no disks") }
        var seen = Set<String>()
        for d in disks {
            do { try d.spec.validate() } catch { throw bad(error.message) }
            guard seen.insert(d.name).inserted else { throw bad("disk '\(d.name)' is listed twice") }
            guard MirrorID.bytes(hex: d.mirrorID) != nil else {
                throw bad("disk '\(d.name)' has mirrorID '\(d.mirrorID)', expected 32 hex digits")
            }
            let enclosures = d.members.map(\.enclosure).sorted()
            guard enclosures == [10, 11] else {
                throw bad("disk '\(d.name)' must have one member in enclosure 10 and one in 11")
            }
        }
        try MemberFiles.validate(disks, bad: bad)
    }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Encoding plain structs of strings and integers cannot fail.
        guard let data = try? encoder.encode(self) else { return [] }
        return Array(data) + [UInt8(ascii: "\n")]
    }
}

/// A virtual disk's identity: 16 random bytes, written as hex in the manifest.
public enum MirrorID {
    public static func random(_ source: any RandomSource = SystemRandomSource()) -> [UInt8] { source.bytes(16) }

    public static func hex(_ bytes: [UInt8]) -> String { bytes.map { TextFormat.hex(UInt64($0), width: 2) }.joined() }

    public static func bytes(hex: String) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count == 32 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: 32, by: 2) {
            guard let b = UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
        }
        return out
    }
}
