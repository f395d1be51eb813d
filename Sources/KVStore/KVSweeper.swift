import Logging
import ServiceLifecycle

/// Reclaims the space of expired keys in the background (expired keys are already invisible to
/// reads; this only frees pages). Sweeps run as ordinary grouped writes, so readers never wait.
public struct KVSweeper: Service {
    let stores: [LMDBKVStore]
    let interval: Duration
    let logger: Logger

    public init(stores: [LMDBKVStore], interval: Duration = .seconds(30), logger: Logger = Logger(label: "edge-run.kv.sweeper")) {
        self.stores = stores
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                } catch { return }
                await sweepOnce()
            }
        }
    }

    /// Sweeps every store once.
    public func sweepOnce() async {
        for store in stores {
            do {
                let n = try await store.sweepExpired()
                if n > 0 { logger.debug("swept expired keys", metadata: ["binding": "\(store.binding)", "count": "\(n)"]) }
            } catch {
                logger.error("sweep failed", metadata: ["binding": "\(store.binding)", "error": "\(error)"])
            }
        }
    }
}
