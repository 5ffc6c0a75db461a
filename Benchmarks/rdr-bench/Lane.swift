import Foundation
import RDR

/// Where a set of experiments runs. The disk lane is the machine's real storage, where runs
/// vary by up to 2× from the disk alone; the tmpfs lane has no device (memory only), so what
/// is left is the tools' own cost, free of the disk's noise.
struct Lane {
    let name: String
    let work: String
    /// How the replayed-extent limit runs here; nil when it cannot (then `noEngine` says why).
    let engine: ReplayEngine?
    let noEngine: String

    var suffix: String { name == "disk" ? "" : "-" + name }
    var chartNote: String { name == "disk" ? "cold cache" : "tmpfs" }

    static func disk(work: String) -> Lane {
        Lane(
            name: "disk", work: work, engine: ReplayEngine.forDisk(dir: work),
            noEngine: Runner.which("fio") == nil
                ? "fio not installed (Debian package fio)" : "fio could not replay an iolog in \(work)")
    }

    /// The tmpfs lane in `dir` (default /dev/shm/rdr-bench), or why there is none.
    static func tmpfs(dir: String?) -> (lane: Lane?, reason: String) {
        let root = dir ?? "/dev/shm/rdr-bench"
        let parent = dir ?? "/dev/shm"
        let type = Runner.shell("stat -f -c %T '\(parent)'").output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard type == "tmpfs" else {
            return (nil, "\(parent) is not a tmpfs (\(type.isEmpty ? "missing" : type)); pass --tmpfs DIR")
        }
        guard (try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)) != nil else {
            return (nil, "cannot create \(root)")
        }
        let engine: ReplayEngine? = Runner.which("fio") == nil ? nil : .buffered
        return (Lane(name: "tmpfs", work: root, engine: engine, noEngine: "fio not installed (Debian package fio)"), "")
    }

    /// Why a pair of this shape does not fit here, or nil. tmpfs holds everything in memory:
    /// both members' allocated data, the pristine copy of the target's diverged regions, and
    /// the dd ceiling's input and output, each about the size of the diverged set.
    func tooSmall(for spec: DivergedPair.Spec) -> String? {
        guard name == "tmpfs" else { return nil }
        let diverged = Double(spec.size) * min(1, spec.sourceFraction * 1.5)
        let need = Int64(2 * Double(spec.size) * spec.allocated + 4 * diverged) + (256 << 20)
        let avail =
            Int64(
                Runner.shell("df -B1 --output=avail '\(work)' | tail -1").output.trimmingCharacters(
                    in: .whitespacesAndNewlines)) ?? 0
        let memory = Self.memAvailable()
        guard need > min(avail, memory) else { return nil }
        return
            "needs about \(ByteSize.format(need)) of memory; \(work) has \(ByteSize.format(avail)) free, MemAvailable \(ByteSize.format(memory))"
    }

    static func memAvailable() -> Int64 {
        let line = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?.split(separator: "\n").first {
            $0.hasPrefix("MemAvailable:")
        }
        let kib = line.flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int64($0) } ?? 0
        return kib * 1024
    }
}
