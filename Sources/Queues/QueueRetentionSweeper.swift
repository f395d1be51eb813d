import KVStore
import LMDBStorage
import Logging
import ServiceLifecycle

/// The broker's background upkeep while serving, as two loops:
/// - every `leaseCheckInterval` (10 s), it takes back messages whose lease expired;
/// - every `interval` (60 s), it deletes messages that outlived their queue's retention, also in
///   queues nobody consumes (paced: chunks of ``LMDBQueueBroker/defaultPurgeChunk`` with
///   `purgePause` between them, so a large expiry never fills every commit of the shared writer),
///   and clears stale LMDB reader slots of killed processes.
public struct QueueRetentionSweeper: Service {
    /// The broker serving now (a reload replaces it).
    let current: @Sendable () -> LMDBQueueBroker
    var broker: LMDBQueueBroker { current() }
    let interval: Duration
    let leaseCheckInterval: Duration
    let purgePause: Duration
    let logger: Logger

    public init(
        broker: LMDBQueueBroker,
        interval: Duration = .seconds(60),
        leaseCheckInterval: Duration = .seconds(10),
        purgePause: Duration = .milliseconds(20),
        logger: Logger = Logger(label: "edge-run.queues.sweeper")
    ) {
        self.init(current: { broker }, interval: interval, leaseCheckInterval: leaseCheckInterval, purgePause: purgePause, logger: logger)
    }

    /// Sweeps whichever broker `current` returns at each round (the server's, across reloads).
    public init(
        current: @escaping @Sendable () -> LMDBQueueBroker,
        interval: Duration = .seconds(60),
        leaseCheckInterval: Duration = .seconds(10),
        purgePause: Duration = .milliseconds(20),
        logger: Logger = Logger(label: "edge-run.queues.sweeper")
    ) {
        self.current = current
        self.interval = interval
        self.leaseCheckInterval = leaseCheckInterval
        self.purgePause = purgePause
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await every(leaseCheckInterval) { await checkLeases() } }
                group.addTask { await every(interval) { await upkeep() } }
            }
        }
    }

    private func every(_ period: Duration, _ work: () async -> Void) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: period) } catch { return }
            await work()
        }
    }

    private func checkLeases() async {
        do { try await broker.reclaimExpiredLeases() } catch { logger.error("lease check failed", metadata: ["error": "\(error)"]) }
    }

    private func upkeep() async {
        do {
            try await broker.purgeExpired(pause: purgePause)
        } catch is CancellationError {
            return
        } catch {
            logger.error("retention sweep failed", metadata: ["error": "\(error)"])
        }
        do {
            let cleared = try broker.environment.clearStaleReaders()
            if cleared > 0 { logger.notice("cleared stale LMDB reader slots of killed processes", metadata: ["count": "\(cleared)"]) }
        } catch {
            logger.error("reader check failed", metadata: ["error": "\(error)"])
        }
    }
}
