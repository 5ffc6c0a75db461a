/// The magic numbers that open NBD messages (proto.md: "Newstyle negotiation", "Fixed newstyle
/// negotiation", "Transmission", "Reserved Magic values"). Every value is sent big-endian.
public enum NBDMagic {
    /// `NBDMAGIC` (`INIT_PASSWD`): the first 8 bytes of every server greeting, ASCII "NBDMAGIC".
    public static let nbdMagic: UInt64 = 0x4e42_444d_4147_4943
    /// `IHAVEOPT`: the second greeting word of newstyle negotiation and the magic of every option.
    public static let ihaveopt: UInt64 = 0x4948_4156_454f_5054
    /// `cliserv_magic`: the second greeting word of oldstyle negotiation (no options; unsupported).
    public static let cliservOldstyle: UInt64 = 0x0042_0281_8612_53
    /// `NBD_REP_MAGIC`: opens every option reply of fixed newstyle negotiation.
    public static let optionReply: UInt64 = 0x0003_e889_0455_65a9
    /// `NBD_REQUEST_MAGIC`: opens every transmission request.
    public static let request: UInt32 = 0x2560_9513
    /// `NBD_SIMPLE_REPLY_MAGIC` (formerly `NBD_REPLY_MAGIC`): opens every simple reply.
    public static let simpleReply: UInt32 = 0x6744_6698
    /// `NBD_STRUCTURED_REPLY_MAGIC`: opens every structured reply chunk.
    public static let structuredReply: UInt32 = 0x668e_33ef
    /// `NBD_EXTENDED_REQUEST_MAGIC`: request of the EXTENDED_HEADERS extension (never negotiated here).
    public static let extendedRequest: UInt32 = 0x21e4_1c71
    /// `NBD_EXTENDED_REPLY_MAGIC`: reply of the EXTENDED_HEADERS extension (never negotiated here).
    public static let extendedReply: UInt32 = 0x6e8a_278c

    /// A short name of the message a magic opens, for error messages.
    static func messageName(_ magic: UInt64) -> String {
        switch magic {
        case nbdMagic: "server greeting (NBDMAGIC)"
        case ihaveopt: "option request (IHAVEOPT)"
        case optionReply: "option reply (NBD_REP_MAGIC)"
        case UInt64(request): "request (NBD_REQUEST_MAGIC)"
        case UInt64(simpleReply), UInt64(structuredReply):
            "reply (NBD_SIMPLE_REPLY_MAGIC or NBD_STRUCTURED_REPLY_MAGIC)"
        default: "message"
        }
    }
}

/// The string rules of proto.md "Conventions" that a decoder enforces on names a peer sends.
public enum NBDString {
    /// Strings (export names, context names, queries, messages) MUST be no longer than 4096 bytes.
    public static let maxLength = 4096
}
