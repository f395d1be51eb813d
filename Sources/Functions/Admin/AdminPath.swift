import EdgeRuntime

/// The part of an admin request path after the route's base (`<route>`): from the trailing
/// wildcard, or from explicit `:namespace`/`:queue` … parameters.
struct AdminPath {
    let segments: [String]

    init(_ request: EdgeRequest) {
        if let rest = request.params["*"] {
            // Split on the UTF-8 bytes (`/` is ASCII): splitting the String walks grapheme clusters.
            segments = rest.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map { String(Substring($0)) }
        } else {
            segments = []
        }
    }
}
