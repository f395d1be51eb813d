import Foundation
import KVStore
import Logging
import ServiceLifecycle
import Synchronization

/// The consumer loop of one queue: collects batches, runs the handler, settles each message
/// (ack, retry after a delay, dead letter).
///
/// The loop never polls: it scans the due index, then sleeps until the earliest of the batch
/// timeout, the next due message, or a notification (a send, a finished batch). A batch's lease
/// is committed while its handler runs, and its outcome is committed afterwards; both join the
/// environment's grouped commits. A message whose lease did not commit before a crash is still
/// waiting; one whose lease did is reclaimed when the next process opens the broker. Either way
/// it is delivered again (at least once). Messages sent by another process (the CLI) are not
/// announced in-process: an idle loop rescans after ``foreignWriteRecheck`` of real time.
public final class QueueConsumer: Service, Sendable {
    /// The queue consumed.
    public var queue: String { storage.name }
    let storage: QueueStorage
    let settings: ConsumerConfig
    let deadLetterQueue: QueueStorage?
    let handler: QueueHandler
    let environment: LMDBEnvironment
    let clock: any QueueClock
    let signal: ConsumerSignal
    let deadLetterSignal: ConsumerSignal?
    let logger: Logger
    private let machine: Mutex<ConsumerStateMachine>

    /// How soon an idle consumer notices messages that another process sent.
    public static let foreignWriteRecheck: Duration = .seconds(2)

    init(broker: LMDBQueueBroker, storage: QueueStorage, settings: ConsumerConfig, deadLetterQueue: QueueStorage?, handler: @escaping QueueHandler) {
        self.storage = storage
        self.settings = settings
        self.deadLetterQueue = deadLetterQueue
        self.handler = handler
        self.environment = broker.environment
        self.clock = broker.clock
        self.signal = broker.signal(storage.name) ?? ConsumerSignal()
        self.deadLetterSignal = deadLetterQueue.flatMap { broker.signal($0.name) }
        var logger = broker.logger
        logger[metadataKey: "queue"] = "\(storage.name)"
        self.logger = logger
        self.machine = Mutex(ConsumerStateMachine(settings: .init(settings)))
    }

    /// Consumes until graceful shutdown (then finishes the batches it started) or cancellation.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                await self.loop(&group)
                await group.waitForAll()
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Stops taking batches; `run()` returns once the started ones are settled.
    public func stop() {
        machine.withLock { $0.stop() }
        signal.notify()
    }

    private func loop(_ group: inout TaskGroup<Void>) async {
        while !Task.isCancelled {
            let now = clock.nowMillis()
            let excluded = machine.withLock { $0.inFlight }
            let availability: QueueStorage.Availability
            do {
                availability = try environment.read { [storage, settings] txn in
                    try storage.scanAvailable(txn, nowMillis: now, excluding: excluded, limit: settings.maxBatchSize)
                }
            } catch {
                logger.error("cannot read the queue; retrying in 1 s", metadata: ["error": "\(error)"])
                await signal.wait(until: Double(now) / 1000 + 1, clock: clock, recheck: .seconds(1))
                continue
            }
            let plan = machine.withLock {
                $0.plan(availableCount: availability.available.count, firstAvailableDueMillis: availability.available.first?.dueMillis,
                        nextDueMillis: availability.nextDueMillis, nowMillis: now)
            }
            switch plan {
            case .stop:
                return
            case .waitForCapacity:
                await signal.wait(until: nil, clock: clock, recheck: nil)
            case .sleep(let until):
                await signal.wait(until: until.map { Double($0) / 1000 }, clock: clock, recheck: Self.foreignWriteRecheck)
            case .deliver(let count):
                await deliver(Array(availability.available.prefix(count)), at: now, in: &group)
            }
        }
    }

    /// Loads the batch, drops what expired, and starts the handler in `group`.
    private func deliver(_ entries: [(id: MessageID, dueMillis: Int64)], at now: Int64, in group: inout TaskGroup<Void>) async {
        let retention = storage.retentionMillis
        let loaded: [MessageRecord?]
        do {
            loaded = try environment.read { [storage] txn in try entries.map { try storage.record(txn, id: $0.id) } }
        } catch {
            logger.error("cannot read messages", metadata: ["error": "\(error)"])
            return
        }
        var batch: [(entry: (id: MessageID, dueMillis: Int64), record: MessageRecord)] = []
        var stale: [(id: MessageID, dueMillis: Int64)] = []
        for (entry, record) in zip(entries, loaded) {
            if let record, !record.isPastRetention(retention, at: now) { batch.append((entry, record)) } else { stale.append(entry) }
        }
        if !stale.isEmpty { await discard(stale, at: now) }
        guard !batch.isEmpty else { return }
        machine.withLock { $0.batchStarted(batch.map(\.entry.id)) }
        group.addTask { await self.process(batch) }
    }

    private func discard(_ entries: [(id: MessageID, dueMillis: Int64)], at now: Int64) async {
        do {
            let expired = try await environment.write { [storage] txn in try storage.discardExpired(txn, entries, nowMillis: now) }
            if expired > 0 { logger.warning("messages expired after the queue's retention", metadata: ["count": "\(expired)"]) }
        } catch {
            logger.error("cannot drop expired messages", metadata: ["error": "\(error)"])
        }
    }

    /// Leases the batch (committing while the handler runs), runs the handler, settles.
    private func process(_ batch: [(entry: (id: MessageID, dueMillis: Int64), record: MessageRecord)]) async {
        let board = DecisionBoard(count: batch.count)
        let messages = batch.enumerated().map { index, item in
            Message(
                id: item.entry.id.description,
                timestamp: Date(timeIntervalSince1970: Double(item.record.sentMillis) / 1000),
                body: MessageBody(data: item.record.body, contentType: item.record.contentType),
                attempts: item.record.queueAttempts + 1, board: board, index: index)
        }
        let entries = batch.map(\.entry)
        async let leased: Void = environment.write { [storage] txn in try storage.lease(txn, entries) }

        var handlerError: String?
        do {
            try await handler(MessageBatch(queue: storage.name, messages: messages, board: board))
        } catch {
            handlerError = String(describing: error)
        }
        machine.withLock { $0.handlerFinished() }
        signal.notify()

        do { try await leased } catch { logger.error("cannot lease a batch", metadata: ["error": "\(error)"]) }
        let now = clock.nowMillis()
        let outcomes = zip(messages, board.snapshot).map { message, decision in
            Settlement.disposition(decision: decision, handlerError: handlerError, attempts: message.attempts, config: settings, nowMillis: now)
        }
        await settle(Array(zip(entries.map(\.id), outcomes)), at: now)
        machine.withLock { $0.batchSettled(entries.map(\.id)) }
        signal.notify()
    }

    /// Commits the outcome of a batch, retrying a failed commit a few times; what cannot be
    /// committed stays leased and is redelivered after a restart.
    private func settle(_ outcomes: [(id: MessageID, disposition: Disposition)], at now: Int64) async {
        let dlq = deadLetterQueue
        for attempt in 1...5 {
            do {
                try await environment.write { [storage] txn in try storage.settle(txn, outcomes, nowMillis: now, deadLetterQueue: dlq) }
                let deadLettered = outcomes.filter { if case .deadLetter = $0.disposition { true } else { false } }
                if !deadLettered.isEmpty {
                    logger.warning("messages dead-lettered", metadata: ["count": "\(deadLettered.count)", "to": "\(dlq?.name ?? "built-in store")"])
                    deadLetterSignal?.notify()
                }
                return
            } catch {
                logger.error("cannot settle a batch", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                try? await Task.sleep(for: .milliseconds(100 * attempt))
            }
        }
    }
}
