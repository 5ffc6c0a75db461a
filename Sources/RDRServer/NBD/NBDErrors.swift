import Glibc
import NBDWire
import RDR

/// The NBD error value for an engine error (proto.md "Error values").
enum NBDErrors {
    /// FAST_ZERO that would not be fast: refused before anything is changed.
    static let notFast = RDRError(
        .invalidState,
        "zeroes that keep the range allocated (NO_HOLE) are written, which is not faster than a WRITE; retry without FAST_ZERO"
    )

    static func code(for error: RDRError) -> NBDErrno {
        if error == notFast { return .enotsup }
        switch error.kind {
        case .accessRefused, .invalidState: return .eperm
        case .invalidArgument: return .einval
        case .interrupted: return .eshutdown
        case .io: return isOutOfSpace(error) ? .enospc : .eio
        case .busy, .corrupt: return .eio
        }
    }

    /// proto.md: a server SHOULD map ENOSPC, EDQUOT and EFBIG to NBD_ENOSPC. The engine's I/O
    /// errors carry the errno only in their text (`Errno.description` ends with strerror), so
    /// the text is what is compared.
    static func isOutOfSpace(_ error: RDRError) -> Bool {
        [ENOSPC, EDQUOT, EFBIG].contains { error.message.hasSuffix(String(cString: strerror($0))) }
    }
}
