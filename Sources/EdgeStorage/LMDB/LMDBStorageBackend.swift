import EdgeCore
import KVStore
import LMDBStorage
import Logging
import Queues
import ServiceLifecycle
import Synchronization

/// The embedded default: one LMDB environment in `<directory>/lmdb` holds every namespace and
/// queue of one machine. The `kv`/`queues` CLI commands open it beside a running server (LMDB
/// is multi-process safe).
public final class LMDBStorageBackend: StorageBackend {
    /// The data directory.
    public let directory: String
    /// The environment every store and the broker share.
    public let environment: LMDBEnvironment
    private struct Opened {
        var stores: [LMDBKVStore] = []
        var brokers: [LMDBQueueBroker] = []
    }
    private let opened = Mutex(Opened())

    /// Opens (creating when needed) the LMDB environment of `directory`.
    public init(directory: String) throws {
        self.directory = directory
        environment = try LMDBEnvironment(path: directory + "/lmdb")
    }

    public var description: String { "lmdb:\(directory)" }

    public func kvStore(binding: String, limits: KVLimits, clock: any WallClock) async throws -> any KVStore {
        let store = try await LMDBKVStore.open(environment: environment, binding: binding, limits: limits, clock: clock)
        opened.withLock { $0.stores.append(store) }
        return store
    }

    public func queueBroker(
        declaring queues: [QueueConfig],
        clock: any QueueClock,
        reclaimLeases: Bool,
        logger: Logger
    ) async throws -> any QueueBroker {
        let broker = try await LMDBQueueBroker.open(
            environment: environment,
            queues: queues,
            clock: clock,
            reclaimLeases: reclaimLeases,
            logger: logger
        )
        opened.withLock { $0.brokers.append(broker) }
        return broker
    }

    /// The wake-ups and message ids of `previous` are shared (an id must never repeat in one
    /// environment, and a send through the old broker must wake the new consumer).
    public func queueBroker(
        redeclaring queues: [QueueConfig],
        replacing previous: any QueueBroker,
        clock: any QueueClock,
        logger: Logger
    ) async throws
        -> any QueueBroker
    {
        guard let previous = previous as? LMDBQueueBroker else {
            return try await queueBroker(declaring: queues, clock: clock, reclaimLeases: false, logger: logger)
        }
        let broker = try await previous.reopened(queues: queues)
        opened.withLock { $0.brokers.append(broker) }
        return broker
    }

    public func existingQueueBroker(clock: any QueueClock, logger: Logger) async throws -> any QueueBroker {
        try await LMDBQueueBroker.openExisting(environment: environment, clock: clock, logger: logger)
    }

    /// One server per data directory: every tick is its own.
    public func claimCronTick(job: String, tick: Int64) async throws -> Bool { true }

    /// A local data directory has no server to lose.
    public func checkHealth() async -> String? { nil }

    /// Sweeps the latest store of each binding and the latest broker (a reload's), asked again
    /// at every round.
    public func maintenanceServices(logger: Logger) -> [any Service] {
        var services: [any Service] = [
            KVSweeper(
                current: { [self] in
                    var latest: [String: LMDBKVStore] = [:]
                    for store in opened.withLock({ $0.stores }) { latest[store.binding] = store }
                    return latest.keys.sorted().compactMap { latest[$0] }
                },
                logger: logger
            )
        ]
        if let first = opened.withLock({ $0.brokers.first }) {
            services.append(QueueRetentionSweeper(current: { [self] in opened.withLock { $0.brokers.last } ?? first }, logger: logger))
        }
        return services
    }

    /// The environment's map and reader usage (`edge_lmdb_*`).
    public func metrics() -> [StorageMetric] {
        let usage = environment.usage()
        return [
            StorageMetric(name: "edge_lmdb_map_size_bytes", help: "LMDB map size (grows by doubling when full).", value: Double(usage.mapSizeBytes)),
            StorageMetric(name: "edge_lmdb_pages_used", help: "LMDB pages in use (last page number + 1).", value: Double(usage.pagesUsed)),
            StorageMetric(name: "edge_lmdb_page_size_bytes", help: "LMDB page size.", value: Double(usage.pageSizeBytes)),
            StorageMetric(name: "edge_lmdb_readers", help: "LMDB reader slots in use, by every process.", value: Double(usage.readers)),
            StorageMetric(name: "edge_lmdb_max_readers", help: "LMDB reader slots available.", value: Double(usage.maxReaders)),
        ]
    }

    public func close() async { environment.close() }
}
