import EdgeRuntime

/// The part of an admin request path after the route's base (`<route>`): from the trailing
/// wildcard, or from explicit `:namespace`/`:queue` … parameters.
struct AdminPath {
    let segments: [String]

    init(_ request: EdgeRequest) {
        if let rest = request.params["*"] {
            segments = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        } else {
            segments = []
        }
    }
}
