import EdgeCore
import Foundation
import KVStore
import LMDBStorage
import Logging
import ServiceLifecycle
import Synchronization

/// The consumer loop of one queue: collects batches, runs the handler, settles each message
/// (ack, retry after a delay, dead letter).
///
/// The loop never polls: it scans the due index, then sleeps until the earliest of the batch
/// timeout, the next due message, or a notification (a send, a finished batch). Deliveries count
/// before they run: a batch is claimed in one committed write (each message's `attempts`
/// incremented, a lease until `timeout_seconds` + 30 s) before its handler starts, and its
/// outcome is committed afterwards; both join the environment's grouped commits. A message whose
/// claim did not commit before a crash is still waiting; one whose claim did is reclaimed —
/// still counted — when the next process opens the broker, or when its lease expires. A batch
/// still running at `timeout_seconds`, or when the consumer's task is cancelled, is cancelled
/// and its unsettled messages retried. Messages sent by another process (the CLI) are not
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
    let faults: ConsumerFaults
    let observer: (any DeliveryObserver)?
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
        self.faults = broker.consumerFaults
        self.observer = broker.deliveryObserver
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
                $0.plan(
                    availableCount: availability.available.count,
                    firstAvailableDueMillis: availability.available.first?.dueMillis,
                    nextDueMillis: availability.nextDueMillis,
                    nowMillis: now
                )
            }
            switch plan {
            case .stop:
                return
            case .waitForCapacity:
                await signal.wait(until: nil, clock: clock, recheck: nil)
            case .sleep(let until):
                await signal.wait(until: until.map { Double($0) / 1000 }, clock: clock, recheck: Self.foreignWriteRecheck)
            case .deliver(let count):
                deliver(Array(availability.available.prefix(count)), in: &group)
            }
        }
    }

    /// Starts a batch in `group`: its messages are in flight from now on.
    private func deliver(_ entries: [(id: MessageID, dueMillis: Int64)], in group: inout TaskGroup<Void>) {
        machine.withLock { $0.batchStarted(entries.map(\.id)) }
        group.addTask { await self.process(entries) }
    }

    /// Claims the batch (committed before anything runs), runs the handler under the consumer's
    /// deadline, and settles every message.
    private func process(_ entries: [(id: MessageID, dueMillis: Int64)]) async {
        let ids = entries.map(\.id)
        // Stopped before the claim: nothing was counted, the messages simply stay waiting.
        guard !Task.isCancelled else {
            finish(ids, handlerRan: false)
            return
        }
        let now = clock.nowMillis()
        let lease = LeaseValue(expiryMillis: now + Int64(settings.timeoutSeconds) * 1000 + Self.leaseGraceMillis, token: .random(in: 1 ... .max))
        let claim: QueueStorage.Claim
        do {
            claim = try await environment.write { [storage] txn in try storage.claim(txn, entries, lease: lease, nowMillis: now) }
        } catch {
            logger.error("cannot claim a batch", metadata: ["error": "\(error)"])
            finish(ids, handlerRan: false)
            return
        }
        if claim.expired > 0 { logger.warning("messages expired after the queue's retention", metadata: ["count": "\(claim.expired)"]) }
        guard !claim.messages.isEmpty else {
            finish(ids, handlerRan: false)
            return
        }

        let claimed = claim.messages.map { item in
            ClaimedMessage(
                id: item.id.description,
                sentMillis: item.record.sentMillis,
                body: MessageBody(data: item.record.body, contentType: item.record.contentType),
                attempts: item.record.queueAttempts
            )
        }
        let result = await BatchRun.deliver(
            handler,
            queue: storage.name,
            claimed: claimed,
            settings: settings,
            claimedAt: now,
            clock: clock,
            logger: logger
        ) {
            machine.withLock { $0.handlerFinished() }
            signal.notify()
        }
        await settle(Array(zip(claim.messages.map(\.id), result.dispositions)), token: lease.token, at: result.settledAtMillis)
        if let observer, observer.wantsDeliveries { observer.delivered(result.report) }
        finish(ids, handlerRan: true)
    }

    /// The batch of `ids` is over (settled, or never started).
    private func finish(_ ids: [MessageID], handlerRan: Bool) {
        machine.withLock { m in
            if !handlerRan { m.handlerFinished() }
            m.batchSettled(ids)
        }
        signal.notify()
    }

    /// What a cancelled batch's unsettled messages carry as `last_error` (the server stopped
    /// past its shutdown grace period).
    public static let interruptedByCancellation = "delivery interrupted: the consumer was stopped"
    /// How long a lease outlives the consumer's deadline.
    package static let leaseGraceMillis: Int64 = 30_000
    /// Commits of a settle before it is left to the lease's expiry.
    package static let settleAttempts = 8

    /// Commits the outcome of a batch, retrying a failed commit with backoff (0.1 s doubling to
    /// 5 s); what still cannot be committed stays leased, and the broker reclaims it when the
    /// lease expires.
    private func settle(_ outcomes: [(id: MessageID, disposition: Disposition)], token: UInt64, at now: Int64) async {
        let dlq = deadLetterQueue
        var backoff = faults.settleBackoff
        for attempt in 1...Self.settleAttempts {
            do {
                try faults.beforeSettle()
                try await environment.write { [storage] txn in try storage.settle(txn, outcomes, token: token, nowMillis: now, deadLetterQueue: dlq) }
                let deadLettered = outcomes.filter { if case .deadLetter = $0.disposition { true } else { false } }
                if !deadLettered.isEmpty {
                    logger.warning("messages dead-lettered", metadata: ["count": "\(deadLettered.count)", "to": "\(dlq?.name ?? "built-in store")"])
                    deadLetterSignal?.notify()
                }
                return
            } catch {
                logger.error("cannot settle a batch", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                guard attempt < Self.settleAttempts else { break }
                // Under cancellation (shutdown) the sleep returns at once: the attempts run back to back.
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
        logger.error("batch left leased; it is redelivered when its lease expires", metadata: ["count": "\(outcomes.count)"])
    }
}
