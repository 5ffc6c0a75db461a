import Foundation
import XCTest

@testable import RDR

/// The io_uring wrapper against real files: bytes on disk after ring writes, bytes in memory
/// after ring reads, short reads at the end of a file, a queue deeper than the ring, O_DIRECT
/// alignment errors as typed Errno values, and the refusal path callers fall back from.
final class IOURingTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "rdr-uring-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A ring, or a skip naming why the kernel refused (a container's seccomp, io_uring_disabled).
    func ring(_ entries: Int = 64) throws -> IOURing {
        do { return try IOURing(entries: entries, simulatedRefusal: nil) } catch {
            throw XCTSkip("io_uring refused here (\(error)); the thread fallback is what runs")
        }
    }

    /// A file of `size` pattern bytes, opened with O_DIRECT (or a skip if the filesystem refuses it).
    func directFile(_ name: String, size: Int, seed: UInt64) throws -> (FileDescriptor, [UInt8]) {
        let path = dir + "/" + name
        let bytes = pattern(size, seed: seed)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let fd: FileDescriptor
        do { fd = try FileDescriptor.openDirect(path, .readWrite, sys: LinuxSystemCalls()) } catch {
            guard error.code == EINVAL else { throw error }
            throw XCTSkip("\(NSTemporaryDirectory()) does not support O_DIRECT (\(error))")
        }
        return (fd, bytes)
    }

    /// The first `count` bytes of a buffer (compared with ==, so a mismatch does not print megabytes).
    func held(_ b: AlignedBuffer, _ count: Int) -> ArraySlice<UInt8> {
        ArraySlice(UnsafeRawBufferPointer(start: b.pointer, count: count))
    }

    /// Submits and reaps until every operation in flight has completed.
    func complete(_ r: IOURing) throws -> [UInt64: Result<Int, Errno>] {
        var out: [UInt64: Result<Int, Errno>] = [:]
        while r.inFlight > 0 {
            try r.submit(waitingFor: 1)
            for c in r.reap() { out[c.tag] = c.result }
        }
        return out
    }

    func testWritesAndReadsAtOffsetsRoundTripThroughTheDisk() throws {
        let r = try ring()
        let (fd, original) = try directFile("a.img", size: 1 << 20, seed: 1)
        defer { fd.close() }
        let offsets: [Int64] = [0, 4096, 65536, 7 * 65536, (1 << 20) - 8192]
        let buffers = offsets.map { _ in AlignedBuffer(count: 8192) }
        for (i, (offset, b)) in zip(offsets, buffers).enumerated() {
            let bytes = pattern(8192, seed: 100 + UInt64(i))
            bytes.withUnsafeBytes { b.pointer.copyMemory(from: $0.baseAddress!, byteCount: 8192) }
            XCTAssertTrue(r.write(fd, from: b.pointer, count: 8192, at: offset, tag: UInt64(i)))
        }
        XCTAssertEqual(r.inFlight, offsets.count)
        let writes = try complete(r)
        XCTAssertEqual(writes.count, offsets.count)
        for i in offsets.indices { XCTAssertEqual(try writes[UInt64(i)]?.get(), 8192, "write \(i)") }
        XCTAssertTrue(r.sync(fd, dataOnly: false, tag: 99))
        XCTAssertEqual(try complete(r)[99]?.get(), 0, "fsync succeeds")

        var expected = original
        for (i, offset) in offsets.enumerated() {
            expected.replaceSubrange(Int(offset)..<Int(offset) + 8192, with: pattern(8192, seed: 100 + UInt64(i)))
        }
        XCTAssertTrue(contents(dir + "/a.img") == Data(expected), "the disk holds exactly the ring's writes")

        let readBuffers = offsets.map { _ in AlignedBuffer(count: 8192) }
        for (i, (offset, b)) in zip(offsets, readBuffers).enumerated() {
            XCTAssertTrue(r.read(fd, into: b.pointer, count: 8192, at: offset, tag: UInt64(i)))
        }
        let reads = try complete(r)
        for (i, offset) in offsets.enumerated() {
            XCTAssertEqual(try reads[UInt64(i)]?.get(), 8192)
            XCTAssertTrue(
                held(readBuffers[i], 8192) == expected[Int(offset)..<Int(offset) + 8192],
                "read \(i) returns the bytes at \(offset)")
        }
    }

    func testReadsAtTheEndOfAFileAreShortThenEmpty() throws {
        let r = try ring()
        let (fd, bytes) = try directFile("short.img", size: 10_000, seed: 2)
        defer { fd.close() }
        let a = AlignedBuffer(count: 8192)
        let b = AlignedBuffer(count: 4096)
        XCTAssertTrue(r.read(fd, into: a.pointer, count: 8192, at: 8192, tag: 1))
        XCTAssertTrue(r.read(fd, into: b.pointer, count: 4096, at: 12288, tag: 2))
        let done = try complete(r)
        XCTAssertEqual(try done[1]?.get(), 10_000 - 8192, "a read across the end returns the bytes up to it")
        XCTAssertTrue(held(a, 10_000 - 8192) == bytes[8192...], "the short read holds the file's last bytes")
        XCTAssertEqual(try done[2]?.get(), 0, "a read past the end returns 0")
    }

    func testMoreOperationsThanTheRingHoldsAllComplete() throws {
        let r = try ring(16)
        XCTAssertGreaterThanOrEqual(r.capacity, 16)
        let count = 4 * r.capacity + 3
        let (fd, bytes) = try directFile("many.img", size: count * 4096, seed: 3)
        defer { fd.close() }
        let buffers = (0..<count).map { _ in AlignedBuffer(count: 4096) }
        var next = 0
        var results: [UInt64: Result<Int, Errno>] = [:]
        var sawFull = false
        while results.count < count {
            while next < count,
                r.read(fd, into: buffers[next].pointer, count: 4096, at: Int64(next) * 4096, tag: UInt64(next))
            { next += 1 }
            if next < count {
                sawFull = true
                XCTAssertEqual(r.inFlight, r.capacity, "queueing is refused only when the ring is full")
            }
            try r.submit(waitingFor: 1)
            for c in r.reap() { results[c.tag] = c.result }
        }
        XCTAssertTrue(sawFull)
        XCTAssertEqual(r.inFlight, 0)
        for i in 0..<count {
            XCTAssertEqual(try results[UInt64(i)]?.get(), 4096)
            XCTAssertTrue(held(buffers[i], 4096) == bytes[i * 4096..<(i + 1) * 4096], "block \(i)")
        }
    }

    func testMisalignedDirectTransfersFailWithEINVALNamingTheFile() throws {
        let r = try ring()
        let (fd, _) = try directFile("direct.img", size: 1 << 16, seed: 4)
        defer { fd.close() }
        let b = AlignedBuffer(count: 8192)
        XCTAssertTrue(r.read(fd, into: b.pointer + 1, count: 4096, at: 0, tag: 1))  // buffer off by one byte
        XCTAssertTrue(r.write(fd, from: b.pointer, count: 4096, at: 100, tag: 2))  // offset not a block
        XCTAssertTrue(r.read(fd, into: b.pointer, count: 4096, at: 4096, tag: 3))  // aligned: fine
        let done = try complete(r)
        if case .success = done[1], case .success = done[2] {
            throw XCTSkip("this filesystem accepts misaligned O_DIRECT transfers")
        }
        for tag: UInt64 in [1, 2] {
            guard case .failure(let e)? = done[tag] else { return XCTFail("transfer \(tag) should fail") }
            XCTAssertEqual(e.code, EINVAL)
            XCTAssertEqual(e.path, dir + "/direct.img")
            XCTAssertTrue(e.description.hasPrefix("io_uring " + (tag == 1 ? "read " : "write ")), e.description)
        }
        XCTAssertEqual(try done[3]?.get(), 4096)
    }

    func testRefusalIsATypedErrnoSoCallersFallBack() throws {
        for code in [ENOSYS, EPERM] {
            XCTAssertThrowsError(try IOURing(simulatedRefusal: code)) { error in
                XCTAssertEqual((error as? Errno)?.code, code)
            }
        }
        setenv(IOURing.refusalVariable, "EPERM", 1)
        defer { unsetenv(IOURing.refusalVariable) }
        XCTAssertEqual(IOURing.refusalFromEnvironment(), EPERM)
        XCTAssertThrowsError(try IOURing()) {
            XCTAssertEqual(($0 as? Errno)?.code, EPERM, "the environment seam reaches init's default")
        }
        setenv(IOURing.refusalVariable, "38", 1)
        XCTAssertEqual(IOURing.refusalFromEnvironment(), 38)
        unsetenv(IOURing.refusalVariable)
        XCTAssertNil(IOURing.refusalFromEnvironment())
    }
}
