import EdgeCore

/// Limits of the server as a whole (top-level `limits` only): connections and shutdown.
public struct ServerLimits: Sendable, Equatable {
    /// `limits.shutdown_grace_seconds`: how long in-flight requests and batches get after
    /// SIGTERM/SIGINT before what is left is answered 503 and cancelled.
    public var shutdownGraceSeconds: Double = 10
    /// `limits.body_read_timeout_seconds`: a request body not fully received this long after its
    /// head is answered 408. Server-wide: the connection enforces it before routing.
    public var bodyReadTimeoutSeconds: Double = 30
    /// `limits.idle_timeout_seconds`: a keep-alive connection with no request for this long is closed.
    public var idleTimeoutSeconds: Double = 60
    /// `limits.max_connections`: connections open at once; more are closed as they arrive.
    public var maxConnections: Int = 10_000
    /// `limits.storage_pool_size`: connections each node keeps to PostgreSQL storage (times the
    /// node count, it must fit the server's `max_connections`); unused on LMDB.
    public var storagePoolSize: Int = 8

    public init(
        shutdownGraceSeconds: Double = 10,
        bodyReadTimeoutSeconds: Double = 30,
        idleTimeoutSeconds: Double = 60,
        maxConnections: Int = 10_000
    ) {
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.bodyReadTimeoutSeconds = bodyReadTimeoutSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.maxConnections = maxConnections
    }
}

/// The `limits` keys, their ranges, and where each may appear.
enum LimitKeys {
    /// Keys a function may set for itself (they override the top-level value).
    static let perFunction: Set<String> = ["max_body_bytes", "handler_timeout_seconds", "max_runaway"]
    /// Keys that apply to the whole server (top-level `limits` only).
    static let serverWide: Set<String> = [
        "shutdown_grace_seconds", "body_read_timeout_seconds", "idle_timeout_seconds", "max_connections",
        "storage_pool_size",
    ]

    static let maxBodyBytes = 1...(100 << 20)
    static let handlerTimeoutSeconds = 0.001...900.0
    static let bodyReadTimeoutSeconds = 0.1...3600.0
    static let maxRunaway = 1...100_000
    static let shutdownGraceSeconds = 0.0...3600.0
    static let idleTimeoutSeconds = 0.1...86_400.0
    static let maxConnections = 1...1_000_000
    static let storagePoolSize = 1...1000
}

extension Problems {
    /// The top-level `limits` object: request limits (the base every function starts from) and
    /// the server-wide ones. `setsMaxBodyBytes` tells whether `max_body_bytes` was given explicitly.
    mutating func topLevelLimits(
        _ object: [String: JSONValue],
        at path: String
    )
        -> (request: RuntimeLimits, server: ServerLimits, setsMaxBodyBytes: Bool)
    {
        unknownKeys(object, at: path, allowed: LimitKeys.perFunction.union(LimitKeys.serverWide))
        let request = requestLimits(object, at: path, base: RuntimeLimits())
        var server = ServerLimits()
        if let v = object["shutdown_grace_seconds"], let d = double(v, at: "\(path).shutdown_grace_seconds", in: LimitKeys.shutdownGraceSeconds) {
            server.shutdownGraceSeconds = d
        }
        if let v = object["body_read_timeout_seconds"],
            let d = double(v, at: "\(path).body_read_timeout_seconds", in: LimitKeys.bodyReadTimeoutSeconds)
        {
            server.bodyReadTimeoutSeconds = d
        }
        if let v = object["idle_timeout_seconds"], let d = double(v, at: "\(path).idle_timeout_seconds", in: LimitKeys.idleTimeoutSeconds) {
            server.idleTimeoutSeconds = d
        }
        if let v = object["max_connections"], let n = int(v, at: "\(path).max_connections", in: LimitKeys.maxConnections) {
            server.maxConnections = n
        }
        if let v = object["storage_pool_size"], let n = int(v, at: "\(path).storage_pool_size", in: LimitKeys.storagePoolSize) {
            server.storagePoolSize = n
        }
        return (request, server, object["max_body_bytes"] != nil)
    }

    /// A function's own `limits`: overrides of the per-function keys on top of `base`; a
    /// server-wide key there is a problem that says where it belongs.
    mutating func functionLimits(_ object: [String: JSONValue], at path: String, base: RuntimeLimits) -> RuntimeLimits {
        for key in object.keys.sorted() where LimitKeys.serverWide.contains(key) {
            add("\(path).\(key)", "applies to the whole server: set it in the top-level limits")
        }
        unknownKeys(object.filter { !LimitKeys.serverWide.contains($0.key) }, at: path, allowed: LimitKeys.perFunction)
        return requestLimits(object, at: path, base: base)
    }

    private mutating func requestLimits(_ object: [String: JSONValue], at path: String, base: RuntimeLimits) -> RuntimeLimits {
        var limits = base
        if let v = object["max_body_bytes"], let n = int(v, at: "\(path).max_body_bytes", in: LimitKeys.maxBodyBytes) { limits.maxBodyBytes = n }
        if let v = object["handler_timeout_seconds"], let d = double(v, at: "\(path).handler_timeout_seconds", in: LimitKeys.handlerTimeoutSeconds) {
            limits.handlerTimeoutSeconds = d
        }
        if let v = object["max_runaway"], let n = int(v, at: "\(path).max_runaway", in: LimitKeys.maxRunaway) { limits.maxRunaway = n }
        return limits
    }
}
