import Foundation
import KVStore
import Logging
import NIOCore
import PostgresNIO

/// One KV namespace in PostgreSQL: the rows of `edge_run.kv` whose `binding` is this one.
///
/// Same semantics as ``LMDBKVStore`` on every node: keys are bytea (UTF-8 byte order), every read
/// filters `expires_at` against the node's clock, puts are one upsert with a version from the
/// store-wide sequence `edge_run.kv_version`, and `increment`/`compareAndSet` lock the row in a
/// short transaction (nothing else runs inside it). Limits and errors are ``KVLimits``'.
public final class PostgresKVStore: KVStore {
    public let binding: String
    public let limits: KVLimits
    let client: PostgresClient
    let health: PostgresHealth
    let clock: any WallClock
    let logger: Logger

    init(binding: String, limits: KVLimits, client: PostgresClient, health: PostgresHealth, clock: any WallClock, logger: Logger) {
        self.binding = binding
        self.limits = limits
        self.client = client
        self.health = health
        self.clock = clock
        self.logger = logger
    }

    // MARK: Reads

    public func getWithMetadata(_ key: String) async throws -> KVEntry? {
        try limits.validate(key: key)
        try health.check()
        let rows = try await client.query(
            """
            SELECT value, metadata, expires_at, version FROM edge_run.kv
            WHERE binding = \(binding) AND key = \(Self.bytes(key)) AND (expires_at IS NULL OR expires_at > \(clock.nowSeconds()))
            """, logger: logger)
        var found: KVEntry?
        for try await (value, metadata, expiration, version) in rows.decode((Data, Data?, Int64?, Int64).self) {
            found = KVEntry(value: value, metadata: metadata, expiration: expiration, version: UInt64(clamping: version))
        }
        return found
    }

    public func getMany(_ keys: [String]) async throws -> [KVEntry?] {
        guard (1...limits.maxBulkKeys).contains(keys.count) else {
            throw KVError(.tooManyKeys, "a bulk get takes 1 to \(limits.maxBulkKeys) keys, got \(keys.count)")
        }
        for key in keys { try limits.validate(key: key) }
        try health.check()
        let wanted = keys.map { ByteBuffer(string: $0) }
        // One statement: one snapshot.
        let rows = try await client.query(
            """
            SELECT key, value, metadata, expires_at, version FROM edge_run.kv
            WHERE binding = \(binding) AND key = ANY(\(wanted)) AND (expires_at IS NULL OR expires_at > \(clock.nowSeconds()))
            """, logger: logger)
        var byKey: [Data: KVEntry] = [:]
        for try await (key, value, metadata, expiration, version) in rows.decode((Data, Data, Data?, Int64?, Int64).self) {
            byKey[key] = KVEntry(value: value, metadata: metadata, expiration: expiration, version: UInt64(clamping: version))
        }
        return keys.map { byKey[Data($0.utf8)] }
    }

    public func list(_ options: KVListOptions) async throws -> KVListResult {
        try limits.validate(listLimit: options.limit)
        let prefix = Array((options.prefix ?? "").utf8)
        var start = prefix
        var after: [UInt8]?
        if let cursor = options.cursor, !cursor.isEmpty {
            guard let bytes = Base64URL.decode(cursor), !bytes.isEmpty else {
                throw KVError(.invalidCursor, "cursor is not one this store returned")
            }
            after = bytes
            if !bytes.lexicographicallyPrecedes(prefix) { start = bytes }
        }
        // Keys from `start` (exclusive of the cursor's key), below the prefix's successor.
        let end = Self.prefixSuccessor(prefix)
        let limit = options.limit
        try health.check()
        let rows = try await client.query(
            """
            SELECT key, expires_at, metadata FROM edge_run.kv
            WHERE binding = \(binding) AND key >= \(Data(start)) AND key <> \(Data(after ?? []))
              AND (\(end.map { Data($0) }) IS NULL OR key < \(end.map { Data($0) }))
              AND (expires_at IS NULL OR expires_at > \(clock.nowSeconds()))
            ORDER BY key LIMIT \(limit + 1)
            """, logger: logger)
        var keys: [KVListKey] = []
        var complete = true
        for try await (key, expiration, metadata) in rows.decode((Data, Int64?, Data?).self) {
            if keys.count == limit { complete = false; continue }
            keys.append(KVListKey(name: String(decoding: key, as: UTF8.self), expiration: expiration, metadata: metadata))
        }
        let cursor = complete ? nil : keys.last.map { Base64URL.encode(Array($0.name.utf8)) }
        return KVListResult(keys: keys, listComplete: complete, cursor: cursor)
    }

    // MARK: Writes

    public func put(_ key: String, value: Data, options: KVPutOptions) async throws {
        try limits.validate(key: key)
        try limits.validate(valueSize: value.count)
        try limits.validate(metadata: options.metadata)
        let expiration = try limits.expiration(for: options, now: clock.nowSeconds())
        try health.check()
        try await client.query(
            """
            INSERT INTO edge_run.kv (binding, key, value, metadata, expires_at, version)
            VALUES (\(binding), \(Self.bytes(key)), \(value), \(options.metadata), \(expiration), nextval('edge_run.kv_version'))
            ON CONFLICT (binding, key) DO UPDATE SET value = EXCLUDED.value, metadata = EXCLUDED.metadata,
                expires_at = EXCLUDED.expires_at, version = EXCLUDED.version
            """, logger: logger
        ).consume()
    }

    public func delete(_ key: String) async throws {
        try limits.validate(key: key)
        try health.check()
        try await client.query("DELETE FROM edge_run.kv WHERE binding = \(binding) AND key = \(Self.bytes(key))", logger: logger).consume()
    }

    public func increment(_ key: String, by delta: Int64, expirationTtl: Int64?) async throws -> Int64 {
        try limits.validate(key: key)
        if let expirationTtl { try limits.validate(ttl: expirationTtl) }
        let name = key
        return try await withLockedRow(key) { connection, current, now in
            var base: Int64 = 0
            var expiration = expirationTtl.map { CheckedInteger.saturatingAdd(now, $0) }
            var metadata: Data?
            if let current {
                guard let parsed = Int64(String(decoding: current.value, as: UTF8.self)) else {
                    throw KVError(.notAnInteger, "value of \"\(name)\" is not an integer")
                }
                base = parsed
                expiration = current.expiration
                metadata = current.metadata
            }
            let (sum, overflow) = base.addingReportingOverflow(delta)
            if overflow { throw KVError(.overflow, "incrementing \"\(name)\" by \(delta) overflows") }
            _ = try await self.write(connection, key, value: Data(String(sum).utf8), metadata: metadata, expiration: expiration)
            return sum
        }
    }

    public func compareAndSet(
        _ key: String, value: Data, expectedVersion: UInt64?, options: KVPutOptions
    ) async throws -> KVCompareAndSetResult {
        try limits.validate(key: key)
        try limits.validate(valueSize: value.count)
        try limits.validate(metadata: options.metadata)
        let expiration = try limits.expiration(for: options, now: clock.nowSeconds())
        return try await withLockedRow(key) { connection, current, _ in
            guard current?.version == expectedVersion else { return .conflict(currentVersion: current?.version) }
            return .stored(version: try await self.write(connection, key, value: value, metadata: options.metadata, expiration: expiration))
        }
    }

    /// Runs `body` in a transaction holding the row of `key` locked, with its live entry (`nil`
    /// when absent or expired). An absent key is first inserted as an expired placeholder so
    /// that two writers of a new key serialise on its row too; `body` always writes the row or
    /// leaves it (a placeholder is invisible: it is expired).
    private func withLockedRow<T: Sendable>(
        _ key: String, _ body: @escaping @Sendable (PostgresConnection, KVEntry?, Int64) async throws -> T
    ) async throws -> T {
        let k = Self.bytes(key)
        let binding = self.binding
        let logger = self.logger
        let now = clock.nowSeconds()
        try health.check()
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO edge_run.kv (binding, key, value, metadata, expires_at, version)
                VALUES (\(binding), \(k), ''::bytea, NULL, \(Int64.min), 0) ON CONFLICT (binding, key) DO NOTHING
                """, logger: logger
            ).consume()
            var current: KVEntry?
            let rows = try await connection.query(
                "SELECT value, metadata, expires_at, version FROM edge_run.kv WHERE binding = \(binding) AND key = \(k) FOR UPDATE",
                logger: logger)
            for try await (value, metadata, expiration, version) in rows.decode((Data, Data?, Int64?, Int64).self)
            where expiration.map({ $0 > now }) ?? true {
                current = KVEntry(value: value, metadata: metadata, expiration: expiration, version: UInt64(clamping: version))
            }
            return try await body(connection, current, now)
        }
    }

    /// Overwrites the (locked) row of `key`; returns its new version.
    private func write(_ connection: PostgresConnection, _ key: String, value: Data, metadata: Data?, expiration: Int64?) async throws -> UInt64 {
        let rows = try await connection.query(
            """
            UPDATE edge_run.kv SET value = \(value), metadata = \(metadata), expires_at = \(expiration), version = nextval('edge_run.kv_version')
            WHERE binding = \(binding) AND key = \(Self.bytes(key)) RETURNING version
            """, logger: logger)
        var version: Int64 = 0
        for try await v in rows.decode(Int64.self) { version = v }
        return UInt64(clamping: version)
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
            let rows = try await client.query(
                """
                DELETE FROM edge_run.kv WHERE (binding, key) IN (
                    SELECT binding, key FROM edge_run.kv WHERE expires_at <= \(now) AND binding = \(binding)
                    ORDER BY expires_at LIMIT \(batch) FOR UPDATE SKIP LOCKED)
                RETURNING 1
                """, logger: logger)
            var n = 0
            for try await _ in rows { n += 1 }
            total += n
            if n < batch { return total }
        }
    }

    /// Rows stored for this binding, expired ones not yet swept included (tests).
    public func storedCount() async throws -> Int {
        var count = 0
        for try await n in try await client.query("SELECT count(*) FROM edge_run.kv WHERE binding = \(binding)", logger: logger).decode(Int.self) {
            count = n
        }
        return count
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
}
