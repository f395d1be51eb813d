import Foundation
import ServiceLifecycle

/// A consumer handler: receives one batch; see ``Message`` for how its outcome settles each message.
public typealias QueueHandler = @Sendable (MessageBatch) async throws -> Void

/// The durable named queues of one data directory: producers, consumers, stats, dead letters.
public protocol QueueBroker: Sendable {
    /// The declared queues' names, sorted.
    var queueNames: [String] { get }

    /// The configuration of `queue`.
    /// - Throws: ``QueueError/Code/unknownQueue``.
    func config(for queue: String) throws -> QueueConfig

    /// Sends a batch of 1…100 messages (bodies ≤ 128 KB each, ≤ 256 KB together), durably: they
    /// are committed when this returns. A message's delay overrides the queue's `delivery_delay`.
    /// - Returns: the messages' ids, in order.
    /// - Throws: ``QueueError`` (`unknownQueue`, `invalidBatchSize`, `messageTooLarge`,
    ///   `batchTooLarge`, `invalidDelay`, `invalidBody`), or a storage error.
    func sendBatch(_ messages: [OutgoingMessage], to queue: String) async throws -> [String]

    /// The counts of `queue`.
    func stats(_ queue: String) async throws -> QueueStats

    /// Up to `limit` (1…1000) messages of `queue` in send order without consuming them: its
    /// messages, or (with `deadLetters`) its built-in dead-letter store.
    func peek(_ queue: String, limit: Int, deadLetters: Bool) async throws -> [PeekedMessage]

    /// Moves dead letters back: everything `source` holds that is not in flight (its built-in
    /// dead-letter store and, when `source` is another queue such as a DLQ, its waiting
    /// messages) goes to `target` as new waiting messages, each starting its attempts afresh.
    /// - Returns: how many moved.
    func redrive(from source: String, to target: String) async throws -> Int

    /// Makes the consumer of `queue` (settings from its configuration, defaults if it has none).
    /// Run the returned service in the runtime's `ServiceGroup`; one consumer per queue.
    /// - Throws: ``QueueError`` (`unknownQueue`, or `invalidConfiguration` for a second consumer).
    func makeConsumer(for queue: String, handler: @escaping QueueHandler) throws -> any Service

    /// Sets the observer told of every settled delivery (acked, retried, dead-lettered) of this
    /// broker's consumers; it replaces the previous one. The runtime's live events use it.
    func observeDeliveries(_ observer: any DeliveryObserver)
}

extension QueueBroker {
    /// Sends one message (see ``sendBatch(_:to:)``).
    /// - Returns: its id.
    public func send(_ body: MessageBody, to queue: String, delaySeconds: Int? = nil) async throws -> String {
        try await sendBatch([OutgoingMessage(body: body, delaySeconds: delaySeconds)], to: queue)[0]
    }

    /// A producer bound to `queue` (what a handler's `env.queue(name)` returns).
    /// - Throws: ``QueueError/Code/unknownQueue``.
    public func producer(for queue: String) throws -> QueueProducer {
        _ = try config(for: queue)
        return QueueProducer(broker: self, queue: queue)
    }

    /// The counts of every queue, sorted by name.
    public func allStats() async throws -> [QueueStats] {
        var out: [QueueStats] = []
        for name in queueNames { out.append(try await stats(name)) }
        return out
    }
}

/// Sends to one queue.
public struct QueueProducer: Sendable {
    public let broker: any QueueBroker
    public let queue: String

    /// Sends one message, durable when this returns.
    /// - Parameters:
    ///   - body: the bytes (JSON text for `.json`, UTF-8 for `.text`), at most 128 KB.
    ///   - delaySeconds: 0…86400; `nil` uses the queue's `delivery_delay`.
    /// - Returns: the message id.
    public func send(body: Data, contentType: MessageContentType = .json, delaySeconds: Int? = nil) async throws -> String {
        try await broker.send(MessageBody(data: body, contentType: contentType), to: queue, delaySeconds: delaySeconds)
    }

    /// Sends one message, durable when this returns.
    public func send(_ body: MessageBody, delaySeconds: Int? = nil) async throws -> String {
        try await broker.send(body, to: queue, delaySeconds: delaySeconds)
    }

    /// Sends 1…100 messages (≤ 256 KB together) in one durable commit.
    /// - Returns: their ids, in order.
    public func sendBatch(_ messages: [OutgoingMessage]) async throws -> [String] {
        try await broker.sendBatch(messages, to: queue)
    }
}
