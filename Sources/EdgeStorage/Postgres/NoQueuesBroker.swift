import Queues
import ServiceLifecycle

/// The broker of a manifest that declares no queues (what PostgreSQL storage serves until its
/// queue backend exists): every queue is unknown.
struct NoQueuesBroker: QueueBroker {
    var queueNames: [String] { [] }

    func config(for queue: String) throws -> QueueConfig { throw Self.unknown(queue) }
    func sendBatch(_ messages: [OutgoingMessage], to queue: String) async throws -> [String] { throw Self.unknown(queue) }
    func stats(_ queue: String) async throws -> QueueStats { throw Self.unknown(queue) }
    func peek(_ queue: String, limit: Int, deadLetters: Bool) async throws -> [PeekedMessage] { throw Self.unknown(queue) }
    func redrive(from source: String, to target: String) async throws -> Int { throw Self.unknown(source) }
    func makeConsumer(for queue: String, handler: @escaping QueueHandler) throws -> any Service { throw Self.unknown(queue) }

    static func unknown(_ queue: String) -> QueueError { QueueError(.unknownQueue, "queue \"\(queue)\" is not declared") }
}
