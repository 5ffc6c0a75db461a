import Foundation
import Glibc

/// The temporary files rdr writes beside real ones, and the sweep that removes what a killed
/// process left behind. Each writer also removes its own temporary file when it fails; the
/// sweep covers the one case a process cannot handle itself: being killed.
enum TemporaryFiles {
    /// A full resync writes new metadata as `<metadata>.new`, then renames it over the old.
    static let metadataSuffix = ".new"

    /// The writer's pid of `NAME.<pid>.tmp` (`Directory.writeAtomically`), or nil.
    static func writer(of name: String) -> Int32? {
        guard name.hasSuffix(".tmp") else { return nil }
        let parts = name.dropLast(4).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 2, let pid = parts.last.flatMap({ Int32($0) }), pid > 0 else { return nil }
        return pid
    }

    /// Removes from the system directory every `NAME.<pid>.tmp` whose writer is gone and every
    /// `<metadata>.new` of the manifest's members. Runs under the system lock, so no live
    /// process is writing a `.new`; a `.tmp` of a live process (another lock's holder, such as
    /// an upgrade request writing its session) is left alone. Best effort: a sweep that cannot
    /// remove a file leaves it for the next one.
    static func sweep(_ system: RDRSystem) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: system.path) else { return }
        let metadataNames = Set(system.manifest.disks.flatMap { $0.members.map { $0.metadata + metadataSuffix } })
        for name in names {
            let stale: Bool
            if metadataNames.contains(name) {
                stale = true
            } else if let pid = writer(of: name) {
                stale = kill(pid, 0) != 0 && errno == ESRCH
            } else {
                stale = false
            }
            if stale { _ = system.sys.unlink(system.file(name)) }
        }
    }
}
