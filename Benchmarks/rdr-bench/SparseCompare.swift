import Foundation
import RDR

/// Byte-for-byte comparison of two equal-size files that skips ranges that are holes in both
/// (a hole reads as zeros, so it is compared like `cmp` would, without reading terabytes of
/// zeros). Independent of the engine's resync and verify code: it only uses lseek and pread.
enum SparseCompare {
    static func identical(_ a: String, _ b: String) -> Bool {
        let sys = LinuxSystemCalls()
        guard let fa = try? FileDescriptor.open(a, .readOnly, sys: sys) else { return false }
        defer { fa.close() }
        guard let fb = try? FileDescriptor.open(b, .readOnly, sys: sys) else { return false }
        defer { fb.close() }
        guard let size = try? fa.status().size, (try? fb.status().size) == size else { return false }
        let chunk = 4 << 20
        let ba = AlignedBuffer(count: chunk)
        let bb = AlignedBuffer(count: chunk)
        var pos: Int64 = 0
        do {
            while pos < size {
                let next = min(try fa.nextData(from: pos) ?? size, try fb.nextData(from: pos) ?? size)
                if next >= size { return true }
                pos = next
                let end = min(pos + Int64(chunk), size)
                let n = Int(end - pos)
                try fa.readFully(into: ba.pointer, count: n, at: pos)
                try fb.readFully(into: bb.pointer, count: n, at: pos)
                if memcmp(ba.pointer, bb.pointer, n) != 0 { return false }
                pos = end
            }
            return true
        } catch {
            return false
        }
    }
}
