import EdgeCore
import Foundation
import KVStore
import Logging
import NIOCore
import PostgresNIO

/// One KV namespace in PostgreSQL: the rows of `edge_run.kv` whose `binding` is this one.
///
/// Same semantics as ``LMDBKVStore`` on every node: keys are bytea (UTF-8 byte order), every read
/// filters `expires_at` against the node's clock, and every write is one statement (no explicit
/// transaction, so no lock is held across a round trip): put is an `INSERT … ON CONFLICT`,
/// `increment` an upsert whose arithmetic runs in the server, `compareAndSet` an update guarded
/// by the version, all taking versions from the store-wide sequence `edge_run.kv_version`.
/// Limits and errors are ``KVLimits``'; PostgreSQL's errors come out through ``PostgresErrors``.
public final class PostgresKVStore: KVStore {
    public let binding: String
    public let limits: KVLimits
    let url: PostgresURL
    let client: PostgresClient
    let health: PostgresHealth
    let clock: any WallClock
    let logger: Logger

    init(binding: String, limits: KVLimits, url: PostgresURL, client: PostgresClient, health: PostgresHealth, clock: any WallClock, logger: Logger) {
        self.binding = binding
        self.url = url
        self.limits = limits
        self.client = client
        self.health = health
        self.clock = clock
        self.logger = logger
    }

    /// Runs `body` against the server: at once ``StorageUnavailableError`` while the health
    /// watch sees the server down, and PostgreSQL's errors made readable.
    private func storage<T>(_ body: () async throws -> T) async throws -> T {
        try health.check()
        do {
            return try await body()
        } catch {
            throw PostgresErrors.map(error, url: url)
        }
    }

    // MARK: Reads

    public func getWithMetadata(_ key: String) async throws -> KVEntry? {
        try limits.validate(key: key)
        let now = clock.nowSeconds()
        return try await storage {
            var found: KVEntry?
            for try await (value, metadata, expiration, version) in try await client.execute(
                GetStatement(binding: binding, key: Self.bytes(key), now: now),
                logger: logger
            ) {
                found = KVEntry(value: value, metadata: metadata, expiration: expiration, version: UInt64(clamping: version))
            }
            return found
        }
    }

    public func getMany(_ keys: [String]) async throws -> [KVEntry?] {
        guard (1...limits.maxBulkKeys).contains(keys.count) else {
            throw KVError(.tooManyKeys, "a bulk get takes 1 to \(limits.maxBulkKeys) keys, got \(keys.count)")
        }
        for key in keys { try limits.validate(key: key) }
        let wanted = keys.map { ByteBuffer(string: $0) }
        let now = clock.nowSeconds()
        // One statement: one snapshot.
        let byKey = try await storage {
            let rows = try await client.query(
                """
                SELECT key, value, metadata, expires_at, version FROM edge_run.kv
                WHERE binding = \(binding) AND key = ANY(\(wanted)) AND (expires_at IS NULL OR expires_at > \(now))
                """,
                logger: logger
            )
            var byKey: [Data: KVEntry] = [:]
            for try await (key, value, metadata, expiration, version) in rows.decode((Data, Data, Data?, Int64?, Int64).self) {
                byKey[key] = KVEntry(value: value, metadata: metadata, expiration: expiration, version: UInt64(clamping: version))
            }
            return byKey
        }
        return keys.map { byKey[Self.bytes($0)] }
    }

    public func list(_ options: KVListOptions) async throws -> KVListResult {
        try limits.validate(listLimit: options.limit)
        let prefix = Array((options.prefix ?? "").utf8)
        // Keys after the cursor's key (or from the prefix), below the prefix's successor.
        var after: [UInt8]?
        if let cursor = options.cursor, !cursor.isEmpty {
            guard let bytes = Base64.decodeURL(cursor), !bytes.isEmpty else {
                throw KVError(.invalidCursor, "cursor is not one this store returned")
            }
            if !bytes.lexicographicallyPrecedes(prefix) { after = bytes }
        }
        let limit = options.limit
        var binds = PostgresBindings()
        binds.append(binding)
        binds.append(clock.nowSeconds())
        try binds.append(Data(after ?? prefix))
        var sql = """
            SELECT key, expires_at, metadata FROM edge_run.kv
            WHERE binding = $1 AND (expires_at IS NULL OR expires_at > $2) AND key \(after == nil ? ">=" : ">") $3
            """
        if let end = Self.prefixSuccessor(prefix) {
            try binds.append(Data(end))
            sql += " AND key < $4"
        }
        // One more than the page: whether the listing is complete.
        let query = PostgresQuery(unsafeSQL: sql + " ORDER BY key LIMIT \(limit + 1)", binds: binds)
        let (keys, complete) = try await storage {
            var keys: [KVListKey] = []
            var complete = true
            for try await (key, expiration, metadata) in try await client.query(query, logger: logger).decode((Data, Int64?, Data?).self) {
                if keys.count == limit {
                    complete = false
                    continue
                }
                keys.append(KVListKey(name: String(decoding: key, as: UTF8.self), expiration: expiration, metadata: metadata))
            }
            return (keys, complete)
        }
        let cursor = complete ? nil : keys.last.map { Base64.encodeURL(Array($0.name.utf8)) }
        return KVListResult(keys: keys, listComplete: complete, cursor: cursor)
    }

    // MARK: Writes

    public func put(_ key: String, value: Data, options: KVPutOptions) async throws {
        try limits.validate(key: key)
        try limits.validate(valueSize: value.count)
        try limits.validate(metadata: options.metadata)
        let expiration = try limits.expiration(for: options, now: clock.nowSeconds())
        try await storage {
            for try await _ in try await client.execute(
                PutStatement(binding: binding, key: Self.bytes(key), value: value, metadata: options.metadata, expiration: expiration),
                logger: logger
            ) {}
        }
    }

    public func delete(_ key: String) async throws {
        try limits.validate(key: key)
        try await storage {
            try await client.query("DELETE FROM edge_run.kv WHERE binding = \(binding) AND key = \(Self.bytes(key))", logger: logger).consume()
        }
    }

    public func increment(_ key: String, by delta: Int64, expirationTtl: Int64?) async throws -> Int64 {
        try limits.validate(key: key)
        if let expirationTtl { try limits.validate(ttl: expirationTtl) }
        for _ in 0..<Self.maxAttempts {
            if let sum = try await tryIncrement(key, by: delta, expirationTtl: expirationTtl) { return sum }
            // Refused: say why, from the value as it is now.
            if let current = try await getWithMetadata(key) {
                guard let parsed = Int64(String(decoding: current.value, as: UTF8.self)) else {
                    throw KVError(.notAnInteger, "value of \"\(key)\" is not an integer")
                }
                if parsed.addingReportingOverflow(delta).overflow {
                    throw KVError(.overflow, "incrementing \"\(key)\" by \(delta) overflows")
                }
            }
            // Changed in between (deleted, expired or rewritten): again, on the new value.
        }
        throw StorageUnavailableError("\(url.host):\(url.port): key \"\(key)\" changed under every attempt to increment it")
    }

    /// How often `increment`/`compareAndSet` try again when the key changed between their
    /// write and the read that explains a refusal.
    static let maxAttempts = 8

    /// One upsert: the new value, or `nil` when the live value is not a decimal Int64 (what
    /// Swift's `Int64(_:)` accepts: an optional sign and digits) or the sum is out of range;
    /// the row is then left as it was.
    private func tryIncrement(_ key: String, by delta: Int64, expirationTtl: Int64?) async throws -> Int64? {
        let now = clock.nowSeconds()
        let expiration = expirationTtl.map { CheckedInteger.saturatingAdd(now, $0) }
        // Integers made here, never the caller's text, are spliced into the SQL.
        let live = "(kv.expires_at IS NULL OR kv.expires_at > \(now))"
        let base = """
            (CASE WHEN length(kv.value) <= 1000 AND encode(kv.value, 'escape') ~ '^[+-]?[0-9]+$' \
            THEN encode(kv.value, 'escape')::numeric END)
            """
        let sum = "(\(base) + \(delta))"
        let query: PostgresQuery = try """
        INSERT INTO edge_run.kv AS kv (binding, key, value, metadata, expires_at, version)
        VALUES (\(binding), \(Self.bytes(key)), convert_to(\(String(delta)), 'UTF8'), NULL, \(expiration), nextval('edge_run.kv_version'))
        ON CONFLICT (binding, key) DO UPDATE SET
            value = CASE WHEN \(unescaped: live) THEN convert_to(\(unescaped: sum)::bigint::text, 'UTF8') ELSE EXCLUDED.value END,
            metadata = CASE WHEN \(unescaped: live) THEN kv.metadata END,
            expires_at = CASE WHEN \(unescaped: live) THEN kv.expires_at ELSE EXCLUDED.expires_at END,
            version = EXCLUDED.version
        WHERE NOT \(unescaped: live) OR coalesce(\(unescaped: sum) BETWEEN \(unescaped: "\(Int64.min)") AND \(unescaped: "\(Int64.max)"), false)
        RETURNING convert_from(kv.value, 'UTF8')::bigint
        """
        return try await storage {
            var result: Int64?
            for try await value in try await client.query(query, logger: logger).decode(Int64.self) { result = value }
            return result
        }
    }

    public func compareAndSet(
        _ key: String,
        value: Data,
        expectedVersion: UInt64?,
        options: KVPutOptions
    ) async throws -> KVCompareAndSetResult {
        try limits.validate(key: key)
        try limits.validate(valueSize: value.count)
        try limits.validate(metadata: options.metadata)
        var current: UInt64?
        for _ in 0..<Self.maxAttempts {
            if let stored = try await tryCompareAndSet(key, value: value, expectedVersion: expectedVersion, options: options) {
                return .stored(version: stored)
            }
            current = try await version(of: key)
            // The version matches after all (the key was deleted or expired between the two
            // statements): a fresh attempt, not a false conflict.
            if current != expectedVersion { break }
        }
        return .conflict(currentVersion: current)
    }

    /// One guarded write: the new version, or `nil` when the live entry's version is not
    /// `expectedVersion` (`nil`: when a live entry exists).
    private func tryCompareAndSet(_ key: String, value: Data, expectedVersion: UInt64?, options: KVPutOptions) async throws -> UInt64? {
        let now = clock.nowSeconds()
        let expiration = try limits.expiration(for: options, now: now)
        let k = Self.bytes(key)
        let query: PostgresQuery
        if let expectedVersion {
            guard let expected = Int64(exactly: expectedVersion) else { return nil }
            query = try """
            UPDATE edge_run.kv SET value = \(value), metadata = \(options.metadata), expires_at = \(expiration),
                version = nextval('edge_run.kv_version')
            WHERE binding = \(binding) AND key = \(k) AND version = \(expected) AND (expires_at IS NULL OR expires_at > \(now))
            RETURNING version
            """
        } else {
            // Only when absent, or present but expired.
            query = try """
            INSERT INTO edge_run.kv AS kv (binding, key, value, metadata, expires_at, version)
            VALUES (\(binding), \(k), \(value), \(options.metadata), \(expiration), nextval('edge_run.kv_version'))
            ON CONFLICT (binding, key) DO UPDATE SET value = EXCLUDED.value, metadata = EXCLUDED.metadata,
                expires_at = EXCLUDED.expires_at, version = EXCLUDED.version
            WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= \(now)
            RETURNING version
            """
        }
        return try await storage {
            var stored: UInt64?
            for try await version in try await client.query(query, logger: logger).decode(Int64.self) { stored = UInt64(clamping: version) }
            return stored
        }
    }

    /// The version of the live entry of `key` (`nil`: absent or expired).
    private func version(of key: String) async throws -> UInt64? {
        try await getWithMetadata(key)?.version
    }

    // MARK: Expiry

    /// The most expired rows one sweep statement deletes.
    public static let maxSweepBatch = 1000

    /// Deletes expired rows of this namespace through the expiry index, in statements of at most
    /// `batch` rows.
    /// - Returns: how many were deleted.
    @discardableResult
    public func sweepExpired(batch: Int = PostgresKVStore.maxSweepBatch) async throws -> Int {
        let batch = min(max(batch, 1), Self.maxSweepBatch)
        var total = 0
        while true {
            let now = clock.nowSeconds()
            let n = try await storage {
                let rows = try await client.query(
                    """
                    DELETE FROM edge_run.kv WHERE (binding, key) IN (
                        SELECT binding, key FROM edge_run.kv WHERE expires_at <= \(now) AND binding = \(binding)
                        ORDER BY expires_at LIMIT \(batch) FOR UPDATE SKIP LOCKED)
                    RETURNING 1
                    """,
                    logger: logger
                )
                var n = 0
                for try await _ in rows { n += 1 }
                return n
            }
            total += n
            if n < batch { return total }
        }
    }

    /// Rows stored for this binding, expired ones not yet swept included (tests).
    public func storedCount() async throws -> Int {
        try await storage {
            var count = 0
            for try await n in try await client.query("SELECT count(*) FROM edge_run.kv WHERE binding = \(binding)", logger: logger).decode(Int.self)
            {
                count = n
            }
            return count
        }
    }

    static func bytes(_ key: String) -> Data { Data(key.utf8) }

    /// The smallest byte string greater than every string starting with `prefix` (`nil`: none,
    /// for an empty prefix or one of only 0xFF bytes).
    static func prefixSuccessor(_ prefix: [UInt8]) -> [UInt8]? {
        var bytes = prefix
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return nil
    }

    // MARK: Prepared statements
    //
    // The hot reads and writes are prepared once per pooled connection: each call then sends
    // only Bind and Execute, and the server skips parsing and planning.

    /// ``getWithMetadata(_:)``: the live entry of one key.
    struct GetStatement: PostgresPreparedStatement {
        static let name = "edge_run_kv_get"
        static let sql = """
            SELECT value, metadata, expires_at, version FROM edge_run.kv
            WHERE binding = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)
            """
        typealias Row = (Data, Data?, Int64?, Int64)
        let binding: String
        let key: Data
        let now: Int64

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(binding)
            try bindings.append(key)
            bindings.append(now)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// ``put(_:value:options:)``: insert or overwrite, with a fresh store-wide version.
    struct PutStatement: PostgresPreparedStatement {
        static let name = "edge_run_kv_put"
        static let sql = """
            INSERT INTO edge_run.kv AS kv (binding, key, value, metadata, expires_at, version)
            VALUES ($1, $2, $3, $4, $5, nextval('edge_run.kv_version'))
            ON CONFLICT (binding, key) DO UPDATE SET value = EXCLUDED.value, metadata = EXCLUDED.metadata,
                expires_at = EXCLUDED.expires_at, version = EXCLUDED.version
            """
        typealias Row = Void
        let binding: String
        let key: Data
        let value: Data
        let metadata: Data?
        let expiration: Int64?

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 5)
            bindings.append(binding)
            try bindings.append(key)
            try bindings.append(value)
            try bindings.append(metadata)
            bindings.append(expiration)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {}
    }
}
