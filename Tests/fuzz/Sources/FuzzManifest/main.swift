import Foundation
import RDR

/// The system manifest (`rdr.json`): decoded and validated, or refused.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let d = Data(bytes: data, count: size)
    if let m = try? JSONDecoder().decode(Manifest.self, from: d) {
        _ = try? m.validate(path: "fuzz/rdr.json")
        for disk in m.disks { _ = try? m.disk(named: disk.name) }
    }
    return 0
}
