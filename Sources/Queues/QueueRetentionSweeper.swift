import Logging
import ServiceLifecycle

/// Deletes messages that outlived their queue's retention, also in queues nobody consumes.
public struct QueueRetentionSweeper: Service {
    let broker: LMDBQueueBroker
    let interval: Duration
    let logger: Logger

    public init(broker: LMDBQueueBroker, interval: Duration = .seconds(60), logger: Logger = Logger(label: "edge-run.queues.sweeper")) {
        self.broker = broker
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                do { try await broker.purgeExpired() } catch { logger.error("retention sweep failed", metadata: ["error": "\(error)"]) }
            }
        }
    }
}
