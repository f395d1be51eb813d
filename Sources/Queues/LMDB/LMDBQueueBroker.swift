import EdgeCore
import Foundation
import KVStore
import LMDBStorage
import Logging
import ServiceLifecycle
import Synchronization

/// The queues of one data directory, stored in its ``LMDBEnvironment`` beside the KV data.
///
/// Sends are grouped into the environment's shared commits; consumers in this process are woken
/// by an in-process notification when a message is sent to their queue. Another process (the
/// CLI) may send, peek, redrive and read stats on the same directory while a server runs.
public final class LMDBQueueBroker: QueueBroker {
    public let environment: LMDBEnvironment
    let clock: any QueueClock
    let logger: Logger
    private let storages: [String: QueueStorage]
    private let signals: [String: ConsumerSignal]
    private let ids: MessageIDGenerator
    private let consumersMade = Mutex<Set<String>>([])
    /// Failures injected into this broker's consumers (tests).
    let consumerFaults = ConsumerFaults()
    private let observer = Mutex<(any DeliveryObserver)?>(nil)

    /// Where queue configurations are recorded, so the CLI finds the declared queues.
    static let registryDatabase = "queues"
    /// The most records one write of the broker's background work (purge, reclaim, redrive)
    /// touches, so other writers never wait long behind it.
    package static let maxRecordsPerWrite = 1000

    /// - Parameter sharing: a broker of the same environment whose wake-ups and message ids this
    ///   one shares (a reload), so a send through either wakes the consumer of its queue and ids
    ///   never repeat.
    private init(
        environment: LMDBEnvironment,
        clock: any QueueClock,
        logger: Logger,
        storages: [String: QueueStorage],
        sharing previous: LMDBQueueBroker? = nil
    ) {
        self.environment = environment
        self.clock = clock
        self.logger = logger
        self.storages = storages
        self.signals = storages.mapValues { previous?.signals[$0.name] ?? ConsumerSignal() }
        self.ids = previous?.ids ?? MessageIDGenerator()
    }

    /// Opens the declared queues, creating their databases; a dead-letter queue that is named
    /// but not declared is declared with default settings.
    /// - Parameters:
    ///   - reclaimLeases: put messages left in flight by a previous process back in their
    ///     queues (the server: `true`; a CLI opening the directory beside a running server: `false`).
    /// - Throws: ``QueueError/Code/invalidConfiguration`` for a bad or duplicate declaration,
    ///   or a storage error.
    public static func open(
        environment: LMDBEnvironment,
        queues: [QueueConfig],
        clock: any QueueClock = SystemWallClock(),
        reclaimLeases: Bool = true,
        logger: Logger = Logger(label: "edge-run.queues")
    ) async throws -> LMDBQueueBroker {
        let configs = try validated(queues)
        try await record(configs, in: environment)
        return try await open(environment: environment, configs: configs, clock: clock, reclaimLeases: reclaimLeases, logger: logger)
    }

    /// A broker for a new declaration of the queues in the same environment (a reload): records
    /// them, opens the new ones, and shares this broker's wake-ups and message ids. It takes back
    /// no leases — this process's consumers hold them and settle their batches. Queues declared
    /// here before and not in `queues` stay on disk; the new broker does not serve them.
    /// - Throws: as ``open(environment:queues:clock:reclaimLeases:logger:)``.
    public func reopened(queues: [QueueConfig]) async throws -> LMDBQueueBroker {
        let configs = try Self.validated(queues)
        try await Self.record(configs, in: environment)
        var storages: [String: QueueStorage] = [:]
        for config in configs { storages[config.name] = try await QueueStorage.open(config, in: environment) }
        return LMDBQueueBroker(environment: environment, clock: clock, logger: logger, storages: storages, sharing: self)
    }

    /// Writes `configs` to the registry the CLI reads.
    private static func record(_ configs: [QueueConfig], in environment: LMDBEnvironment) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let registry = try await environment.database(registryDatabase)
        let entries = try configs.map { (Array($0.name.utf8), Array(try encoder.encode($0))) }
        try await environment.write { txn in
            for (key, value) in entries { try txn.put(registry, key: key, value: value) }
        }
    }

    /// Opens the queues recorded in the environment by a server that declared them (the CLI).
    public static func openExisting(
        environment: LMDBEnvironment,
        clock: any QueueClock = SystemWallClock(),
        logger: Logger = Logger(label: "edge-run.queues")
    ) async throws -> LMDBQueueBroker {
        let registry = try await environment.database(registryDatabase)
        let raw: [[UInt8]] = try environment.read { txn in
            try txn.withCursor(registry) { cursor in
                var out: [[UInt8]] = []
                var entry = try cursor.first()
                while let e = entry {
                    out.append(Array(e.value))
                    entry = try cursor.next()
                }
                return out
            }
        }
        let configs = try raw.map { try JSONDecoder().decode(QueueConfig.self, from: Data($0)) }
        // Written by another process: range-checked again before any arithmetic uses it.
        for config in configs { try config.validate() }
        return try await open(environment: environment, configs: configs, clock: clock, reclaimLeases: false, logger: logger)
    }

    private static func open(
        environment: LMDBEnvironment,
        configs: [QueueConfig],
        clock: any QueueClock,
        reclaimLeases: Bool,
        logger: Logger
    ) async throws -> LMDBQueueBroker {
        var storages: [String: QueueStorage] = [:]
        for config in configs { storages[config.name] = try await QueueStorage.open(config, in: environment) }
        let broker = LMDBQueueBroker(environment: environment, clock: clock, logger: logger, storages: storages)
        if reclaimLeases { try await broker.reclaimLeases() }
        return broker
    }

    /// Checks every declaration and adds undeclared dead-letter queues.
    package static func validated(_ queues: [QueueConfig]) throws(QueueError) -> [QueueConfig] {
        var byName: [String: QueueConfig] = [:]
        for config in queues {
            try config.validate()
            guard byName[config.name] == nil else {
                throw QueueError(.invalidConfiguration, "queue \"\(config.name)\" is declared twice")
            }
            byName[config.name] = config
        }
        for config in queues {
            if let dlq = config.consumer?.deadLetterQueue, byName[dlq] == nil { byName[dlq] = QueueConfig(name: dlq) }
        }
        return byName.values.sorted { $0.name < $1.name }
    }

    /// What ``reclaimLeases()`` puts in a reclaimed message's `last_error` at start.
    public static let interruptedByStop = "delivery interrupted: the process stopped"
    /// What ``reclaimExpiredLeases()`` puts in a reclaimed message's `last_error`.
    public static let interruptedByLeaseExpiry = "delivery interrupted: its lease expired"

    /// Takes back the messages left in flight by a previous process (at start).
    private func reclaimLeases() async throws {
        _ = try await reclaim(expiredOnly: false, reason: Self.interruptedByStop)
    }

    /// Takes back the messages whose lease expired (`consumer.timeout_seconds` + 30 s after
    /// their claim) without being settled — a settle commit that failed — so they are delivered
    /// again without a restart. Run periodically by ``QueueRetentionSweeper``.
    /// - Returns: how many messages were requeued or dead-lettered.
    @discardableResult
    public func reclaimExpiredLeases() async throws -> Int {
        try await reclaim(expiredOnly: true, reason: Self.interruptedByLeaseExpiry)
    }

    /// Reclaims leases queue by queue, in chunks of ``maxRecordsPerWrite``.
    private func reclaim(expiredOnly: Bool, reason: String) async throws -> Int {
        var total = 0
        for storage in storages.values.sorted(by: { $0.name < $1.name }) {
            let dlq = storage.config.consumer?.deadLetterQueue.flatMap { storages[$0] }
            var sum = QueueStorage.Reclaimed()
            while true {
                let now = clock.nowMillis()
                let chunk = try await environment.write { txn in
                    try storage.reclaimLeases(
                        txn,
                        nowMillis: now,
                        expiredOnly: expiredOnly,
                        reason: reason,
                        deadLetterQueue: dlq,
                        limit: Self.maxRecordsPerWrite
                    )
                }
                sum.requeued += chunk.requeued
                sum.deadLettered += chunk.deadLettered
                if !chunk.more { break }
            }
            if sum.requeued > 0 {
                logger.notice(
                    "redelivering messages left in flight",
                    metadata: ["queue": "\(storage.name)", "count": "\(sum.requeued)", "reason": "\(reason)"]
                )
                signals[storage.name]?.notify()
            }
            if sum.deadLettered > 0 {
                logger.warning(
                    "messages dead-lettered after their last delivery was interrupted",
                    metadata: ["queue": "\(storage.name)", "count": "\(sum.deadLettered)", "to": "\(dlq?.name ?? "built-in store")"]
                )
                if let dlq { signals[dlq.name]?.notify() }
            }
            total += sum.requeued + sum.deadLettered
        }
        return total
    }

    func storage(_ queue: String) throws(QueueError) -> QueueStorage {
        guard let storage = storages[queue] else { throw QueueError(.unknownQueue, "queue \"\(queue)\" is not declared") }
        return storage
    }

    func signal(_ queue: String) -> ConsumerSignal? { signals[queue] }

    // MARK: QueueBroker

    public var queueNames: [String] { storages.keys.sorted() }

    public func config(for queue: String) throws -> QueueConfig { try storage(queue).config }

    public func sendBatch(_ messages: [OutgoingMessage], to queue: String) async throws -> [String] {
        let storage = try storage(queue)
        try QueueLimits.validate(batch: messages)
        let now = clock.nowMillis()
        var rows: [(id: MessageID, record: MessageRecord)] = []
        var sent: [String] = []
        rows.reserveCapacity(messages.count)
        for message in messages {
            let id = ids.next(millis: now)
            let delay = Int64(message.delaySeconds ?? storage.config.deliveryDelay)
            let record = MessageRecord(contentType: message.body.contentType, sentMillis: now, dueMillis: now + delay * 1000, body: message.body.data)
            rows.append((id, record))
            sent.append(id.description)
        }
        try await environment.write { [rows] txn in try storage.send(txn, rows, nowMillis: now) }
        signals[queue]?.notify()
        return sent
    }

    public func stats(_ queue: String) async throws -> QueueStats {
        let storage = try storage(queue)
        let now = clock.nowMillis()
        return try environment.read { try storage.stats($0, nowMillis: now) }
    }

    public func peek(_ queue: String, limit: Int, deadLetters: Bool = false) async throws -> [PeekedMessage] {
        let storage = try storage(queue)
        guard (1...QueueLimits.maxPeekLimit).contains(limit) else {
            throw QueueError(.invalidLimit, "limit must be between 1 and \(QueueLimits.maxPeekLimit), got \(limit)")
        }
        return try environment.read { try storage.peek($0, limit: limit, deadLetters: deadLetters) }
    }

    public func redrive(from source: String, to target: String) async throws -> Int {
        let from = try storage(source)
        let to = try storage(target)
        let chunk = Self.maxRecordsPerWrite
        var moved = 0
        while true {
            let now = clock.nowMillis()
            let count = try await environment.write { txn in
                let taken = try from.takeForRedrive(txn, limit: chunk, includeWaiting: source != target, nowMillis: now)
                try to.send(txn, taken.map { (id: $0.0, record: $0.1.entering(at: now, lastError: nil)) }, nowMillis: now)
                return taken.count
            }
            moved += count
            if count > 0 { signals[target]?.notify() }
            if count < chunk { break }
        }
        if moved > 0 { logger.info("redrove messages", metadata: ["from": "\(source)", "to": "\(target)", "count": "\(moved)"]) }
        return moved
    }

    public func makeConsumer(for queue: String, handler: @escaping QueueHandler) throws -> any Service {
        try consumer(for: queue, handler: handler)
    }

    /// Reports every batch the consumers made after this call settle to `observer` (the live tail).
    /// Consumers read it when they are made (``consumer(for:handler:)``).
    public func observeDeliveries(_ observer: any DeliveryObserver) { self.observer.withLock { $0 = observer } }

    var deliveryObserver: (any DeliveryObserver)? { observer.withLock { $0 } }

    /// Makes the consumer of `queue` (see ``QueueBroker/makeConsumer(for:handler:)``).
    public func consumer(for queue: String, handler: @escaping QueueHandler) throws -> QueueConsumer {
        let storage = try storage(queue)
        let settings = storage.config.consumer ?? ConsumerConfig()
        let deadLetterQueue = try settings.deadLetterQueue.map { name throws(QueueError) in try self.storage(name) }
        let fresh = consumersMade.withLock { $0.insert(queue).inserted }
        guard fresh else { throw QueueError(.invalidConfiguration, "queue \"\(queue)\" already has a consumer") }
        return QueueConsumer(broker: self, storage: storage, settings: settings, deadLetterQueue: deadLetterQueue, handler: handler)
    }

    /// Deletes the counts of `storage`'s past due buckets (see ``DueCounts``), at most `limit`
    /// a write; no write when there are none.
    private func sweepPastDueCounts(_ storage: QueueStorage, limit: Int) async throws {
        while true {
            let now = clock.nowMillis()
            let any = try environment.read { txn in try !DueCounts.pastKeys(txn, storage.dueCounts, nowMillis: now, limit: 1).isEmpty }
            guard any else { return }
            let swept = try await environment.write { txn in try DueCounts.sweepPast(txn, storage.dueCounts, nowMillis: now, limit: limit) }
            guard swept == limit else { return }
        }
    }

    /// The most index entries one write of the retention purge examines (by default). Small
    /// chunks keep each commit close to an ordinary one, so writes grouped with a chunk (a KV
    /// put, a send) do not wait for a large sync; the purge is background work and can take longer.
    public static let defaultPurgeChunk = 100

    /// Deletes waiting messages that outlived their queue's retention (dead letters in built-in
    /// stores are kept); they are logged (one line per queue) and counted in the queue's
    /// `expired` stat. Walks each queue's enqueue-time index oldest first, in writes of at most
    /// `chunk` entries (1…1000), pausing `pause` between writes so the purge never occupies
    /// every commit of the shared writer.
    /// - Returns: how many were deleted.
    @discardableResult
    public func purgeExpired(chunk: Int = LMDBQueueBroker.defaultPurgeChunk, pause: Duration = .zero) async throws -> Int {
        let limit = min(max(chunk, 1), Self.maxRecordsPerWrite)
        var total = 0
        for storage in storages.values.sorted(by: { $0.name < $1.name }) {
            var resume: [UInt8]?
            var purged = 0
            repeat {
                let now = clock.nowMillis()
                let after = resume
                let part = try await environment.write { txn in
                    try storage.purgeExpired(txn, nowMillis: now, after: after, limit: limit)
                }
                purged += part.purged.count
                resume = part.resumeAfter
                if resume != nil, pause > .zero { try await Task.sleep(for: pause) }
            } while resume != nil
            try await sweepPastDueCounts(storage, limit: limit)
            if purged > 0 {
                logger.warning("messages expired after the queue's retention", metadata: ["queue": "\(storage.name)", "count": "\(purged)"])
            }
            total += purged
        }
        return total
    }
}
