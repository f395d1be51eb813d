import EdgeCore
import Foundation
import KVStore
import Logging
import NIOCore
import PostgresNIO
import Queues
import ServiceLifecycle
import Synchronization

/// The queues of a PostgreSQL storage, shared by every node on it (schema step 2 of
/// ``PostgresMigrations``: `edge_run.queues`, `queue_messages`, `queue_counters`, `queue_slots`).
///
/// Same semantics as ``LMDBQueueBroker``, cluster-wide: a send of a batch is one `INSERT` (durable
/// when it returns); a claim is one short transaction (`FOR UPDATE SKIP LOCKED`, `attempts` + 1
/// and a lease) committed before the handler runs; a batch's acks, retries and dead letters are
/// one statement, so a final failure's move to the dead-letter queue commits with its outcome;
/// `max_concurrency` holds across nodes through leased slot rows; leases of a node that died are
/// taken over when they expire. Sends wake the consumers of every node through `LISTEN/NOTIFY`
/// (channel ``channel``), with a poll of at most ``PostgresQueueConsumer/pollInterval``.
public final class PostgresQueueBroker: QueueBroker {
    let client: PostgresClient
    let health: PostgresHealth
    let clock: any QueueClock
    let logger: Logger
    let configs: [String: QueueConfig]
    let wakeups: PostgresQueueWakeups
    let ids: MessageIDGenerator
    private let consumersMade = Mutex<Set<String>>([])
    private let observer = Mutex<(any DeliveryObserver)?>(nil)

    /// The `LISTEN/NOTIFY` channel; a notification's payload is the queue's name.
    static let channel = "edge_run_queues"
    /// Counter rows per queue: a settle adds to the row of its connection (pid modulo this),
    /// so settles of several nodes do not wait on one row lock.
    static let counterShards = 16
    /// The most messages one background statement (reclaim, retention, redrive) touches.
    static let chunk = LMDBQueueBroker.maxRecordsPerWrite

    init(
        client: PostgresClient,
        health: PostgresHealth,
        clock: any QueueClock,
        logger: Logger,
        configs: [QueueConfig],
        wakeups: PostgresQueueWakeups,
        ids: MessageIDGenerator
    ) {
        self.client = client
        self.health = health
        self.clock = clock
        self.logger = logger
        self.configs = Dictionary(uniqueKeysWithValues: configs.map { ($0.name, $0) })
        self.wakeups = wakeups
        self.ids = ids
    }

    /// Records `queues` (validated, undeclared dead-letter queues added) and their consumer slots.
    /// - Returns: the configurations recorded.
    static func record(_ queues: [QueueConfig], client: PostgresClient, logger: Logger) async throws -> [QueueConfig] {
        let configs = try LMDBQueueBroker.validated(queues)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let rows = try configs.map {
            ($0.name, String(decoding: try encoder.encode($0), as: UTF8.self), ($0.consumer ?? ConsumerConfig()).maxConcurrency)
        }
        try await client.withTransaction(logger: logger) { connection in
            for (name, json, slots) in rows {
                try await connection.query(
                    "INSERT INTO edge_run.queues (name, config) VALUES (\(name), \(json)) ON CONFLICT (name) DO UPDATE SET config = EXCLUDED.config",
                    logger: logger
                ).consume()
                try await connection.query(
                    """
                    INSERT INTO edge_run.queue_slots (queue, slot) SELECT \(name), s FROM generate_series(0, \(slots) - 1) AS s
                    ON CONFLICT DO NOTHING
                    """,
                    logger: logger
                ).consume()
                try await connection.query("DELETE FROM edge_run.queue_slots WHERE queue = \(name) AND slot >= \(slots)", logger: logger).consume()
            }
        }
        return configs
    }

    /// The configurations a server recorded (the CLI), range-checked again before any use.
    static func recorded(client: PostgresClient, logger: Logger) async throws -> [QueueConfig] {
        var configs: [QueueConfig] = []
        for try await json in try await client.query("SELECT config FROM edge_run.queues ORDER BY name", logger: logger).decode(String.self) {
            let config = try JSONDecoder().decode(QueueConfig.self, from: Data(json.utf8))
            try config.validate()
            configs.append(config)
        }
        return configs
    }

    func config(_ queue: String) throws(QueueError) -> QueueConfig {
        guard let config = configs[queue] else { throw QueueError(.unknownQueue, "queue \"\(queue)\" is not declared") }
        return config
    }

    /// Wakes the consumers of `queue` on this node now and on the others through `NOTIFY`.
    func announce(_ queue: String) async {
        wakeups.notify(queue)
        do {
            try await client.query("SELECT pg_notify(\(Self.channel), \(queue))", logger: logger).consume()
        } catch {
            logger.debug("NOTIFY failed; other nodes find the messages at their next poll", metadata: ["error": "\(error)"])
        }
    }

    // MARK: QueueBroker

    public var queueNames: [String] { configs.keys.sorted() }

    public func config(for queue: String) throws -> QueueConfig { try config(queue) }

    public func sendBatch(_ messages: [OutgoingMessage], to queue: String) async throws -> [String] {
        let config = try config(queue)
        try QueueLimits.validate(batch: messages)
        try health.check()
        let now = clock.nowMillis()
        var idBytes: [ByteBuffer] = []
        var types: [Int16] = []
        var bodies: [ByteBuffer] = []
        var dues: [Int64] = []
        var sent: [String] = []
        for message in messages {
            let id = ids.next(millis: now)
            idBytes.append(ByteBuffer(bytes: id.bytes))
            types.append(Int16(message.body.contentType.storageCode))
            bodies.append(ByteBuffer(bytes: message.body.data))
            dues.append(now + Int64(message.delaySeconds ?? config.deliveryDelay) * 1000)
            sent.append(id.description)
        }
        // One statement (one commit) for the batch. The NOTIFY follows in a statement of its own:
        // a transaction that notifies holds a database-wide lock through its commit, so a NOTIFY
        // inside the INSERT would make every send of the cluster wait for the others' fsyncs.
        let rows = try await client.query(
            """
            WITH sent AS (
                INSERT INTO edge_run.queue_messages (queue, id, content_type, body, sent_at, enqueued_at, due_at)
                SELECT \(queue), m.id, m.content_type, m.body, \(now), \(now), m.due_at
                FROM unnest(\(idBytes)::bytea[], \(types)::smallint[], \(bodies)::bytea[], \(dues)::bigint[]) AS m(id, content_type, body, due_at)
                RETURNING due_at
            )
            SELECT count(*) FILTER (WHERE due_at <= \(now)) FROM sent
            """,
            logger: logger
        )
        var due: Int64 = 0
        for try await n in rows.decode(Int64.self) { due = n }
        if due > 0 { await announce(queue) }
        return sent
    }

    public func stats(_ queue: String) async throws -> QueueStats {
        _ = try config(queue)
        try health.check()
        let now = clock.nowMillis()
        let rows = try await client.query(
            """
            SELECT m.pending, m.delayed, m.in_flight, m.dead, c.delivered, c.retried, c.dead_lettered, c.expired
            FROM (
                SELECT count(*) FILTER (WHERE state = 0 AND due_at <= \(now)) AS pending,
                    count(*) FILTER (WHERE state = 0 AND due_at > \(now)) AS delayed,
                    count(*) FILTER (WHERE state = 1) AS in_flight, count(*) FILTER (WHERE state = 2) AS dead
                FROM edge_run.queue_messages WHERE queue = \(queue)
            ) AS m, (
                SELECT coalesce(sum(delivered), 0)::bigint AS delivered, coalesce(sum(retried), 0)::bigint AS retried,
                    coalesce(sum(dead_lettered), 0)::bigint AS dead_lettered, coalesce(sum(expired), 0)::bigint AS expired
                FROM edge_run.queue_counters WHERE queue = \(queue)
            ) AS c
            """,
            logger: logger
        )
        var stats = QueueStats(
            name: queue,
            pending: 0,
            delayed: 0,
            inFlight: 0,
            deadLettered: 0,
            delivered: 0,
            retried: 0,
            expired: 0,
            deadLetterStore: 0,
            backend: ()
        )
        for try await (pending, delayed, inFlight, dead, delivered, retried, deadLettered, expired)
            in rows.decode((Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64).self)
        {
            stats = QueueStats(
                name: queue,
                pending: Int(pending),
                delayed: Int(delayed),
                inFlight: Int(inFlight),
                deadLettered: Int(deadLettered),
                delivered: Int(delivered),
                retried: Int(retried),
                expired: Int(expired),
                deadLetterStore: Int(dead),
                backend: ()
            )
        }
        return stats
    }

    public func peek(_ queue: String, limit: Int, deadLetters: Bool) async throws -> [PeekedMessage] {
        _ = try config(queue)
        guard (1...QueueLimits.maxPeekLimit).contains(limit) else {
            throw QueueError(.invalidLimit, "limit must be between 1 and \(QueueLimits.maxPeekLimit), got \(limit)")
        }
        try health.check()
        let states: [Int16] = deadLetters ? [2] : [0, 1]
        let rows = try await client.query(
            """
            SELECT id, content_type, body, attempts, last_error, sent_at, due_at FROM edge_run.queue_messages
            WHERE queue = \(queue) AND state = ANY(\(states)) ORDER BY id LIMIT \(limit)
            """,
            logger: logger
        )
        var out: [PeekedMessage] = []
        for try await (id, type, body, attempts, lastError, sentAt, dueAt) in rows.decode((Data, Int16, Data, Int32, String?, Int64, Int64).self) {
            guard let messageID = id.withUnsafeBytes({ MessageID(bytes: $0) }),
                let contentType = MessageContentType(storageCode: UInt8(truncatingIfNeeded: type))
            else { continue }
            out.append(
                PeekedMessage(
                    id: messageID.description,
                    sentMillis: sentAt,
                    body: MessageBody(data: body, contentType: contentType),
                    attempts: Int(attempts),
                    lastError: lastError,
                    dueMillis: dueAt
                )
            )
        }
        return out
    }

    public func redrive(from source: String, to target: String) async throws -> Int {
        _ = try config(source)
        _ = try config(target)
        try health.check()
        var moved = 0
        while true {
            let now = clock.nowMillis()
            let rows = try await client.query(
                """
                WITH taken AS (
                    SELECT ctid FROM edge_run.queue_messages
                    WHERE queue = \(source) AND (state = 2 OR (\(source != target) AND state = 0))
                    ORDER BY id LIMIT \(Self.chunk) FOR UPDATE SKIP LOCKED
                ), moved AS (
                    UPDATE edge_run.queue_messages m SET queue = \(target), state = 0, attempts_base = m.attempts,
                        enqueued_at = \(now), due_at = \(now), last_error = NULL, lease_until = NULL, lease_token = NULL
                    WHERE m.ctid = ANY(ARRAY(SELECT ctid FROM taken))
                    RETURNING 1
                )
                SELECT count(*) FROM moved
                """,
                logger: logger
            )
            var count = 0
            for try await n in rows.decode(Int64.self) { count = Int(n) }
            moved += count
            if count < Self.chunk { break }
        }
        if moved > 0 {
            logger.info("redrove messages", metadata: ["from": "\(source)", "to": "\(target)", "count": "\(moved)"])
            await announce(target)
        }
        return moved
    }

    public func makeConsumer(for queue: String, handler: @escaping QueueHandler) throws -> any Service {
        let config = try config(queue)
        let settings = config.consumer ?? ConsumerConfig()
        let deadLetterQueue = try settings.deadLetterQueue.map { name throws(QueueError) in try self.config(name).name }
        let fresh = consumersMade.withLock { $0.insert(queue).inserted }
        guard fresh else { throw QueueError(.invalidConfiguration, "queue \"\(queue)\" already has a consumer") }
        return PostgresQueueConsumer(broker: self, queue: config, settings: settings, deadLetterQueue: deadLetterQueue, handler: handler)
    }

    public func observeDeliveries(_ observer: any DeliveryObserver) { self.observer.withLock { $0 = observer } }

    var deliveryObserver: (any DeliveryObserver)? { observer.withLock { $0 } }
}
