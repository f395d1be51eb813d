/// The circuit breaker of one host as a plain state machine: no locks, no clock, no I/O.
/// ``CircuitBreaker`` owns one per host and calls it under its lock.
///
/// Closed: calls pass and their outcomes fill a rolling window of `bucketCount` time buckets.
/// When the window holds at least `minimumCalls` outcomes and the failed share reaches
/// `failureRatio`, the circuit opens. Open: calls are refused until `openDuration` has passed,
/// then the next call is let through as the single trial (half-open). The trial's success
/// closes the circuit with an empty window; its failure opens it again.
struct CircuitBreakerState: Sendable {
    /// The outcome of one call, as the breaker counts it.
    enum Outcome: Sendable {
        case success, failure
        /// Neither (cancelled, refused locally): only releases a trial slot.
        case neutral
    }

    enum Admission: Equatable, Sendable {
        case allowed(trial: Bool)
        /// Refused; the circuit may half-open in this many seconds.
        case rejected(retryIn: Double)
    }

    enum Phase: Equatable, Sendable {
        case closed
        case open(since: Double)
        case halfOpen(trialInFlight: Bool)
    }

    private struct Bucket: Sendable {
        var epoch: Int64 = .min
        var successes = 0
        var failures = 0
    }

    let settings: CircuitBreaker.Settings
    private(set) var phase: Phase = .closed
    private var buckets: [Bucket]

    init(settings: CircuitBreaker.Settings) {
        self.settings = settings
        buckets = Array(repeating: Bucket(), count: max(settings.bucketCount, 1))
    }

    /// Decides whether a call may start at `now` (seconds).
    mutating func admit(now: Double) -> Admission {
        switch phase {
        case .closed:
            return .allowed(trial: false)
        case .open(let since):
            let reopenAt = since + settings.openDuration.seconds
            guard now >= reopenAt else { return .rejected(retryIn: reopenAt - now) }
            phase = .halfOpen(trialInFlight: true)
            return .allowed(trial: true)
        case .halfOpen(let trialInFlight):
            guard !trialInFlight else { return .rejected(retryIn: 0) }
            phase = .halfOpen(trialInFlight: true)
            return .allowed(trial: true)
        }
    }

    /// Records the outcome of a call admitted earlier (`trial` as ``admit(now:)`` said).
    mutating func record(_ outcome: Outcome, trial: Bool, now: Double) {
        if trial {
            guard case .halfOpen = phase else { return }
            switch outcome {
            case .success:
                phase = .closed
                buckets = Array(repeating: Bucket(), count: buckets.count)
            case .failure:
                phase = .open(since: now)
            case .neutral:
                phase = .halfOpen(trialInFlight: false)
            }
            return
        }
        // Outcomes of calls admitted while closed count only while still closed.
        guard phase == .closed, outcome != .neutral else { return }
        let width = max(settings.window.seconds / Double(buckets.count), 0.001)
        let epoch = Int64((now / width).rounded(.down))
        let slot = Int(((epoch % Int64(buckets.count)) + Int64(buckets.count)) % Int64(buckets.count))
        if buckets[slot].epoch != epoch { buckets[slot] = Bucket(epoch: epoch) }
        if outcome == .success { buckets[slot].successes += 1 } else { buckets[slot].failures += 1 }

        var calls = 0
        var failures = 0
        for bucket in buckets where bucket.epoch > epoch - Int64(buckets.count) {
            calls += bucket.successes + bucket.failures
            failures += bucket.failures
        }
        if calls >= settings.minimumCalls, Double(failures) >= settings.failureRatio * Double(calls) {
            phase = .open(since: now)
        }
    }
}
