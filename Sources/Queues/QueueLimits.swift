/// The fixed limits of the queue contract (they mirror Cloudflare Queues).
public enum QueueLimits {
    /// The largest message body, in bytes (128 KB).
    public static let maxMessageBytes = 128 * 1024
    /// The largest batch, summed over its bodies, in bytes (256 KB).
    public static let maxBatchBytes = 256 * 1024
    /// The most messages in one `sendBatch`.
    public static let maxBatchMessages = 100
    /// The longest delivery or retry delay, in seconds (one day).
    public static let maxDelaySeconds = 86_400
    /// The most messages one `peek` returns.
    public static let maxPeekLimit = 1000
    /// The longest `lastError` kept with a message, in UTF-8 bytes.
    static let maxErrorBytes = 1024

    /// Checks a batch to send: 1…100 messages, each body valid and ≤ 128 KB, ≤ 256 KB together,
    /// delays 0…86400.
    /// - Throws: ``QueueError`` (`invalidBatchSize`, `messageTooLarge`, `batchTooLarge`,
    ///   `invalidDelay`, `invalidBody`).
    package static func validate(batch messages: [OutgoingMessage]) throws {
        guard (1...maxBatchMessages).contains(messages.count) else {
            throw QueueError(.invalidBatchSize, "a batch holds 1 to \(maxBatchMessages) messages, got \(messages.count)")
        }
        var total = 0
        for message in messages {
            try message.body.validate()
            if let delay = message.delaySeconds { try validate(delaySeconds: delay) }
            total += message.body.data.count
        }
        guard total <= maxBatchBytes else {
            throw QueueError(.batchTooLarge, "batch bodies total \(total) bytes, over the \(maxBatchBytes)-byte (256 KB) limit")
        }
    }

    /// Checks a delivery or retry delay.
    /// - Throws: ``QueueError/Code/invalidDelay`` outside 0…86400.
    static func validate(delaySeconds: Int, what: String = "delay_seconds") throws(QueueError) {
        guard (0...maxDelaySeconds).contains(delaySeconds) else {
            throw QueueError(.invalidDelay, "\(what) must be between 0 and \(maxDelaySeconds) seconds, got \(delaySeconds)")
        }
    }
}
