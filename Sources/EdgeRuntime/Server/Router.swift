import Foundation

/// The route table: finds the function for a method and path.
struct Router: Sendable {
    struct Entry: Sendable {
        let pattern: RoutePattern
        let function: Int
    }

    enum Match {
        /// `entry`: the position of the matched route in ``patterns``.
        case found(function: Int, entry: Int, pattern: RoutePattern, params: [String: String])
        /// The path exists for other methods.
        case methodNotAllowed(allowed: [String])
        case notFound
    }

    private let entries: [Entry]

    /// The routes in the order they are tried (``Match/found(function:entry:pattern:params:)`` indexes this).
    var patterns: [RoutePattern] { entries.map(\.pattern) }

    /// Builds the table; entries are tried most specific first (literals before parameters
    /// before a wildcard, segment by segment).
    init(_ entries: [Entry]) {
        self.entries = entries.sorted { a, b in
            b.pattern.specificity.lexicographicallyPrecedes(a.pattern.specificity)
        }
    }

    /// Matches percent-decoded path segments. `HEAD` falls back to `GET` routes.
    func match(method: String, segments: [String]) -> Match {
        var allowed: Set<String> = []
        for (i, entry) in entries.enumerated() {
            guard let params = entry.pattern.match(segments) else { continue }
            if entry.pattern.method == method { return .found(function: entry.function, entry: i, pattern: entry.pattern, params: params) }
            allowed.insert(entry.pattern.method)
        }
        if method == "HEAD" {
            for (i, entry) in entries.enumerated() where entry.pattern.method == "GET" {
                if let params = entry.pattern.match(segments) {
                    return .found(function: entry.function, entry: i, pattern: entry.pattern, params: params)
                }
            }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed.sorted())
    }

    /// Splits a raw path and percent-decodes each segment; `nil` for a malformed escape.
    /// Works on the UTF-8 bytes (`/` and `%` are ASCII, so every cut is a character boundary)
    /// in one pass: splitting the `String` itself walks grapheme clusters, and the generic
    /// `split` builds an array of slices first (both several times the cost, per request).
    static func segments(of rawPath: String) -> [String]? {
        let utf8 = rawPath.utf8
        var out: [String] = []
        out.reserveCapacity(8)
        var start = utf8.startIndex
        var escaped = false
        var i = start
        while true {
            let atEnd = i == utf8.endIndex
            let byte = atEnd ? UInt8(ascii: "/") : utf8[i]
            if byte == UInt8(ascii: "/") {
                if start != i {
                    let piece = Substring(utf8[start..<i])
                    if escaped {
                        guard let decoded = piece.removingPercentEncoding else { return nil }
                        out.append(decoded)
                    } else {
                        out.append(String(piece))
                    }
                }
                if atEnd { return out }
                escaped = false
                start = utf8.index(after: i)
            } else if byte == UInt8(ascii: "%") {
                escaped = true
            }
            i = utf8.index(after: i)
        }
    }
}
