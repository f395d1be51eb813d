import Foundation

/// A route `"METHOD /path"`: literal segments, `:param` segments, and an optional trailing `*`
/// that matches one or more segments.
public struct RoutePattern: Sendable, Hashable, CustomStringConvertible {
    public enum Segment: Sendable, Hashable {
        case literal(String)
        case parameter(String)
        case wildcard
    }

    public let method: String
    public let segments: [Segment]
    /// The text as written in the manifest (normalised spacing).
    public let source: String

    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    /// Parses `"POST /webhooks/:provider/*"`.
    /// - Throws: ``RoutePatternError`` saying what is wrong.
    public init(parsing text: String) throws(RoutePatternError) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2 else { throw RoutePatternError("route \"\(text)\" must be \"METHOD /path\"") }
        let method = String(parts[0])
        guard Self.methods.contains(method) else {
            throw RoutePatternError("route \"\(text)\": method \"\(method)\" is not one of \(Self.methods.sorted().joined(separator: ", "))")
        }
        let path = String(parts[1])
        guard path.hasPrefix("/") else { throw RoutePatternError("route \"\(text)\": the path must start with /") }
        var segments: [Segment] = []
        let raw = path.split(separator: "/", omittingEmptySubsequences: true)
        var names = Set<String>()
        for (i, piece) in raw.enumerated() {
            if piece == "*" {
                guard i == raw.count - 1 else { throw RoutePatternError("route \"\(text)\": * may only be the last segment") }
                segments.append(.wildcard)
            } else if piece.hasPrefix(":") {
                let name = String(piece.dropFirst())
                guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw RoutePatternError("route \"\(text)\": bad parameter name \"\(piece)\"")
                }
                guard names.insert(name).inserted else { throw RoutePatternError("route \"\(text)\": parameter :\(name) appears twice") }
                segments.append(.parameter(name))
            } else {
                if piece.contains("*") || piece.contains("?") { throw RoutePatternError("route \"\(text)\": bad segment \"\(piece)\"") }
                segments.append(.literal(String(piece)))
            }
        }
        self.method = method
        self.segments = segments
        self.source = "\(method) \(path)"
    }

    /// The path as written (for `routes` output).
    public var path: String { String(source.split(separator: " ", maxSplits: 1)[1]) }

    /// The path without a trailing `/*` (the admin handlers' `<route>`).
    public var basePath: String {
        var segs = segments
        if segs.last == .wildcard { segs.removeLast() }
        return "/"
            + segs.map { seg -> String in
                switch seg {
                case .literal(let s): s
                case .parameter(let p): ":" + p
                case .wildcard: "*"
                }
            }.joined(separator: "/")
    }

    /// Matches split, percent-decoded path segments; returns the parameters (`*` holds the
    /// rest of the path for a trailing wildcard).
    public func match(_ pathSegments: [String]) -> [String: String]? {
        var params: [String: String] = [:]
        for (i, seg) in segments.enumerated() {
            switch seg {
            case .wildcard:
                guard pathSegments.count > i else { return nil }
                params["*"] = Self.joinedRest(pathSegments, from: i)
                return params
            case .literal(let s):
                guard i < pathSegments.count, pathSegments[i] == s else { return nil }
            case .parameter(let name):
                guard i < pathSegments.count, !pathSegments[i].isEmpty else { return nil }
                params[name] = pathSegments[i]
            }
        }
        return pathSegments.count == segments.count ? params : nil
    }

    /// `segments[from...]` joined by `/`, sized up front (`joined(separator:)` on a slice is a
    /// generic walk that grows its result as it goes; this runs per request on wildcard routes).
    static func joinedRest(_ segments: [String], from start: Int) -> String {
        if start == segments.count - 1 { return segments[start] }
        var length = segments.count - start - 1
        for i in start..<segments.count { length += segments[i].utf8.count }
        var joined = ""
        joined.reserveCapacity(length)
        for i in start..<segments.count {
            if i > start { joined.append("/") }
            joined.append(segments[i])
        }
        return joined
    }

    /// Whether two patterns of one method have the same shape, so neither would ever win.
    public func clashes(with other: RoutePattern) -> Bool {
        guard method == other.method, segments.count == other.segments.count else { return false }
        for (a, b) in zip(segments, other.segments) {
            switch (a, b) {
            case (.literal(let x), .literal(let y)) where x == y: continue
            case (.parameter, .parameter), (.wildcard, .wildcard): continue
            default: return false
            }
        }
        return true
    }

    /// Precedence among matching routes: literals beat parameters beat a wildcard, segment by segment.
    var specificity: [Int] {
        segments.map { seg in
            switch seg {
            case .literal: 2
            case .parameter: 1
            case .wildcard: 0
            }
        }
    }

    public var description: String { source }
}

public struct RoutePatternError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
