import Foundation

/// The route table: finds the function for a method and path.
struct Router: Sendable {
    struct Entry: Sendable {
        let pattern: RoutePattern
        let function: Int
    }

    enum Match {
        case found(function: Int, pattern: RoutePattern, params: [String: String])
        /// The path exists for other methods.
        case methodNotAllowed(allowed: [String])
        case notFound
    }

    private let entries: [Entry]

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
        for entry in entries {
            guard let params = entry.pattern.match(segments) else { continue }
            if entry.pattern.method == method { return .found(function: entry.function, pattern: entry.pattern, params: params) }
            allowed.insert(entry.pattern.method)
        }
        if method == "HEAD" {
            for entry in entries where entry.pattern.method == "GET" {
                if let params = entry.pattern.match(segments) { return .found(function: entry.function, pattern: entry.pattern, params: params) }
            }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed.sorted())
    }

    /// Splits a raw path and percent-decodes each segment; `nil` for a malformed escape.
    static func segments(of rawPath: String) -> [String]? {
        var out: [String] = []
        for piece in rawPath.split(separator: "/", omittingEmptySubsequences: true) {
            if piece.contains("%") {
                guard let decoded = piece.removingPercentEncoding else { return nil }
                out.append(decoded)
            } else {
                out.append(String(piece))
            }
        }
        return out
    }
}
