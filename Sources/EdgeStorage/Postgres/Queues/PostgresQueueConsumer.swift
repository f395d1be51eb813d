import EdgeCore
import Foundation
import KVStore
import Logging
import Queues
import ServiceLifecycle
import Synchronization

/// The consumer loop of one queue on one node of a PostgreSQL storage.
///
/// Same shape as the LMDB ``QueueConsumer``: the loop asks the due index what is available,
/// lets ``ConsumerStateMachine`` decide (a full batch, or the batch timeout passed), claims the
/// batch in one committed transaction before its handler runs, then settles every message in one
/// statement. While claims come back full (a backlog) the loop claims the next batch without
/// asking first: the claim itself takes a batch only when it is full or its oldest message has
/// waited `max_batch_timeout`, so the batching rule holds without the scan. It sleeps until the
/// batch timeout, the next due message, a wake-up (a `NOTIFY` from any node's send, a batch of
/// its own finishing) or ``pollInterval`` at most. When every `max_concurrency` slot is held
/// on some node, it retries after ``slotRecheck``.
final class PostgresQueueConsumer: StoppableConsumer, Sendable {
    let broker: PostgresQueueBroker
    let config: QueueConfig
    let settings: ConsumerConfig
    let deadLetterQueue: String?
    let handler: QueueHandler
    let signal: ConsumerSignal
    let logger: Logger
    let observer: (any DeliveryObserver)?
    private let machine: Mutex<ConsumerStateMachine>
    /// Messages asked for by claims still running: the loop does not count them as available
    /// again while their claim commits (several claims may run at once, `SKIP LOCKED` keeps
    /// them apart).
    private let claiming = Mutex(Claiming())
    /// Batches of this node that hold a slot (claimed, not yet settled).
    private let holding = Mutex(0)
    /// Whether the last claim took a full batch: then more are likely waiting, and the loop
    /// claims again at once instead of scanning the due index first (a scan per batch was a
    /// quarter of PostgreSQL's time under a backlog). A claim that comes back short clears it.
    private let backlog = Mutex(false)

    /// The poll fallback: an idle consumer looks at its queue at least this often, so a missed
    /// notification (a dropped `LISTEN` connection, a delayed message come due) waits no longer.
    static let pollInterval: Duration = .seconds(1)
    /// How soon a consumer tries again when every slot of its queue was taken (slots are freed by
    /// other nodes' settles, which do not notify).
    static let slotRecheck: Duration = .milliseconds(100)
    /// How soon a consumer tries again when its own settling batches hold the slots.
    static let ownSlotRecheck: Duration = .milliseconds(5)

    var queue: String { config.name }

    init(broker: PostgresQueueBroker, queue config: QueueConfig, settings: ConsumerConfig, deadLetterQueue: String?, handler: @escaping QueueHandler)
    {
        self.broker = broker
        self.config = config
        self.settings = settings
        self.deadLetterQueue = deadLetterQueue
        self.handler = handler
        self.signal = broker.wakeups.signal(config.name)
        var logger = broker.logger
        logger[metadataKey: "queue"] = "\(config.name)"
        self.logger = logger
        self.observer = broker.deliveryObserver
        self.machine = Mutex(ConsumerStateMachine(settings: .init(settings)))
    }

    /// Consumes until graceful shutdown (then finishes the batches it started) or cancellation.
    func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                await self.loop(&group)
                await group.waitForAll()
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    func stop() {
        machine.withLock { $0.stop() }
        signal.notify()
    }

    private var clock: any QueueClock { broker.clock }

    private func loop(_ group: inout TaskGroup<Void>) async {
        while !Task.isCancelled {
            let now = clock.nowMillis()
            let plan: ConsumerStateMachine.Plan
            if backlog.withLock({ $0 }) {
                // As if a scan had found a full batch: stop, wait for capacity, or claim one.
                plan = machine.withLock {
                    $0.plan(availableCount: settings.maxBatchSize, firstAvailableDueMillis: now, nextDueMillis: nil, nowMillis: now)
                }
            } else {
                guard let scanned = await scan(at: now) else { continue }
                plan = scanned
            }
            switch plan {
            case .stop:
                return
            case .waitForCapacity:
                await signal.wait(until: nil, clock: clock, recheck: nil)
            case .sleep(let until):
                await signal.wait(until: until.map { Double($0) / 1000 }, clock: clock, recheck: Self.pollInterval)
            case .deliver(let count):
                start(count, &group)
            }
        }
    }

    /// Reads the due index at `now` and lets the state machine decide; `nil`: look again (the
    /// read failed and was waited out, or a claim ended while it ran).
    private func scan(at now: Int64) async -> ConsumerStateMachine.Plan? {
        let availability: PostgresQueueBroker.Availability
        let before = claiming.withLock { $0 }
        do {
            // Counted past the messages being claimed now: otherwise a backlog looks empty
            // until those claims end, and batches go out one claim at a time.
            availability = try await broker.available(config, nowMillis: now, limit: settings.maxBatchSize + before.messages)
        } catch {
            if Task.isCancelled { return nil }
            // While PostgreSQL is unreachable the health watch has said so once; no line a second here.
            if !(error is StorageUnavailableError) {
                logger.error("cannot read the queue; retrying in 1 s", metadata: ["error": "\(error)"])
            }
            await signal.wait(until: nil, clock: clock, recheck: Self.pollInterval)
            return nil
        }
        // A claim that ended while the count was read may or may not be in it: count again.
        guard claiming.withLock({ $0.ended }) == before.ended else { return nil }
        let available = max(0, availability.count - before.messages)
        return machine.withLock {
            $0.plan(
                availableCount: available,
                firstAvailableDueMillis: available > 0 ? availability.firstDueMillis : nil,
                nextDueMillis: availability.nextDueMillis,
                nowMillis: now
            )
        }
    }

    private func start(_ count: Int, _ group: inout TaskGroup<Void>) {
        machine.withLock { $0.batchStarted([]) }
        claiming.withLock { $0.messages += count }
        group.addTask { await self.claimAndProcess(count) }
    }

    /// Claims a batch of up to `count` messages, then runs it.
    private func claimAndProcess(_ count: Int) async {
        let claimed = await claim(count)
        claiming.withLock {
            $0.messages -= count
            $0.ended &+= 1
        }
        guard let claimed else {
            finish(handlerRan: false)
            return
        }
        signal.notify()  // the loop may look for the next batch now
        await process(claimed.messages, token: claimed.token, claimedAt: claimed.at)
    }

    /// Claims up to `count` messages; `nil` when none were taken (then waits a little if the
    /// slots were all held, so the loop does not spin).
    private func claim(_ count: Int) async -> (messages: [PostgresQueueBroker.Claimed], token: Int64, at: Int64)? {
        let now = clock.nowMillis()
        let token = Int64.random(in: 1 ... .max)
        let leaseUntil = now + Int64(settings.timeoutSeconds) * 1000 + QueueConsumer.leaseGraceMillis
        do {
            let claim = try await broker.claim(
                config,
                limit: count,
                token: token,
                leaseUntil: leaseUntil,
                batchTimeoutMillis: settings.maxBatchTimeoutMillis,
                nowMillis: now
            )
            switch claim {
            case .noSlot:
                // This node's own batches free their slots as soon as their settle commits: look
                // again shortly. Slots held by other nodes free when their settles commit, which
                // do not notify: ``slotRecheck``.
                try? await Task.sleep(for: holding.withLock { $0 } > 0 ? Self.ownSlotRecheck : Self.slotRecheck)
                return nil
            case .claimed(let messages):
                backlog.withLock { $0 = messages.count >= settings.maxBatchSize }
                guard !messages.isEmpty else { return nil }
                holding.withLock { $0 += 1 }
                return (messages, token, now)
            }
        } catch {
            backlog.withLock { $0 = false }
            if !(error is StorageUnavailableError) { logger.error("cannot claim a batch", metadata: ["error": "\(error)"]) }
            try? await Task.sleep(for: Self.pollInterval)
            return nil
        }
    }

    /// Runs the handler under the consumer's deadline and settles every message.
    private func process(_ claimed: [PostgresQueueBroker.Claimed], token: Int64, claimedAt now: Int64) async {
        let messages = claimed.map { item in
            ClaimedMessage(
                id: item.id.description,
                sentMillis: item.sentMillis,
                body: MessageBody(data: item.body, contentType: item.contentType),
                attempts: item.queueAttempts
            )
        }
        let result = await BatchRun.deliver(
            handler,
            queue: queue,
            claimed: messages,
            settings: settings,
            claimedAt: now,
            clock: clock,
            logger: logger
        ) {
            machine.withLock { $0.handlerFinished() }
            signal.notify()
        }
        await settle(Array(zip(claimed.map(\.id), result.dispositions)), token: token, at: result.settledAtMillis)
        holding.withLock { $0 -= 1 }
        if let observer, observer.wantsDeliveries { observer.delivered(result.report) }
        finish(handlerRan: true)
    }

    private func finish(handlerRan: Bool) {
        machine.withLock { m in
            if !handlerRan { m.handlerFinished() }
            m.batchSettled([])
        }
        signal.notify()
    }

    /// Commits the outcome, retrying a failed commit with backoff (0.1 s doubling to 5 s); what
    /// still cannot be committed stays leased and is taken over when the lease expires.
    private func settle(_ outcomes: [(id: MessageID, disposition: Disposition)], token: Int64, at now: Int64) async {
        var backoff = Duration.milliseconds(100)
        for attempt in 1...QueueConsumer.settleAttempts {
            do {
                // In a task of its own: a consumer cancelled at shutdown still commits the outcome
                // (the pool refuses work to a cancelled task).
                let settled = try await Task { [broker, queue, deadLetterQueue] in
                    try await broker.settle(queue, outcomes, token: token, deadLetterQueue: deadLetterQueue, nowMillis: now)
                }.value
                if settled.deadLettered > 0 {
                    logger.warning(
                        "messages dead-lettered",
                        metadata: ["count": "\(settled.deadLettered)", "to": "\(deadLetterQueue ?? "built-in store")"]
                    )
                    if let deadLetterQueue { await broker.announce(deadLetterQueue) }
                }
                return
            } catch {
                logger.error("cannot settle a batch", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                guard attempt < QueueConsumer.settleAttempts else { break }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
        logger.error("batch left leased; it is redelivered when its lease expires", metadata: ["count": "\(outcomes.count)"])
    }
}

/// The claims a consumer has running: the messages they asked for, and how many claims have
/// ended (so the loop knows whether one ended while it counted the available messages).
private struct Claiming: Sendable {
    var messages = 0
    var ended: UInt64 = 0
}
