import EdgeCore
import KVStore
import Logging
import Queues
import ServiceLifecycle

/// Where the KV namespaces, the queues and the runtime's private state of one node live: the
/// embedded LMDB data directory, or a PostgreSQL server several nodes share.
///
/// The server, the CLI and every handler use only this and the ``KVStore`` / ``QueueBroker``
/// protocols; ``StorageLocation/open(logger:)`` picks the backend.
public protocol StorageBackend: Sendable {
    /// What the storage is, for logs and errors (never a password).
    var description: String { get }

    /// Opens (creating when needed) the KV namespace `binding`.
    func kvStore(binding: String, limits: KVLimits, clock: any WallClock) async throws -> any KVStore

    /// Opens the queues a server declares (recording them for the CLI). With `reclaimLeases`,
    /// messages left in flight by a previous process of this storage go back to their queues.
    func queueBroker(declaring queues: [QueueConfig], clock: any QueueClock, reclaimLeases: Bool, logger: Logger) async throws -> any QueueBroker

    /// Opens the queues of a reloaded manifest beside `previous`, the broker this storage gave
    /// the running server: records them, opens the new ones, takes back no leases (the running
    /// consumers hold them). Queues `previous` has and `queues` lacks stay stored, unserved.
    func queueBroker(
        redeclaring queues: [QueueConfig],
        replacing previous: any QueueBroker,
        clock: any QueueClock,
        logger: Logger
    ) async throws
        -> any QueueBroker

    /// Opens the queues a server recorded (the CLI beside a running server).
    func existingQueueBroker(clock: any QueueClock, logger: Logger) async throws -> any QueueBroker

    /// Claims the run of cron entry `job` at unix second `tick` for this node.
    /// - Returns: `true` for exactly one caller per `(job, tick)` across the nodes sharing this
    ///   storage (an LMDB data directory has one server: always `true`).
    func claimCronTick(job: String, tick: Int64) async throws -> Bool

    /// Why the storage cannot be used right now (`nil`: it can); `/_edge/health` answers
    /// 503 `degraded` with this reason.
    func checkHealth() async -> String?

    /// The background upkeep (expiry sweeps, retention, lease reclaiming) of what is open, to
    /// run in the server's `ServiceGroup`; what a reload opens later is included.
    func maintenanceServices(logger: Logger) -> [any Service]

    /// The storage's own gauges for `/_edge/metrics` (default: none).
    func metrics() -> [StorageMetric]

    /// Releases the storage (the last call).
    func close() async
}

extension StorageBackend {
    /// A backend without shared state between brokers declares the queues afresh.
    public func queueBroker(
        redeclaring queues: [QueueConfig],
        replacing previous: any QueueBroker,
        clock: any QueueClock,
        logger: Logger
    ) async throws
        -> any QueueBroker
    {
        try await queueBroker(declaring: queues, clock: clock, reclaimLeases: false, logger: logger)
    }
}
