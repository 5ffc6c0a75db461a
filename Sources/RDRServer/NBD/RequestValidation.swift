import NBDWire

/// The checks a reader makes before a request costs anything, with proto.md's error values:
/// EINVAL for an unknown command or flag, a read or trim past the end, BLOCK_STATUS without a
/// context; ENOSPC for a write past the end; EPERM for a write on a read-only export; EINVAL
/// (simple replies) or EOVERFLOW (structured, which could have been split) for a READ over the
/// maximum payload. (An over-limit WRITE is caught by the decoder itself.)
enum RequestValidation {
    static func refusal(_ r: NBDRequest, _ t: Transmission) -> (NBDErrno, String)? {
        var allowed: CommandFlags = t.flags.contains(.sendFUA) ? [.fua] : []
        let writes: Bool
        switch r.command {
        case .read:
            writes = false
            if t.structured { allowed.insert(.df) }
        case .write, .trim: writes = true
        case .writeZeroes:
            writes = true
            allowed.formUnion([.noHole, .fastZero])
        case .flush, .cache: writes = false
        case .blockStatus:
            writes = false
            allowed.insert(.reqOne)
        default: return (.einval, "unknown command \(r.command.rawValue)")
        }
        guard allowed.isSuperset(of: r.flags) else {
            return (
                .einval,
                "flags 0x\(String(r.flags.subtracting(allowed).rawValue, radix: 16)) are not valid on \(r.command) here"
            )
        }
        if writes && t.flags.contains(.readOnly) { return (.eperm, "the export is read-only (rdr serve --read-only)") }
        if r.command == .flush { return nil }
        if r.command == .blockStatus {
            guard t.structured, !t.contexts.isEmpty else {
                return (
                    .einval,
                    "NBD_CMD_BLOCK_STATUS needs structured replies and a metadata context selected with NBD_OPT_SET_META_CONTEXT"
                )
            }
            guard r.length > 0 else { return (.einval, "NBD_CMD_BLOCK_STATUS of 0 bytes") }
        }
        let size = UInt64(t.export.disk.size)
        guard r.offset <= size, UInt64(r.length) <= size - r.offset else {
            let code: NBDErrno = r.command == .write || r.command == .writeZeroes ? .enospc : .einval
            return (
                code, "\(r.command) of \(r.length) bytes at \(r.offset) is past the end of the export (\(size) bytes)"
            )
        }
        if r.command == .read && Int(r.length) > ServerConfiguration.maxPayload {
            return (
                t.structured ? .eoverflow : .einval,
                "NBD_CMD_READ of \(r.length) bytes is over the maximum payload of \(ServerConfiguration.maxPayload)"
            )
        }
        return nil
    }
}
