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
        // 2: queues (see PostgresQueueBroker). One table holds every queue's messages: waiting
        // and delayed (state 0), in flight (1, with a lease), and the built-in dead-letter
        // store (2); a dead-letter queue is another queue, so a move is one UPDATE of `queue`.
        // Ids are the 16-byte message ids (bytea: byte order is send order). The table is the
        // hottest there is: every message is inserted, updated at its claim and deleted at its
        // ack, so dead tuples pile up in the due index that every claim walks. Autovacuum
        // therefore starts after a fixed 1,000 dead rows whatever the table's size (scale
        // factor 0: a drained queue table is tiny, a backlog huge, and neither should wait for
        // 20 % of itself), runs unthrottled (cost delay 0: the table stays small when consumers
        // keep up, so a vacuum is short), and a fill factor of 70 leaves room on each page for
        // the claim's new row version. Counters are sharded rows (one per connection modulo 16)
        // so that nodes settling at once do not queue on one row lock held until each commit's
        // fsync. Slots bound the handlers running cluster-wide (`max_concurrency`).
        [
            """
            CREATE TABLE edge_run.queues (
                name text COLLATE "C" PRIMARY KEY,
                config text NOT NULL,
                declared_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE edge_run.queue_messages (
                queue text COLLATE "C" NOT NULL,
                id bytea NOT NULL,
                state smallint NOT NULL DEFAULT 0,
                content_type smallint NOT NULL,
                body bytea NOT NULL,
                attempts integer NOT NULL DEFAULT 0,
                attempts_base integer NOT NULL DEFAULT 0,
                sent_at bigint NOT NULL,
                enqueued_at bigint NOT NULL,
                due_at bigint NOT NULL,
                lease_until bigint,
                lease_token bigint,
                last_error text,
                PRIMARY KEY (queue, id)
            ) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
                    autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0.05)
            """,
            "CREATE INDEX queue_messages_due ON edge_run.queue_messages (queue, due_at, id) WHERE state = 0",
            "CREATE INDEX queue_messages_enqueued ON edge_run.queue_messages (queue, enqueued_at) WHERE state = 0",
            "CREATE INDEX queue_messages_leases ON edge_run.queue_messages (queue, lease_until) WHERE state = 1",
            """
            CREATE TABLE edge_run.queue_counters (
                queue text COLLATE "C" NOT NULL,
                shard smallint NOT NULL,
                delivered bigint NOT NULL DEFAULT 0,
                retried bigint NOT NULL DEFAULT 0,
                dead_lettered bigint NOT NULL DEFAULT 0,
                expired bigint NOT NULL DEFAULT 0,
                PRIMARY KEY (queue, shard)
            ) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500, autovacuum_vacuum_cost_delay = 0)
            """,
            """
            CREATE TABLE edge_run.queue_slots (
                queue text COLLATE "C" NOT NULL,
                slot integer NOT NULL,
                token bigint,
                lease_until bigint,
                PRIMARY KEY (queue, slot)
            ) WITH (fillfactor = 50)
            """,
        ],
    ]

    /// The version this build migrates to.
    static var latest: Int { steps.count }

    /// Brings the schema to ``latest``.
    /// - Returns: the steps applied (0 when it was current).
    /// - Throws: ``PostgresSchemaTooNew`` when another, newer edge-run already migrated past
    ///   this build; a database error.
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> Int {
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger).consume()
            try await connection.query("CREATE SCHEMA IF NOT EXISTS edge_run", logger: logger).consume()
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS edge_run.schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: logger
            ).consume()
            var current = 0
            for try await (version) in try await connection.query("SELECT coalesce(max(version), 0) FROM edge_run.schema_version", logger: logger)
                .decode(Int.self)
            {
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
