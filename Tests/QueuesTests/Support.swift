import EdgeCore
import EdgeStorage
import EdgeTestSupport
import Foundation
import KVStore
import LMDBStorage
import Logging
import Queues
import ServiceLifecycle
import Synchronization
import Testing

/// A temporary data directory with its LMDB environment and a manual clock, and, for the
/// PostgreSQL backend, a fresh database the brokers of the fixture open.
final class QueueFixture: Sendable {
    let backend: TestBackend
    let directory: TemporaryFolder
    let environment: LMDBEnvironment
    let clock: ManualClock
    let postgres: (any StorageBackend)?

    convenience init() throws {
        try self.init(backend: .lmdb, postgres: nil)
    }

    private init(backend: TestBackend, postgres: (any StorageBackend)?) throws {
        self.backend = backend
        self.postgres = postgres
        directory = TemporaryFolder("queues")
        environment = try LMDBEnvironment(path: directory.path + "/lmdb")
        clock = ManualClock(1_800_000_000)
    }

    deinit {
        environment.close()
        directory.cleanup()
    }

    /// Runs `body` with a fixture of `backend` (a fresh PostgreSQL database, dropped afterwards).
    static func with(_ backend: TestBackend, _ body: (QueueFixture) async throws -> Void) async throws {
        guard backend == .postgres else { return try await body(QueueFixture()) }
        try await TestStorage.with(backend) { storage in
            let opened = try await storage.location.open(logger: Logger(label: "edge-run.tests.queues"))
            do {
                try await body(try QueueFixture(backend: backend, postgres: opened))
                await opened.close()
            } catch {
                await opened.close()
                throw error
            }
        }
    }

    /// The clock's start time.
    var t0: Double { 1_800_000_000 }

    /// Opens a broker (a "process") on this directory.
    func broker(_ queues: [QueueConfig], reclaimLeases: Bool = true) async throws -> LMDBQueueBroker {
        try await LMDBQueueBroker.open(environment: environment, queues: queues, clock: clock, reclaimLeases: reclaimLeases)
    }

    /// Opens a broker of the fixture's backend (a node serving `queues`).
    func queues(_ queues: [QueueConfig], reclaimLeases: Bool = true) async throws -> TestQueues {
        if let postgres {
            let logger = Logger(label: "edge-run.tests.queues")
            return TestQueues(inner: try await postgres.queueBroker(declaring: queues, clock: clock, reclaimLeases: reclaimLeases, logger: logger))
        }
        return TestQueues(inner: try await broker(queues, reclaimLeases: reclaimLeases))
    }

    /// The queues a server recorded, as the CLI opens them.
    func cli() async throws -> TestQueues {
        if let postgres {
            return TestQueues(inner: try await postgres.existingQueueBroker(clock: clock, logger: Logger(label: "edge-run.tests.queues")))
        }
        return TestQueues(inner: try await LMDBQueueBroker.openExisting(environment: environment, clock: clock))
    }
}

/// A broker of either backend, with what the tests use beyond ``QueueBroker``.
struct TestQueues: QueueBroker {
    let inner: any QueueBroker

    var queueNames: [String] { inner.queueNames }
    func config(for queue: String) throws -> QueueConfig { try inner.config(for: queue) }
    func sendBatch(_ messages: [OutgoingMessage], to queue: String) async throws -> [String] { try await inner.sendBatch(messages, to: queue) }
    func stats(_ queue: String) async throws -> QueueStats { try await inner.stats(queue) }
    func peek(_ queue: String, limit: Int, deadLetters: Bool) async throws -> [PeekedMessage] {
        try await inner.peek(queue, limit: limit, deadLetters: deadLetters)
    }
    func redrive(from source: String, to target: String) async throws -> Int { try await inner.redrive(from: source, to: target) }
    func makeConsumer(for queue: String, handler: @escaping QueueHandler) throws -> any Service {
        try inner.makeConsumer(for: queue, handler: handler)
    }
    func observeDeliveries(_ observer: any DeliveryObserver) { inner.observeDeliveries(observer) }

    /// The consumer of `queue`, to run with ``running(_:_:)``.
    func consumer(for queue: String, handler: @escaping QueueHandler) throws -> any StoppableConsumer {
        try #require(try inner.makeConsumer(for: queue, handler: handler) as? any StoppableConsumer)
    }

    /// Deletes what outlived its retention now.
    func purgeExpired() async throws -> Int {
        if let lmdb = inner as? LMDBQueueBroker { return try await lmdb.purgeExpired() }
        return try await (try #require(inner as? PostgresQueueBroker)).purgeExpired()
    }

    /// Takes back expired leases now.
    func reclaimExpiredLeases() async throws -> Int {
        if let lmdb = inner as? LMDBQueueBroker { return try await lmdb.reclaimExpiredLeases() }
        return try await (try #require(inner as? PostgresQueueBroker)).reclaimExpiredLeases()
    }
}

/// Every batch a handler saw.
final class Recorder: Sendable {
    struct Delivery: Sendable, Equatable {
        let id: String
        let attempts: Int
        let body: MessageBody
        var text: String { body.text ?? "" }
    }
    private let batches = Mutex<[[Delivery]]>([])

    func record(_ batch: MessageBatch) {
        let deliveries = batch.messages.map { Delivery(id: $0.id, attempts: $0.attempts, body: $0.body) }
        batches.withLock { $0.append(deliveries) }
    }

    var all: [[Delivery]] { batches.withLock { $0 } }
    var sizes: [Int] { all.map(\.count) }
    var deliveries: [Delivery] { all.flatMap { $0 } }
    var count: Int { deliveries.count }
}

/// A gate a handler waits on until the test opens it.
final class Gate: Sendable {
    private struct State {
        var open = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func wait() async {
        await withCheckedContinuation { c in
            let proceed = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if proceed { c.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
}

struct HandlerFailure: Error, CustomStringConvertible {
    let text: String
    init(_ text: String = "handler failed") { self.text = text }
    var description: String { text }
}

/// Runs `consumer` while `body` runs, then stops it (gracefully) and waits for it.
func running<T>(_ consumer: any StoppableConsumer, _ body: () async throws -> T) async throws -> T {
    let task = Task { try await consumer.run() }
    do {
        let result = try await body()
        consumer.stop()
        try await task.value
        return result
    } catch {
        task.cancel()
        throw error
    }
}

/// Waits until a consumer on `clock` sleeps until `deadline`: it decided to wait for it.
func sleeping(until deadline: Double, on clock: ManualClock, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    try await eventually("a sleeper until \(deadline)", sourceLocation: sourceLocation) {
        clock.sleepingUntil.contains { abs($0 - deadline) < 0.0005 }
    }
}

extension QueueConfig {
    /// A queue with a consumer, for tests (batch timeout 0 unless told).
    static func consumed(
        _ name: String,
        batch: Int = 10,
        timeout: Double = 0,
        retries: Int = 3,
        retryDelay: Int = 0,
        dlq: String? = nil,
        concurrency: Int = 1,
        deliveryDelay: Int = 0
    ) -> QueueConfig {
        QueueConfig(
            name: name,
            deliveryDelay: deliveryDelay,
            consumer: ConsumerConfig(
                maxBatchSize: batch,
                maxBatchTimeout: timeout,
                maxRetries: retries,
                retryDelay: retryDelay,
                deadLetterQueue: dlq,
                maxConcurrency: concurrency
            )
        )
    }
}

/// `n` text messages `m0`, `m1`, …
func texts(_ n: Int, prefix: String = "m") -> [OutgoingMessage] {
    (0..<n).map { OutgoingMessage(body: .text("\(prefix)\($0)")) }
}
