import Glibc

/// ISO 8601 UTC text ("2026-11-23T15:04:05Z") from the C library. Foundation's date formatters
/// load the time zone database and ICU on first use: about 35 ms of a cold start, which every
/// `rdr` command that takes the lock paid for one timestamp in the lock holder's description.
public enum UTCTimestamp {
    public static func now() -> String { string(epochSeconds: time(nil)) }

    public static func string(epochSeconds: Int) -> String {
        var t = time_t(epochSeconds)
        var parts = tm()
        guard gmtime_r(&t, &parts) != nil else { return "\(epochSeconds)" }
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return
            "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
