/// One declared queue (the manifest's `queues[]` entry).
public struct QueueConfig: Sendable, Hashable, Codable {
    /// The queue's name: 1–63 characters of `A–Z a–z 0–9 - _ .`.
    public var name: String
    /// Default delay, in seconds, of every message sent without its own (`delivery_delay`, 0…86400).
    public var deliveryDelay: Int
    /// How long, in seconds, an undelivered message is kept (`retention`, 60 s…14 days, default 4 days).
    public var retention: Int
    /// The consumer, when the queue has one.
    public var consumer: ConsumerConfig?

    /// Four days, Cloudflare's default.
    public static let defaultRetention = 345_600
    static let retentionRange = 60...1_209_600

    public init(name: String, deliveryDelay: Int = 0, retention: Int = QueueConfig.defaultRetention, consumer: ConsumerConfig? = nil) {
        self.name = name
        self.deliveryDelay = deliveryDelay
        self.retention = retention
        self.consumer = consumer
    }

    enum CodingKeys: String, CodingKey {
        case name
        case deliveryDelay = "delivery_delay"
        case retention, consumer
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        deliveryDelay = try c.decodeIfPresent(Int.self, forKey: .deliveryDelay) ?? 0
        retention = try c.decodeIfPresent(Int.self, forKey: .retention) ?? Self.defaultRetention
        consumer = try c.decodeIfPresent(ConsumerConfig.self, forKey: .consumer)
    }

    /// Checks the name and every setting.
    /// - Throws: ``QueueError/Code/invalidConfiguration`` for the first of ``problems``:
    ///   `queue "<name>": <path>: <problem>`.
    public func validate() throws(QueueError) {
        guard let first = problems.first else { return }
        throw QueueError(.invalidConfiguration, "queue \"\(name)\": \(first.path): \(first.message)")
    }

    /// Every problem of the declaration, each with the JSON path of its setting inside the
    /// queue's entry (`name`, `retention`, `consumer.dead_letter_queue`…).
    public var problems: [ConfigProblem] {
        var out: [ConfigProblem] = []
        if let problem = Self.nameProblem(name) { out.append(ConfigProblem("name", problem)) }
        if !(0...QueueLimits.maxDelaySeconds).contains(deliveryDelay) {
            out.append(ConfigProblem("delivery_delay", "must be between 0 and \(QueueLimits.maxDelaySeconds) seconds, got \(deliveryDelay)"))
        }
        if !Self.retentionRange.contains(retention) {
            out.append(
                ConfigProblem(
                    "retention",
                    "must be between \(Self.retentionRange.lowerBound) and \(Self.retentionRange.upperBound) seconds, got \(retention)"
                )
            )
        }
        if let consumer {
            out += consumer.problems.map { ConfigProblem("consumer.\($0.path)", $0.message) }
            if consumer.deadLetterQueue == name {
                out.append(ConfigProblem("consumer.dead_letter_queue", "a queue cannot be its own dead-letter queue"))
            }
        }
        return out
    }

    /// Checks a queue name.
    /// - Throws: ``QueueError/Code/invalidConfiguration``.
    static func validate(name: String) throws(QueueError) {
        if let problem = nameProblem(name) { throw QueueError(.invalidConfiguration, problem) }
    }

    static func nameProblem(_ name: String) -> String? {
        let allowed = name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F || c == 0x2E
        }
        guard (1...63).contains(name.utf8.count), allowed, name != ".", name != ".." else {
            return "queue name \"\(name)\" must be 1 to 63 characters of letters, digits, '-', '_' and '.'"
        }
        return nil
    }
}

/// A queue's consumer settings (the manifest's `queues[].consumer`).
public struct ConsumerConfig: Sendable, Hashable, Codable {
    /// The most messages in one batch (`max_batch_size`, 1…100, default 10).
    public var maxBatchSize: Int
    /// Seconds a partial batch waits for more messages, counted from its first available
    /// message (`max_batch_timeout`, 0…60, default 5).
    public var maxBatchTimeout: Double
    /// ``maxBatchTimeout`` in milliseconds, as the consumers count it.
    package var maxBatchTimeoutMillis: Int64 { Int64((maxBatchTimeout * 1000).rounded()) }
    /// Redeliveries after the first delivery (`max_retries`, 0…100, default 3): a message is
    /// delivered at most `1 + maxRetries` times.
    public var maxRetries: Int
    /// Seconds before a retried message is delivered again (`retry_delay`, 0…86400, default 0).
    public var retryDelay: Int
    /// Where messages go after their last failed delivery; `nil`: the queue's own dead-letter store.
    public var deadLetterQueue: String?
    /// Batches handled at the same time (`max_concurrency`, 1…250, default 1).
    public var maxConcurrency: Int
    /// The handler function's name (the manifest's `function`; not used by the queue itself).
    public var function: String?
    /// Seconds a batch may run (`timeout_seconds`, 1…86400, default 900: Cloudflare's 15
    /// minutes). Then it is cancelled and its unsettled messages are retried; its lease expires
    /// 30 s later.
    public var timeoutSeconds: Int

    public static let defaultTimeoutSeconds = 900
    public static let timeoutRange = 1...86_400

    public init(
        maxBatchSize: Int = 10,
        maxBatchTimeout: Double = 5,
        maxRetries: Int = 3,
        retryDelay: Int = 0,
        deadLetterQueue: String? = nil,
        maxConcurrency: Int = 1,
        function: String? = nil,
        timeoutSeconds: Int = ConsumerConfig.defaultTimeoutSeconds
    ) {
        self.timeoutSeconds = timeoutSeconds
        self.maxBatchSize = maxBatchSize
        self.maxBatchTimeout = maxBatchTimeout
        self.maxRetries = maxRetries
        self.retryDelay = retryDelay
        self.deadLetterQueue = deadLetterQueue
        self.maxConcurrency = maxConcurrency
        self.function = function
    }

    enum CodingKeys: String, CodingKey {
        case maxBatchSize = "max_batch_size"
        case maxBatchTimeout = "max_batch_timeout"
        case maxRetries = "max_retries"
        case retryDelay = "retry_delay"
        case deadLetterQueue = "dead_letter_queue"
        case maxConcurrency = "max_concurrency"
        case function
        case timeoutSeconds = "timeout_seconds"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maxBatchSize = try c.decodeIfPresent(Int.self, forKey: .maxBatchSize) ?? 10
        maxBatchTimeout = try c.decodeIfPresent(Double.self, forKey: .maxBatchTimeout) ?? 5
        maxRetries = try c.decodeIfPresent(Int.self, forKey: .maxRetries) ?? 3
        retryDelay = try c.decodeIfPresent(Int.self, forKey: .retryDelay) ?? 0
        deadLetterQueue = try c.decodeIfPresent(String.self, forKey: .deadLetterQueue)
        maxConcurrency = try c.decodeIfPresent(Int.self, forKey: .maxConcurrency) ?? 1
        function = try c.decodeIfPresent(String.self, forKey: .function)
        timeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .timeoutSeconds) ?? Self.defaultTimeoutSeconds
    }

    /// Checks every setting against its range.
    /// - Throws: ``QueueError/Code/invalidConfiguration`` for the first of ``problems``:
    ///   `<setting>: <problem>` (without the queue).
    public func validate() throws(QueueError) {
        if let first = problems.first { throw QueueError(.invalidConfiguration, "\(first.path): \(first.message)") }
    }

    /// Every setting out of its range, each with its JSON path inside `consumer`.
    public var problems: [ConfigProblem] {
        var out: [ConfigProblem] = []
        func check(_ ok: Bool, _ path: String, _ message: String) {
            if !ok { out.append(ConfigProblem(path, message)) }
        }
        check((1...100).contains(maxBatchSize), "max_batch_size", "must be between 1 and 100, got \(maxBatchSize)")
        check(
            maxBatchTimeout.isFinite && (0...60).contains(maxBatchTimeout),
            "max_batch_timeout",
            "must be between 0 and 60 seconds, got \(maxBatchTimeout)"
        )
        check((0...100).contains(maxRetries), "max_retries", "must be between 0 and 100, got \(maxRetries)")
        check(
            (0...QueueLimits.maxDelaySeconds).contains(retryDelay),
            "retry_delay",
            "must be between 0 and \(QueueLimits.maxDelaySeconds) seconds, got \(retryDelay)"
        )
        check((1...250).contains(maxConcurrency), "max_concurrency", "must be between 1 and 250, got \(maxConcurrency)")
        check(
            Self.timeoutRange.contains(timeoutSeconds),
            "timeout_seconds",
            "must be between \(Self.timeoutRange.lowerBound) and \(Self.timeoutRange.upperBound) seconds, got \(timeoutSeconds)"
        )
        if let deadLetterQueue, let problem = QueueConfig.nameProblem(deadLetterQueue) {
            out.append(ConfigProblem("dead_letter_queue", problem))
        }
        return out
    }
}

/// One problem of a queue declaration: the JSON path of the setting (relative to the entry
/// checked) and what is wrong with it.
public struct ConfigProblem: Sendable, Hashable {
    public var path: String
    public var message: String

    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }
}
