import CRDRSys
import Glibc

/// A seam that can reflink one whole file into another. Kept out of `SystemCalls` on purpose:
/// only the real kernel offers it, and a test double (fault injection, power cuts) that does not
/// conform makes the import take the sparse copy, whose every call goes through the seam.
protocol FileCloning {
    /// ioctl FICLONE: `target` becomes a copy of all of `source` sharing its extents; 0 or -errno.
    func cloneFile(_ target: Int32, from source: Int32) -> Int32
}

extension LinuxSystemCalls: FileCloning {
    func cloneFile(_ target: Int32, from source: Int32) -> Int32 {
        rdr_ficlone(target, source) == 0 ? 0 : -errno
    }
}

/// Fills a new member image with the bytes of a raw image: a reflink where the filesystem can
/// share extents (instant, no space used until either side is written), otherwise a copy of
/// the source's data segments only, so its holes stay holes.
enum ImageImport {
    /// The errors after which a reflink or an in-kernel copy is simply not available here and
    /// the next way down is taken (any other error, ENOSPC or EIO say, is the import's failure).
    static let unsupported: Set<Int32> = [EOPNOTSUPP, ENOTTY, EINVAL, EXDEV, ENOSYS, EPERM, ETXTBSY]
    static let bufferSize = 1 << 20
    /// What one copy_file_range asks for: about a tenth of a second of a disk's bandwidth.
    static let chunk: Int64 = 64 << 20

    /// EINTR once the import is cancelled (the caller removes what it created).
    static func check(_ cancellation: CancellationFlag?, _ target: FileDescriptor) throws(Errno) {
        if cancellation?.isCancelled == true { throw Errno(code: EINTR, operation: "import into", path: target.path) }
    }

    /// Makes the empty file `target` a `size`-byte copy of `source`, not yet synced.
    static func fill(
        _ target: FileDescriptor, from source: FileDescriptor, size: Int64, cancellation: CancellationFlag? = nil
    ) throws(Errno) {
        if let cloner = target.sys as? any FileCloning {
            let r = cloner.cloneFile(target.rawValue, from: source.rawValue)
            if r == 0 { return }
            guard unsupported.contains(-r) else {
                throw Errno(code: -r, operation: "reflink (FICLONE) from \(source.path) to", path: target.path)
            }
        }
        try sparseCopy(from: source, to: target, size: size, cancellation: cancellation)
    }

    /// Copies each data segment of `source` (SEEK_DATA/SEEK_HOLE) and leaves the rest a hole.
    static func sparseCopy(
        from source: FileDescriptor, to target: FileDescriptor, size: Int64, cancellation: CancellationFlag? = nil
    ) throws(Errno) {
        try target.truncate(to: size)
        var offset: Int64 = 0
        var inKernel = true
        // Bounded: every pass moves `offset` forward by at least one byte.
        while offset < size, let start = try source.nextData(from: offset), start < size {
            let end = min(try source.nextHole(from: start), size)
            guard end > start else { throw changed(source) }
            try copy(from: source, to: target, start, end, inKernel: &inKernel, cancellation: cancellation)
            offset = end
        }
    }

    /// Copies [start, end): copy_file_range while the kernel offers it, else read and write, in
    /// chunks of `chunk` bytes between which a cancellation (Ctrl-C on `init`) is seen.
    static func copy(
        from source: FileDescriptor, to target: FileDescriptor, _ start: Int64, _ end: Int64,
        inKernel: inout Bool, cancellation: CancellationFlag? = nil
    ) throws(Errno) {
        var at = start
        while inKernel && at < end {
            try check(cancellation, target)
            let n: Int
            do {
                n = try source.copyRange(to: target, from: at, to: at, count: Int(min(end - at, chunk)))
            } catch {
                guard unsupported.contains(error.code) else { throw error }
                inKernel = false
                break
            }
            guard n > 0 else { throw changed(source) }
            at += Int64(n)
        }
        if at < end { try readWrite(from: source, to: target, at, end, cancellation: cancellation) }
    }

    static func readWrite(
        from source: FileDescriptor, to target: FileDescriptor, _ start: Int64, _ end: Int64,
        cancellation: CancellationFlag? = nil
    ) throws(Errno) {
        let buffer = AlignedBuffer(count: bufferSize)
        var at = start
        while at < end {
            try check(cancellation, target)
            let want = Int(min(end - at, Int64(bufferSize)))
            let n = try source.read(into: buffer.pointer, count: want, at: at)
            guard n == want else { throw changed(source) }
            try target.write(from: buffer.pointer, count: n, at: at)
            at += Int64(n)
        }
    }

    /// The source ended or its holes moved under the copy: it was changed while being imported.
    static func changed(_ source: FileDescriptor) -> Errno {
        Errno(code: EIO, operation: "import (the file changed while it was copied; run init again)", path: source.path)
    }
}
