import EdgeCore
import KVStore
import Synchronization

/// Per-host circuit breakers: a host failing at least half of its recent calls is not called
/// for a while, so a dead provider costs callers a fast typed error instead of a timeout each.
///
/// Thread-safe; one instance is shared by every request of a ``CurlFetcher``. The clock is
/// injectable so tests move time instead of sleeping.
public final class CircuitBreaker: Sendable {
    /// The breaker's thresholds.
    public struct Settings: Sendable, Equatable {
        /// The failed share of calls in the window that opens the circuit (0.5 = 50%).
        public var failureRatio: Double
        /// Fewer calls than this in the window never open the circuit.
        public var minimumCalls: Int
        /// The rolling window outcomes are counted over.
        public var window: Duration
        /// The window's resolution: it slides by `window / bucketCount`.
        public var bucketCount: Int
        /// How long an open circuit refuses calls before letting one trial through.
        public var openDuration: Duration

        public init(
            failureRatio: Double = 0.5,
            minimumCalls: Int = 10,
            window: Duration = .seconds(60),
            bucketCount: Int = 12,
            openDuration: Duration = .seconds(30)
        ) {
            self.failureRatio = failureRatio
            self.minimumCalls = minimumCalls
            self.window = window
            self.bucketCount = bucketCount
            self.openDuration = openDuration
        }
    }

    /// A host's circuit, as seen from outside.
    public enum State: Sendable, Equatable {
        case closed, open, halfOpen
    }

    /// Permission for one call; hand it back to ``record(_:failed:)`` when the call ends.
    public struct Permit: Sendable {
        /// The host key the permit belongs to.
        public let host: String
        /// Whether this call is the single trial of a half-open circuit.
        public let isTrial: Bool
    }

    /// The settings in force.
    public let settings: Settings
    private let clock: any WallClock
    private let hosts = Mutex<[String: CircuitBreakerState]>([:])

    /// Creates breakers that use `settings` for every host and `clock` for time.
    public init(settings: Settings = Settings(), clock: any WallClock = SystemWallClock()) {
        self.settings = settings
        self.clock = clock
    }

    /// Asks to start a call to `host`.
    /// - Throws: ``FetchError`` `.circuitOpen` when the host's circuit is open, or half-open
    ///   with its trial call still running.
    public func admit(host: String) throws(FetchError) -> Permit {
        let now = clock.now()
        let admission = hosts.withLock { table in
            table[host, default: CircuitBreakerState(settings: settings)].admit(now: now)
        }
        switch admission {
        case .allowed(let trial):
            return Permit(host: host, isTrial: trial)
        case .rejected(let retryIn):
            let wait = retryIn > 0 ? "; next trial in \(Int(retryIn.rounded(.up))) s" : "; a trial call is in flight"
            throw FetchError(.circuitOpen, "circuit open for \(host): too many recent failures\(wait)")
        }
    }

    /// Records how a permitted call ended: `failed` true for a host failure (connection error,
    /// timeout, 5xx), false for a success, `nil` for neither (cancelled, aborted locally).
    public func record(_ permit: Permit, failed: Bool?) {
        let now = clock.now()
        let outcome: CircuitBreakerState.Outcome = failed.map { $0 ? .failure : .success } ?? .neutral
        hosts.withLock { table in
            table[permit.host, default: CircuitBreakerState(settings: settings)]
                .record(outcome, trial: permit.isTrial, now: now)
        }
    }

    /// The circuit of `host` now (an open circuit whose wait has passed still reads `.open`
    /// until the next call turns it half-open).
    public func state(host: String) -> State {
        hosts.withLock { table in
            switch table[host]?.phase ?? .closed {
            case .closed: .closed
            case .open: .open
            case .halfOpen: .halfOpen
            }
        }
    }
}
