import Logging
import PostgresNIO
import Queues
import ServiceLifecycle
import Synchronization

/// The wake-ups of one node's queue consumers: a signal per queue name (shared by the brokers a
/// reload makes), raised by this node's sends directly and by every node's sends through
/// `LISTEN edge_run_queues` on one pooled connection.
final class PostgresQueueWakeups: Sendable {
    private let signals = Mutex<[String: ConsumerSignal]>([:])

    /// The signal of `queue`'s consumer.
    func signal(_ queue: String) -> ConsumerSignal {
        signals.withLock { all in
            if let signal = all[queue] { return signal }
            let signal = ConsumerSignal()
            all[queue] = signal
            return signal
        }
    }

    func notify(_ queue: String) { signals.withLock { $0[queue] }?.notify() }

    func notifyAll() { for signal in signals.withLock({ Array($0.values) }) { signal.notify() } }

    /// Listens until cancelled, reconnecting after 1 s when the connection drops (the consumers'
    /// poll covers the gap; every consumer is woken once when listening starts again).
    func listen(client: PostgresClient, logger: Logger) async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: PostgresQueueBroker.channel) { notifications in
                        self.notifyAll()
                        for try await notification in notifications { self.notify(notification.payload) }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.debug("queue wake-ups: LISTEN connection lost; consumers poll meanwhile", metadata: ["error": "\(error)"])
            }
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
        }
    }
}

/// The background upkeep of the PostgreSQL queues on every node: every `leaseCheckInterval`
/// (10 s) it takes over expired leases (a dead node's batches), every `interval` (60 s) it
/// deletes messages past their queue's retention. Nodes running it at once take different rows
/// (`SKIP LOCKED`).
struct PostgresQueueSweeper: Service {
    let current: @Sendable () -> PostgresQueueBroker?
    var interval: Duration = .seconds(60)
    var leaseCheckInterval: Duration = .seconds(10)
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await every(leaseCheckInterval) { try await current()?.reclaimExpiredLeases() } }
                group.addTask { await every(interval) { try await current()?.purgeExpired(pause: .milliseconds(20)) } }
            }
        }
    }

    private func every(_ period: Duration, _ work: () async throws -> Int?) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: period) } catch { return }
            do { _ = try await work() } catch is CancellationError { return } catch {
                logger.error("queue upkeep failed", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// The queue side of one node's PostgreSQL storage: the wake-ups and message ids every broker
/// of the node shares (a reload makes a new broker), the broker serving now, and the `LISTEN`.
final class PostgresQueueNode: Sendable {
    let wakeups = PostgresQueueWakeups()
    let ids = MessageIDGenerator()
    private let serving = Mutex<PostgresQueueBroker?>(nil)
    private let listener = Mutex<Task<Void, Never>?>(nil)

    /// The broker the server uses now.
    var current: PostgresQueueBroker? { serving.withLock { $0 } }

    /// Makes `broker` the served one and starts listening for wake-ups (once).
    func serve(_ broker: PostgresQueueBroker) {
        serving.withLock { $0 = broker }
        listener.withLock { task in
            if task == nil { task = Task { [wakeups] in await wakeups.listen(client: broker.client, logger: broker.logger) } }
        }
    }

    /// Stops listening (before the pool closes).
    func close() async {
        let task = listener.withLock { t -> Task<Void, Never>? in
            defer { t = nil }
            return t
        }
        task?.cancel()
        await task?.value
    }
}
