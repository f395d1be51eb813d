/// What became of one batch a consumer handled (for live tails): each message's outcome as
/// settled, the handler's error, how long the handler ran.
public struct DeliveryReport: Sendable {
    public enum Outcome: String, Sendable, Hashable {
        case ack
        case retry
        case deadLetter = "dead_letter"
    }

    public struct Item: Sendable {
        public let id: String
        /// Deliveries of the message, this one included.
        public let attempts: Int
        public let outcome: Outcome
        /// The message's `last_error` when it is retried or dead-lettered.
        public let error: String?
    }

    public let queue: String
    public let messages: [Item]
    /// What the handler threw, or why the batch was cut (deadline, shutdown).
    public let handlerError: String?
    /// How long the handler ran, in milliseconds.
    public let durationMs: Double
}

/// Receives the ``DeliveryReport`` of every batch a broker's consumers settle
/// (``QueueBroker/observeDeliveries(_:)``).
public protocol DeliveryObserver: Sendable {
    /// Whether a report is wanted now; `false` skips building it.
    var wantsDeliveries: Bool { get }
    /// Called after the batch was settled, on the consumer's task: must not block.
    func delivered(_ report: DeliveryReport)
}

extension DeliveryReport.Item {
    init(id: String, attempts: Int, disposition: Disposition) {
        self.id = id
        self.attempts = attempts
        switch disposition {
        case .ack:
            outcome = .ack
            error = nil
        case .retry(_, let lastError):
            outcome = .retry
            error = lastError
        case .deadLetter(let lastError):
            outcome = .deadLetter
            error = lastError
        }
    }
}
