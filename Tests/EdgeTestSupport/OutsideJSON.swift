import Foundation

/// JSON texts on the edge of what the one reader of outside JSON (``JSONValue/parse(_:)``)
/// accepts: KV metadata, queue message bodies and request bodies are held to the same list.
public enum OutsideJSON {
    /// Refused: a lone surrogate escape (high, low, or high before a non-surrogate), a number
    /// beyond `Double` (`1e400`, 400 digits), 513 levels of nesting, a trailing comma, a byte
    /// order mark, UTF-16, a NUL after the value.
    public static let refused: [Data] = [
        Data(#""\ud800""#.utf8), Data(#""\udc00""#.utf8), Data(#""\ud800\u0041""#.utf8),
        Data("1e400".utf8), Data("-1e400".utf8), Data(("1" + String(repeating: "0", count: 400)).utf8),
        Data((String(repeating: "[", count: 513) + String(repeating: "]", count: 513)).utf8),
        Data("[1,]".utf8), Data([0xEF, 0xBB, 0xBF, 0x31]), Data([0xFF, 0xFE, 0x31, 0x00]), Data([0x31, 0x00]),
    ]

    /// Accepted: a surrogate pair, 512 levels of nesting, a number that underflows to 0, an
    /// integer beyond Int64 (read as a `Double`), a duplicate key (the last wins).
    public static let accepted: [Data] = [
        Data(#""\ud83d\ude00""#.utf8),
        Data((String(repeating: "[", count: 512) + String(repeating: "]", count: 512)).utf8),
        Data("1e-400".utf8), Data("123456789012345678901234567890".utf8), Data(#"{"a":1,"a":2}"#.utf8),
    ]
}
