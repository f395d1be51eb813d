import Foundation

/// A handler that holds work in memory (an analytics buffer) and must flush it every
/// ``flushIntervalSeconds`` and on graceful shutdown.
///
/// The server runs one ``FunctionFlusher`` service for all such handlers: it calls
/// ``flush(env:)`` on that period, and once more after the HTTP server stopped (before queue
/// consumers stop and the data directory closes), so nothing accepted is lost on SIGTERM.
public protocol FunctionLifecycle: EdgeFunction {
    /// How often the buffer is flushed when it does not fill up first.
    var flushIntervalSeconds: Double { get }

    /// Sends (or spills) everything buffered and waits for flushes in flight.
    func flush(env: Env) async
}

/// What the analytics middleware reports for one request of a function with `"analytics"`.
public struct RequestAnalyticsEvent: Sendable {
    public var path: String
    public var method: String
    public var status: Int
    /// Milliseconds from the request's arrival to its answer.
    public var durationMs: Double
    /// The verified auth claims' `sub`, when the function has `"auth"`.
    public var userID: String?
    /// `CF-Connecting-IP`, else the first `X-Forwarded-For` entry, else the peer address.
    public var ip: String?

    public init(path: String, method: String, status: Int, durationMs: Double, userID: String?, ip: String?) {
        self.path = path
        self.method = method
        self.status = status
        self.durationMs = durationMs
        self.userID = userID
        self.ip = ip
    }
}

/// A handler that takes the middleware's `api_request` events for provider ``analyticsProvider``
/// (`"mixpanel"` or `"posthog"`): the first such function in the manifest receives them.
public protocol RequestAnalyticsSink: Sendable {
    var analyticsProvider: String { get }

    /// Buffers `event`; must not wait for the provider.
    func record(_ event: RequestAnalyticsEvent, env: Env)
}
