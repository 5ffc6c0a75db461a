import FoundationEssentials
import Glibc
import RDR

/// What the manifest models of the machine for the readiness check and the service control:
/// the `activeUpgrade` section of `rdr.json`. Hand-editable; `rdr init` writes a healthy one.
public struct SystemModel: Codable, Sendable, Equatable {
    public static let section = "activeUpgrade"

    public enum StartupType: String, Codable, Sendable { case Automatic, Manual, Disabled }

    public struct ServiceSide: Codable, Sendable, Equatable {
        public var running: Bool
        public var startupType: StartupType
    }

    public struct Service: Codable, Sendable, Equatable {
        public var name: String
        public var production: ServiceSide
        public var upgrade: ServiceSide

        public func side(_ s: Side) -> ServiceSide { s == .production ? production : upgrade }
        public mutating func set(_ s: Side, _ value: ServiceSide) {
            if s == .production { production = value } else { upgrade = value }
        }
    }

    /// An I/O board (one per enclosure); `safeToPull` false models a resource not duplexed.
    public struct IOBoard: Codable, Sendable, Equatable {
        public var number: Int
        public var safeToPull: Bool
    }

    public struct VTM: Codable, Sendable, Equatable {
        public var enclosure: Int
        public var configured: Bool
    }

    public struct NIC: Codable, Sendable, Equatable {
        public var name: String
        public var enclosure: Int
        public var embedded: Bool
        public var team: String?
        public var link: Bool
        /// Ports of one multi-port adapter share this name: they must be teamed all or none.
        public var adapter: String? = nil
    }

    public struct Team: Codable, Sendable, Equatable {
        public var name: String
        public var ipAddress: String?
        public var dhcp: Bool
    }

    public var ioBoards: [IOBoard]
    public var vtms: [VTM]
    public var nics: [NIC]
    public var teams: [Team]
    public var dhcpServerReachable: Bool
    public var remoteDesktopEnabled: Bool
    public var services: [Service]

    /// A healthy machine: both enclosures duplexed, two VTMs, one embedded team with an adapter
    /// and link in each enclosure and a static address, Remote Desktop on, two running services.
    public static let healthy = SystemModel(
        ioBoards: [IOBoard(number: 10, safeToPull: true), IOBoard(number: 11, safeToPull: true)],
        vtms: [VTM(enclosure: 10, configured: true), VTM(enclosure: 11, configured: true)],
        nics: [
            NIC(name: "eth10", enclosure: 10, embedded: true, team: "team0", link: true),
            NIC(name: "eth11", enclosure: 11, embedded: true, team: "team0", link: true),
        ],
        teams: [Team(name: "team0", ipAddress: "192.0.2.10", dhcp: false)],
        dhcpServerReachable: true, remoteDesktopEnabled: true,
        services: ["appdb", "webapp"].map {
            Service(
                name: $0, production: ServiceSide(running: true, startupType: .Automatic),
                upgrade: ServiceSide(running: true, startupType: .Automatic))
        })

    public static func load(_ system: RDRSystem) throws(RDRError) -> SystemModel {
        guard let data = try system.extensionSection(section) else { return .healthy }
        do { return try JSONDecoder().decode(SystemModel.self, from: data) } catch {
            throw RDRError(.corrupt, "manifest \(system.manifestPath): section '\(section)' is not valid: \(error)")
        }
    }

    public func save(_ system: RDRSystem) throws(RDRError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self) else { throw RDRError(.io, "system model cannot be encoded") }
        try system.writeExtensionSection(Self.section, data)
    }

    public func service(_ name: String) -> Service? { services.first { $0.name == name } }

    public mutating func update(_ name: String, _ side: Side, _ change: (inout ServiceSide) -> Void) {
        guard let i = services.firstIndex(where: { $0.name == name }) else { return }
        var s = services[i].side(side)
        change(&s)
        services[i].set(side, s)
    }
}
