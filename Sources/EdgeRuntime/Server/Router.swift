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
                if let params = entry.pattern.match(segments) { return .found(function: entry.function, entry: i, pattern: entry.pattern, params: params) }
            }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed.sorted())
    }

    /// Splits a raw path and percent-decodes each segment; `nil` for a malformed escape.
    /// Works on the UTF-8 bytes (`/` and `%` are ASCII, so every cut is a character boundary):
    /// splitting the `String` itself walks grapheme clusters, several times the cost.
    static func segments(of rawPath: String) -> [String]? {
        var out: [String] = []
        for bytes in rawPath.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            let piece = Substring(bytes)
            if bytes.contains(UInt8(ascii: "%")) {
                guard let decoded = piece.removingPercentEncoding else { return nil }
                out.append(decoded)
            } else {
                out.append(String(piece))
            }
        }
        return out
    }
}
