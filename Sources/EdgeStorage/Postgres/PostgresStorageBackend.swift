import EdgeCore
import Foundation
import KVStore
import Logging
import NIOSSL
import PostgresNIO
import Queues
import ServiceLifecycle
import Synchronization

/// Several nodes' shared storage: a postgres-nio pool per node on one PostgreSQL server (≥ 14),
/// with everything in the schema `edge_run` (migrated at open, see ``PostgresMigrations``).
public final class PostgresStorageBackend: StorageBackend {
    /// Where the server is (its description has no password).
    public let url: PostgresURL
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>
    /// Finishes when `runner` is about to call `client.run()`.
    private let runnerStarted: AsyncStream<Void>
    let health: PostgresHealth
    private let watcher: Task<Void, Never>
    private let stores = Mutex<[PostgresKVStore]>([])
    let queues = PostgresQueueNode()

    /// Connections per node (`storage_pool_size`).
    public static let defaultPoolSize = 8
    /// Every statement of edge-run is short; one running longer is cut (milliseconds).
    static let statementTimeoutMillis = 30_000
    /// A transaction left idle (a stuck node) releases its locks after this (milliseconds).
    static let idleInTransactionTimeoutMillis = 10_000

    /// Checks that the server accepts the URL's credentials, starts the pool and migrates.
    /// - Throws: ``PostgresStartError``: one line naming the host (never the password).
    public static func open(
        _ url: PostgresURL,
        poolSize: Int = defaultPoolSize,
        migrate: Bool = true,
        logger: Logger
    ) async throws -> PostgresStorageBackend {
        let tls: PostgresClient.Configuration.TLS
        switch url.sslMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        // A single connection first: the pool retries refused credentials for a minute before
        // failing, while this answers at once with the server's reason.
        let single: PostgresConnection.Configuration
        do { single = try connectionConfiguration(url) } catch { throw PostgresStartError(url: url, error: error) }
        try await checkAndMigrate(single, url: url, migrate: migrate, logger: logger)
        var configuration = PostgresClient.Configuration(
            host: url.host,
            port: url.port,
            username: url.username,
            password: url.password,
            database: url.database,
            tls: tls
        )
        configuration.options.maximumConnections = poolSize
        // The whole pool stays open: a connection above the minimum costs an idle timer on every
        // release, and the pool size times the node count must fit max_connections anyway.
        if keepsWholePoolOpen { configuration.options.minimumConnections = poolSize }
        configuration.options.keepAliveBehavior = url.keepAliveSeconds.map { .init(frequency: .seconds($0)) }
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = startupParameters
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let backend = PostgresStorageBackend(url: url, client: client, single: single, logger: logger)
        // A statement leased before the pool runs waits for it, but postgres-nio logs a warning
        // (the CLI's first statement came that early): open returns once run() is entered.
        for await _ in backend.runnerStarted {}
        return backend
    }

    /// Health probes in a row without an answer within 2 s before the storage counts as
    /// unavailable (default 3). A refused or broken connection counts at once whatever this is.
    /// The test suite raises it: running hundreds of tests on two cores, its own process
    /// answers late, not the server.
    public static var slowProbesBeforeUnavailable: Int {
        get { PostgresHealth.slowProbes.load(ordering: .relaxed) }
        set { PostgresHealth.slowProbes.store(max(1, newValue), ordering: .relaxed) }
    }

    /// Whether a node opens its whole pool at start and keeps it open (default `true`: one
    /// release costs about a sixth less CPU than with connections above a minimum of zero,
    /// which postgres-nio times out one by one). The test suite, with hundreds of pools on one
    /// server, opens connections only as they are needed.
    public static var keepsWholePoolOpen: Bool {
        get { wholePool.load(ordering: .relaxed) }
        set { wholePool.store(newValue, ordering: .relaxed) }
    }
    private static let wholePool = Atomic<Bool>(true)

    /// Set on every connection of the pool.
    static let startupParameters: [(String, String)] = [
        ("application_name", "edge-run"),
        ("statement_timeout", "\(statementTimeoutMillis)"),
        ("idle_in_transaction_session_timeout", "\(idleInTransactionTimeoutMillis)"),
    ]

    private init(url: PostgresURL, client: PostgresClient, single: PostgresConnection.Configuration, logger: Logger) {
        self.url = url
        self.client = client
        self.logger = logger
        let (started, starting) = AsyncStream<Void>.makeStream()
        runnerStarted = started
        // run() marks the client running in its first statement, before it suspends.
        runner = Task {
            starting.finish()
            await client.run()
        }
        let health = PostgresHealth(url: url, configuration: single, logger: logger)
        self.health = health
        watcher = Task { await health.watch() }
    }

    /// One connection's configuration for `url` (the start-up check and the health watch).
    static func connectionConfiguration(_ url: PostgresURL) throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch url.sslMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(
            host: url.host,
            port: url.port,
            username: url.username,
            password: url.password,
            database: url.database,
            tls: tls
        )
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }

    /// Connects once (the server's reason at once when it refuses) and migrates on that
    /// connection, before the pool exists (a pool leased from before its `run()` started only
    /// warns and waits).
    private static func checkAndMigrate(
        _ configuration: PostgresConnection.Configuration,
        url: PostgresURL,
        migrate: Bool,
        logger: Logger
    ) async throws {
        do {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            do {
                if migrate {
                    let applied = try await PostgresMigrations.migrate(connection, logger: logger)
                    if applied > 0 {
                        logger.notice("migrated schema edge_run", metadata: ["steps": "\(applied)", "version": "\(PostgresMigrations.latest)"])
                    }
                }
                try await connection.close()
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            throw PostgresStartError(url: url, error: error)
        }
    }

    public var description: String { url.description }

    public func kvStore(binding: String, limits: KVLimits, clock: any WallClock) async throws -> any KVStore {
        let store = PostgresKVStore(binding: binding, limits: limits, url: url, client: client, health: health, clock: clock, logger: logger)
        stores.withLock { $0.append(store) }
        return store
    }

    /// Records the declared queues and serves them (see ``PostgresQueueBroker``). Leases are
    /// shared by the nodes, so `reclaimLeases` takes back only expired ones: a batch another
    /// node is running keeps its lease.
    public func queueBroker(
        declaring queues: [QueueConfig],
        clock: any QueueClock,
        reclaimLeases: Bool,
        logger: Logger
    ) async throws -> any QueueBroker {
        try health.check()
        let configs = try await PostgresQueueBroker.record(queues, client: client, logger: logger)
        let broker = PostgresQueueBroker(
            client: client,
            health: health,
            clock: clock,
            logger: logger,
            configs: configs,
            wakeups: self.queues.wakeups,
            ids: self.queues.ids
        )
        self.queues.serve(broker)
        if reclaimLeases { try await broker.reclaimExpiredLeases() }
        return broker
    }

    public func existingQueueBroker(clock: any QueueClock, logger: Logger) async throws -> any QueueBroker {
        try health.check()
        let configs = try await PostgresQueueBroker.recorded(client: client, logger: logger)
        return PostgresQueueBroker(
            client: client,
            health: health,
            clock: clock,
            logger: logger,
            configs: configs,
            wakeups: queues.wakeups,
            ids: queues.ids
        )
    }

    /// The first node to insert the tick's row runs it (`ON CONFLICT DO NOTHING`).
    public func claimCronTick(job: String, tick: Int64) async throws -> Bool {
        try health.check()
        do {
            var claimed = false
            let rows = try await client.query(
                "INSERT INTO edge_run.cron_ticks (job, tick) VALUES (\(job), \(tick)) ON CONFLICT DO NOTHING RETURNING true",
                logger: logger
            )
            for try await _ in rows { claimed = true }
            return claimed
        } catch {
            throw PostgresErrors.map(error, url: url)
        }
    }

    public func maintenanceServices(logger: Logger) -> [any Service] {
        [
            KVSweeper(current: { [self] in stores.withLock { $0 } }, logger: logger),
            PostgresQueueSweeper(current: { [queues] in queues.current }, logger: logger),
        ]
    }

    public func checkHealth() async -> String? { health.currentProblem }

    public func close() async {
        await queues.close()
        watcher.cancel()
        await watcher.value
        runner.cancel()
        await runner.value
    }
}

extension PostgresKVStore: ExpirySweeping {}

/// A part of the PostgreSQL backend this build does not have yet.
struct PostgresNotYetSupported: Error, CustomStringConvertible {
    let what: String
    var description: String { "\(what) on PostgreSQL storage are not available in this build; use lmdb:<dir> storage" }
}

/// PostgreSQL could not be used at start: one line naming the server and the reason it gave,
/// never the password.
public struct PostgresStartError: Error, CustomStringConvertible {
    public let description: String

    init(url: PostgresURL, error: any Error) {
        description = "storage \(url): \(Self.reason(error, url: url))"
    }

    static func reason(_ error: any Error, url: PostgresURL) -> String {
        if let error = error as? PostgresTransactionError {
            return reason(error.closureError ?? error.beginError ?? error.commitError ?? error.rollbackError ?? error, url: url)
        }
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                let state = error.serverInfo?[.sqlState] ?? ""
                var text = message
                if state == "53300" { text += " (pool size × nodes must fit the server's max_connections)" }
                return text
            }
            switch error.code {
            case .connectionError:
                return "cannot connect to \(url.host):\(url.port)" + (error.underlying.map { " (\(redacted($0, url)))" } ?? "")
            case .sslUnsupported: return "the server does not support TLS (sslmode=require)"
            default: return "\(error.code)"
            }
        }
        if let error = error as? PostgresSchemaTooNew { return error.description }
        return redacted(error, url)
    }

    /// An error's text with the URL's password removed, should it appear.
    static func redacted(_ error: any Error, _ url: PostgresURL) -> String {
        let text = String(describing: error)
        guard let password = url.password, !password.isEmpty else { return text }
        return text.replacingOccurrences(of: password, with: "****")
    }
}
