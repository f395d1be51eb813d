import Logging
import PostgresNIO

/// The schema of the PostgreSQL backend: everything lives in the schema `edge_run`, created and
/// migrated in one transaction under an advisory lock, so nodes starting together migrate once
/// and a failed step leaves nothing half done. `edge_run.schema_version` records each step.
enum PostgresMigrations {
    /// The advisory lock key that serialises migrations (any constant unique to edge-run).
    static let lockKey: Int64 = 0x6564_6765_7275_6E01

    /// The steps in order; step `n` (1-based) brings the schema to version `n`, one statement
    /// at a time (the extended protocol takes one per query). Never edit a released step:
    /// append a new one.
    static let steps: [[String]] = [
        // 1: KV and cron ticks. One keyed table for every binding (keys are bytea, so they compare in byte
        // order), a store-wide version sequence for compare-and-set, and a partial index on
        // expiry for the chunked sweep. The table is hot (every put is an update): autovacuum
        // runs at 2 % dead rows rather than 20 %, and a lower fill factor leaves room for HOT
        // updates (no index change when only the value changes).
        [
            "CREATE SEQUENCE edge_run.kv_version AS bigint",
            """
            CREATE TABLE edge_run.kv (
                binding text COLLATE "C" NOT NULL,
                key bytea NOT NULL,
                value bytea NOT NULL,
                metadata bytea,
                expires_at bigint,
                version bigint NOT NULL,
                PRIMARY KEY (binding, key)
            ) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05)
            """,
            "CREATE INDEX kv_expiry ON edge_run.kv (expires_at) WHERE expires_at IS NOT NULL",
            // Cron ticks: the node whose insert wins runs the tick.
            """
            CREATE TABLE edge_run.cron_ticks (
                job text COLLATE "C" NOT NULL,
                tick bigint NOT NULL,
                claimed_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (job, tick)
            )
            """,
        ],
    ]

    /// The version this build migrates to.
    static var latest: Int { steps.count }

    /// Brings the schema to ``latest``.
    /// - Returns: the steps applied (0 when it was current).
    /// - Throws: ``PostgresSchemaTooNew`` when another, newer edge-run already migrated past
    ///   this build; a database error.
    static func migrate(_ client: PostgresClient, logger: Logger) async throws -> Int {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger).consume()
            try await connection.query("CREATE SCHEMA IF NOT EXISTS edge_run", logger: logger).consume()
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS edge_run.schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: logger
            ).consume()
            var current = 0
            for try await (version) in try await connection.query("SELECT coalesce(max(version), 0) FROM edge_run.schema_version", logger: logger)
                .decode(Int.self) {
                current = version
            }
            guard current <= latest else { throw PostgresSchemaTooNew(found: current, supported: latest) }
            guard current < latest else { return 0 }
            for version in (current + 1)...latest {
                for statement in steps[version - 1] {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger).consume()
                }
                try await connection.query("INSERT INTO edge_run.schema_version (version) VALUES (\(version))", logger: logger).consume()
            }
            return latest - current
        }
    }
}

/// The database was migrated by a newer edge-run than this one.
struct PostgresSchemaTooNew: Error, CustomStringConvertible {
    let found: Int
    let supported: Int
    var description: String { "schema edge_run is at version \(found); this edge-run knows up to \(supported): upgrade edge-run" }
}

extension PostgresRowSequence {
    /// Reads every row: a statement's execution errors surface only while its rows are read.
    func consume() async throws {
        for try await _ in self {}
    }
}
