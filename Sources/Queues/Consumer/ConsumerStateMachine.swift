/// The consumer's decisions, as a plain state machine: the owner calls it under a lock and
/// performs what it returns after releasing the lock (no I/O here).
///
/// A batch is *in flight* from the moment it is taken until its outcome is committed; its
/// handler *runs* from delivery until the handler returns. `max_concurrency` bounds running
/// handlers; a few more batches may be settling (their commits grouped with the next leases).
package struct ConsumerStateMachine {
    package struct Settings: Sendable {
        var maxBatchSize: Int
        var maxBatchTimeoutMillis: Int64
        var maxConcurrency: Int
        /// Batches taken and not yet settled, running handlers included.
        var maxUnsettledBatches: Int

        package init(_ config: ConsumerConfig) {
            maxBatchSize = config.maxBatchSize
            maxBatchTimeoutMillis = config.maxBatchTimeoutMillis
            maxConcurrency = config.maxConcurrency
            // Settling takes two grouped commits (lease, outcome) of a few ms each: keep enough
            // batches settling behind the running ones that commits, not fsync latency, bound throughput.
            maxUnsettledBatches = config.maxConcurrency + 16
        }
    }

    /// What the consumer loop does next.
    package enum Plan: Equatable {
        /// Take the first `count` available messages as a batch.
        case deliver(count: Int)
        /// Sleep until `untilMillis` (unix ms; `nil`: no deadline) or a notification.
        case sleep(untilMillis: Int64?)
        /// Wait for a running batch to finish.
        case waitForCapacity
        /// Stop taking batches.
        case stop
    }

    let settings: Settings
    private(set) var runningHandlers = 0
    private(set) var unsettledBatches = 0
    /// Messages of unsettled batches: the loop skips them when it scans the due index.
    private(set) var inFlight: Set<MessageID> = []
    private(set) var stopping = false

    package init(settings: Settings) { self.settings = settings }

    /// Whether another batch may be taken now.
    var hasCapacity: Bool {
        !stopping && runningHandlers < settings.maxConcurrency && unsettledBatches < settings.maxUnsettledBatches
    }

    /// Whether nothing is running or settling.
    var isIdle: Bool { unsettledBatches == 0 }

    /// Decides from a scan of the due index taken at `nowMillis`.
    /// - Parameters:
    ///   - availableCount: available messages not in flight (the scan stops at `maxBatchSize`).
    ///   - firstAvailableDueMillis: when the oldest of them became available.
    ///   - nextDueMillis: the next due time after now, if any.
    package func plan(availableCount: Int, firstAvailableDueMillis: Int64?, nextDueMillis: Int64?, nowMillis: Int64) -> Plan {
        if stopping { return .stop }
        guard hasCapacity else { return .waitForCapacity }
        if availableCount >= settings.maxBatchSize { return .deliver(count: settings.maxBatchSize) }
        guard availableCount > 0, let first = firstAvailableDueMillis else { return .sleep(untilMillis: nextDueMillis) }
        let deadline = first + settings.maxBatchTimeoutMillis
        if nowMillis >= deadline { return .deliver(count: availableCount) }
        return .sleep(untilMillis: nextDueMillis.map { min($0, deadline) } ?? deadline)
    }

    package mutating func batchStarted(_ ids: [MessageID]) {
        runningHandlers += 1
        unsettledBatches += 1
        inFlight.formUnion(ids)
    }

    package mutating func handlerFinished() { runningHandlers -= 1 }

    package mutating func batchSettled(_ ids: [MessageID]) {
        unsettledBatches -= 1
        inFlight.subtract(ids)
    }

    package mutating func stop() { stopping = true }
}

/// Turns a consumer's decisions and its handler's outcome into how each message is settled.
enum Settlement {
    /// - Parameters:
    ///   - decision: the first ack/retry/deadLetter call on the message, if any.
    ///   - handlerError: what the handler threw, if it threw.
    ///   - attempts: deliveries of the message by this queue, this one included.
    static func disposition(
        decision: MessageDecision?,
        handlerError: String?,
        attempts: Int,
        config: ConsumerConfig,
        nowMillis: Int64
    ) -> Disposition {
        switch decision {
        case .ack:
            return .ack
        case .deadLetter(let reason):
            return .deadLetter(lastError: reason)
        case .retry(let delay, let reason):
            return retryOrDeadLetter(
                delaySeconds: delay ?? config.retryDelay,
                error: reason ?? handlerError ?? "retry requested by the consumer",
                attempts: attempts,
                config: config,
                nowMillis: nowMillis
            )
        case nil:
            guard let handlerError else { return .ack }
            return retryOrDeadLetter(
                delaySeconds: config.retryDelay,
                error: handlerError,
                attempts: attempts,
                config: config,
                nowMillis: nowMillis
            )
        }
    }

    /// A retry, or a dead letter once the message had its `1 + max_retries` deliveries.
    private static func retryOrDeadLetter(delaySeconds: Int, error: String, attempts: Int, config: ConsumerConfig, nowMillis: Int64) -> Disposition {
        if attempts >= 1 + config.maxRetries { return .deadLetter(lastError: error) }
        return .retry(dueMillis: nowMillis + Int64(delaySeconds) * 1000, lastError: error)
    }
}
