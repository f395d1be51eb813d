import EdgeCore
import Foundation
import KVStore

/// ``HTTPFetching`` on libcurl: every transfer runs on one dedicated thread (multi interface),
/// with retries (exponential backoff, full jitter, `Retry-After`) and a per-host circuit breaker.
///
/// Retries: a response with status 429 or 5xx, or a connection error, is retried up to the
/// request's `maxAttempts` when the request is retryable (``FetchRequest/isRetryable``).
/// Timeouts, TLS failures and oversized responses are not retried: the time budget is spent or
/// repeating cannot help. Each attempt counts in the host's breaker (5xx, connection errors and
/// timeouts as failures).
///
/// Call ``shutdown()`` when done (deinit does it too); requests in flight then fail with
/// `.shutdown`.
public final class CurlFetcher: HTTPFetching {
    /// Settings shared by every request of this fetcher.
    public struct Configuration: Sendable {
        /// Backoff and `Retry-After` limits.
        public var retry: RetryPolicy
        /// Circuit-breaker thresholds.
        public var breaker: CircuitBreaker.Settings
        /// The wall clock of the breaker and of `Retry-After` dates.
        public var clock: any WallClock
        /// How the fetcher waits between attempts (tests inject one that records and returns).
        public var sleep: @Sendable (Duration) async throws -> Void

        public init(
            retry: RetryPolicy = RetryPolicy(),
            breaker: CircuitBreaker.Settings = .init(),
            clock: any WallClock = SystemWallClock(),
            sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
        ) {
            self.retry = retry
            self.breaker = breaker
            self.clock = clock
            self.sleep = sleep
        }
    }

    /// The configuration in force.
    public let configuration: Configuration
    /// The per-host breakers (exposed for metrics and tests).
    public let breaker: CircuitBreaker
    private let driver: CurlMultiDriver

    /// Creates a fetcher and starts its transfer thread.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        breaker = CircuitBreaker(settings: configuration.breaker, clock: configuration.clock)
        driver = CurlMultiDriver()
    }

    deinit { driver.shutdown() }

    /// Stops the transfer thread; later and in-flight requests fail with `.shutdown`.
    public func shutdown() { driver.shutdown() }

    public func fetch(_ request: FetchRequest) async throws -> FetchResponse {
        let host = try Self.hostKey(of: request.url)
        let retryable = request.isRetryable
        let maxAttempts = max(1, request.maxAttempts)
        var attempt = 0
        while true {
            attempt += 1
            try Task.checkCancellation()
            let permit = try breaker.admit(host: host)
            let result: CurlResult
            do {
                result = try await driver.perform(request, host: host)
            } catch let error as FetchError {
                let hostFailure = error.code == .connection || error.code == .timeout || error.code == .tls
                breaker.record(permit, failed: hostFailure ? true : nil)
                guard error.code == .connection, retryable, attempt < maxAttempts else { throw error }
                try await configuration.sleep(configuration.retry.backoff(afterAttempt: attempt))
                continue
            } catch {
                breaker.record(permit, failed: nil)
                throw error
            }
            breaker.record(permit, failed: result.status >= 500)
            let response = FetchResponse(status: result.status, headers: result.headers, body: result.body, attempts: attempt)
            guard RetryPolicy.isRetryableStatus(result.status), retryable, attempt < maxAttempts,
                let delay = retryDelay(for: response, attempt: attempt)
            else { return response }
            try await configuration.sleep(delay)
        }
    }

    /// The wait before the next attempt: the response's `Retry-After` when present and within
    /// the cap, `nil` (do not retry) when it asks for longer, else the jittered backoff.
    private func retryDelay(for response: FetchResponse, attempt: Int) -> Duration? {
        guard let header = response.headers["Retry-After"],
            let seconds = RetryAfter.delay(header, now: configuration.clock.now())
        else { return configuration.retry.backoff(afterAttempt: attempt) }
        guard seconds <= configuration.retry.maxRetryAfter.seconds else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    /// `scheme://host:port` (port made explicit), the breaker's key and the name in messages.
    /// - Throws: `.invalidRequest` for a URL that is not absolute http(s).
    static func hostKey(of url: String) throws(FetchError) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else { throw FetchError(.invalidRequest, "not an absolute http(s) URL") }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "\(scheme)://\(bracketed.lowercased()):\(port)"
    }
}
