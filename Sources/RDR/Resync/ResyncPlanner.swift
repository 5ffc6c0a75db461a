/// One unit of resync work: a run of regions, either punched on the target (the source is a
/// hole there) or copied (the source has data somewhere in it). Region-aligned, so each region
/// belongs to exactly one task and its bit can be cleared when that task is durable.
struct ResyncTask: Sendable {
    enum Kind: Sendable { case punch, copy }
    let kind: Kind
    let regions: Range<Int>
    let bytes: Range<Int64>
    /// True when the planner knows the whole byte range is data in the source (no seeks needed).
    let allData: Bool
}

/// Turns the set of regions to copy into tasks, lazily and in disk order: runs of set bits,
/// split against the source's allocation map (`SEEK_DATA`/`SEEK_HOLE`). Hole runs become one
/// punch of any length; data runs are cut at the maximum I/O size. Memory stays O(1) in the
/// disk size beyond the bitmap, and the cost grows with the dirty runs, not the disk.
struct ResyncPlanner {
    let work: DirtyBitmap
    let geometry: RegionGeometry
    /// The longest copy task; the engine raises it once clones work (a clone's cost is per call,
    /// not per byte).
    var maxIOSize: Int64
    let source: FileDescriptor
    private(set) var cursor = 0
    /// From the last allocation query: no data in [queried, dataStart); data in [dataStart, dataEnd).
    private var queried: Int64 = -1
    private var dataStart: Int64? = nil
    private var dataEnd: Int64 = 0

    init(work: DirtyBitmap, geometry: RegionGeometry, maxIOSize: Int64, source: FileDescriptor) {
        self.work = work
        self.geometry = geometry
        self.maxIOSize = maxIOSize
        self.source = source
    }

    init(work: DirtyBitmap, regionSize: Int64, size: Int64, maxIOSize: Int64, source: FileDescriptor) {
        self.init(
            work: work, geometry: RegionGeometry(size: size, regionSize: regionSize), maxIOSize: maxIOSize,
            source: source)
    }

    /// The start and end of the first data segment at or after `offset`, or nil if none.
    private mutating func dataSegment(atOrAfter offset: Int64) throws(Errno) -> (Int64, Int64)? {
        if queried >= 0 && offset >= queried {
            guard let start = dataStart else { return nil }
            if offset < start { return (start, dataEnd) }
            if offset < dataEnd { return (offset, dataEnd) }
        }
        queried = offset
        dataStart = try source.nextData(from: offset)
        guard let start = dataStart, start < geometry.size else {
            dataStart = nil
            return nil
        }
        dataEnd = min(try source.nextHole(from: start), geometry.size)
        return (start, dataEnd)
    }

    /// Up to `count` next tasks (fewer at the end of the work).
    mutating func next(upTo count: Int) throws(Errno) -> [ResyncTask] {
        var tasks: [ResyncTask] = []
        while tasks.count < count, let task = try next() { tasks.append(task) }
        return tasks
    }

    mutating func next() throws(Errno) -> ResyncTask? {
        guard let first = work.nextSet(from: cursor) else { return nil }
        let runEnd = work.nextClear(from: first)
        let run = geometry.bytes(of: first..<runEnd)
        guard let (d, h) = try dataSegment(atOrAfter: run.lowerBound), d < run.upperBound else {
            cursor = runEnd
            return ResyncTask(kind: .punch, regions: first..<runEnd, bytes: run, allData: false)
        }
        let dataRegion = geometry.region(containing: d)
        if dataRegion > first {
            cursor = dataRegion
            return ResyncTask(
                kind: .punch, regions: first..<dataRegion, bytes: geometry.bytes(of: first..<dataRegion),
                allData: false)
        }
        // Region `first` holds data. Copy up to the end of this data segment (rounded up to a
        // region), the end of the run, and the maximum I/O size.
        let perIO = max(1, Int(maxIOSize / geometry.regionSize))
        let end = max(first + 1, min(runEnd, geometry.regionEnd(at: h), first + perIO))
        cursor = end
        let range = geometry.bytes(of: first..<end)
        let allData = d <= range.lowerBound && h >= range.upperBound
        return ResyncTask(kind: .copy, regions: first..<end, bytes: range, allData: allData)
    }
}
