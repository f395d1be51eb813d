import KVStore
import Logging
import ServiceLifecycle

/// The broker's background upkeep while serving: takes back messages whose lease expired
/// (every `leaseCheckInterval`), deletes messages that outlived their queue's retention, also
/// in queues nobody consumes, and clears stale LMDB reader slots of killed processes (every
/// `interval`).
public struct QueueRetentionSweeper: Service {
    let broker: LMDBQueueBroker
    let interval: Duration
    let leaseCheckInterval: Duration
    let logger: Logger

    public init(
        broker: LMDBQueueBroker, interval: Duration = .seconds(60), leaseCheckInterval: Duration = .seconds(10),
        logger: Logger = Logger(label: "edge-run.queues.sweeper")
    ) {
        self.broker = broker
        self.interval = interval
        self.leaseCheckInterval = min(leaseCheckInterval, interval)
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            let clock = ContinuousClock()
            var nextSweep = clock.now + interval
            while !Task.isCancelled {
                do { try await Task.sleep(for: leaseCheckInterval) } catch { return }
                do { try await broker.reclaimExpiredLeases() } catch { logger.error("lease check failed", metadata: ["error": "\(error)"]) }
                guard clock.now >= nextSweep else { continue }
                nextSweep = clock.now + interval
                do { try await broker.purgeExpired() } catch { logger.error("retention sweep failed", metadata: ["error": "\(error)"]) }
                do {
                    let cleared = try broker.environment.clearStaleReaders()
                    if cleared > 0 { logger.notice("cleared stale LMDB reader slots of killed processes", metadata: ["count": "\(cleared)"]) }
                } catch {
                    logger.error("reader check failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
