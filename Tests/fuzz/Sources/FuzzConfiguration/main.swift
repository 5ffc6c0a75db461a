import ActiveUpgrade
import Foundation

/// A `.Config` file: parsed, or refused with a message. Includes point into an empty directory.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let d = Data(bytes: data, count: size)
    if let c = try? Configuration.parse(d, path: "/nonexistent-rdr-fuzz/fuzz.Config") {
        _ = c.summary
        for t in Configuration.ControlType.allCases { _ = c.actions(t) }
    }
    return 0
}
