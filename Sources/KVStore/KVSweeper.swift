import Logging
import ServiceLifecycle

/// A KV store whose expired records are removed by a background sweep.
public protocol ExpirySweeping: Sendable {
    /// The namespace swept.
    var binding: String { get }
    /// Removes expired records in chunks of at most `batch`; returns how many were removed.
    func sweepExpired(batch: Int) async throws -> Int
}

extension LMDBKVStore: ExpirySweeping {}

/// Reclaims the space of expired keys in the background (expired keys are already invisible to
/// reads; this only frees pages). Sweeps run as ordinary grouped writes, so readers never wait.
public struct KVSweeper: Service {
    /// The stores to sweep, asked at each round (a server's reload changes them).
    let current: @Sendable () -> [any ExpirySweeping]
    var stores: [any ExpirySweeping] { current() }
    let interval: Duration
    let logger: Logger

    public init(stores: [any ExpirySweeping], interval: Duration = .seconds(30), logger: Logger = Logger(label: "edge-run.kv.sweeper")) {
        self.init(current: { stores }, interval: interval, logger: logger)
    }

    /// Sweeps whichever stores `current` returns at each round.
    public init(
        current: @escaping @Sendable () -> [any ExpirySweeping],
        interval: Duration = .seconds(30),
        logger: Logger = Logger(label: "edge-run.kv.sweeper")
    ) {
        self.current = current
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
                let n = try await store.sweepExpired(batch: 1000)
                if n > 0 { logger.debug("swept expired keys", metadata: ["binding": "\(store.binding)", "count": "\(n)"]) }
            } catch {
                logger.error("sweep failed", metadata: ["binding": "\(store.binding)", "error": "\(error)"])
            }
        }
    }
}
