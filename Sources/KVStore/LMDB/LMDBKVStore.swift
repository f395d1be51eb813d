import CLMDB
import EdgeCore
import Foundation
import LMDBStorage

/// A KV namespace stored in an ``LMDBEnvironment`` (one set of named databases per binding).
public final class LMDBKVStore: KVStore {
    public let binding: String
    public let limits: KVLimits
    let environment: LMDBEnvironment
    let space: KVKeySpace
    let meta: LMDBDatabase
    let clock: any WallClock

    /// Opens (creating when needed) the namespace `binding` in `environment`.
    public static func open(
        environment: LMDBEnvironment,
        binding: String,
        limits: KVLimits = KVLimits(),
        clock: any WallClock = SystemWallClock()
    ) async throws -> LMDBKVStore {
        let space = KVKeySpace(
            main: try await environment.database("kv/\(binding)/main"),
            long: try await environment.database("kv/\(binding)/long"),
            expiry: try await environment.database("kv/\(binding)/expiry")
        )
        let meta = try await environment.database("meta")
        return LMDBKVStore(binding: binding, limits: limits, environment: environment, space: space, meta: meta, clock: clock)
    }

    private init(binding: String, limits: KVLimits, environment: LMDBEnvironment, space: KVKeySpace, meta: LMDBDatabase, clock: any WallClock) {
        self.binding = binding
        self.limits = limits
        self.environment = environment
        self.space = space
        self.meta = meta
        self.clock = clock
    }

    // MARK: Reads

    public func get(_ key: String) async throws -> Data? {
        try limits.validate(key: key)
        var key = key
        return try key.withUTF8 { k in
            try environment.read { txn in
                guard let raw = try space.record(txn, key: UnsafeRawBufferPointer(k)), let view = KVRecordView(raw) else { return nil }
                // Only a key with an expiration needs the clock.
                if view.expiration != nil, !view.isLive(at: clock.nowSeconds()) { return nil }
                return Data(view.value)
            }
        }
    }

    public func getWithMetadata(_ key: String) async throws -> KVEntry? {
        try limits.validate(key: key)
        let now = clock.nowSeconds()
        var key = key
        return try key.withUTF8 { k in
            try environment.read { txn in try entry(txn, key: UnsafeRawBufferPointer(k), now: now) }
        }
    }

    public func getMany(_ keys: [String]) async throws -> [KVEntry?] {
        guard (1...limits.maxBulkKeys).contains(keys.count) else {
            throw KVError(.tooManyKeys, "a bulk get takes 1 to \(limits.maxBulkKeys) keys, got \(keys.count)")
        }
        for key in keys { try limits.validate(key: key) }
        let now = clock.nowSeconds()
        return try environment.read { txn in
            try keys.map { key in
                var key = key
                return try key.withUTF8 { try entry(txn, key: UnsafeRawBufferPointer($0), now: now) }
            }
        }
    }

    private func entry(_ txn: LMDBTransaction, key: UnsafeRawBufferPointer, now: Int64) throws -> KVEntry? {
        guard let raw = try space.record(txn, key: key), let view = KVRecordView(raw), view.isLive(at: now) else {
            return nil
        }
        return KVEntry(
            value: Data(view.value),
            metadata: view.metadata.isEmpty ? nil : Data(view.metadata),
            expiration: view.expiration,
            version: view.version
        )
    }

    public func list(_ options: KVListOptions) async throws -> KVListResult {
        try limits.validate(listLimit: options.limit)
        let prefix = Array((options.prefix ?? "").utf8)
        var after: [UInt8]?
        if let cursor = options.cursor, !cursor.isEmpty {
            guard let bytes = Base64.decodeURL(cursor), !bytes.isEmpty else {
                throw KVError(.invalidCursor, "cursor is not one this store returned")
            }
            after = bytes
        }
        var start = prefix
        if let after, !after.lexicographicallyPrecedes(prefix) { start = after }
        let now = clock.nowSeconds()
        let limit = options.limit
        return try environment.read { txn in
            var keys: [KVListKey] = []
            var complete = true
            try space.forEach(txn, from: start) { key, raw in
                if !key.starts(with: prefix) { return false }
                if let after, key.elementsEqual(after) { return true }
                guard let view = KVRecordView(raw), view.isLive(at: now) else { return true }
                if keys.count == limit {
                    complete = false
                    return false
                }
                keys.append(
                    KVListKey(
                        name: String(decoding: key, as: UTF8.self),
                        expiration: view.expiration,
                        metadata: view.metadata.isEmpty ? nil : Data(view.metadata)
                    )
                )
                return true
            }
            let cursor = complete ? nil : keys.last.map { Base64.encodeURL(Array($0.name.utf8)) }
            return KVListResult(keys: keys, listComplete: complete, cursor: cursor)
        }
    }

    // MARK: Writes

    public func put(_ key: String, value: Data, options: KVPutOptions) async throws {
        try limits.validate(key: key)
        try limits.validate(valueSize: value.count)
        try limits.validate(metadata: options.metadata)
        let expiration = try limits.expiration(for: options, now: clock.nowSeconds())
        let metadata = options.metadata ?? Data()
        try await environment.write { [space, meta] txn in
            var key = key
            _ = try key.withUTF8 { k in
                try value.withUnsafeBytes { v in
                    try metadata.withUnsafeBytes { m in
                        try Self.replace(txn, space: space, meta: meta, key: UnsafeRawBufferPointer(k), expiration: expiration, metadata: m, value: v)
                    }
                }
            }
        }
    }

    public func delete(_ key: String) async throws {
        try limits.validate(key: key)
        try await environment.write { [space] txn in
            var key = key
            try key.withUTF8 { k in try Self.remove(txn, space: space, key: UnsafeRawBufferPointer(k)) }
        }
    }

    public func increment(_ key: String, by delta: Int64, expirationTtl: Int64?) async throws -> Int64 {
        try limits.validate(key: key)
        if let expirationTtl { try limits.validate(ttl: expirationTtl) }
        return try await environment.write { [space, meta, clock] txn in
            let name = key
            var key = key
            return try key.withUTF8 { kp in
                let k = UnsafeRawBufferPointer(kp)
                let now = clock.nowSeconds()
                var current: Int64 = 0
                var expiration = expirationTtl.map { CheckedInteger.saturatingAdd(now, $0) }
                var metadata: [UInt8] = []
                if let raw = try space.record(txn, key: k), let view = KVRecordView(raw), view.isLive(at: now) {
                    guard let parsed = Int64(String(decoding: view.value, as: UTF8.self)) else {
                        throw KVError(.notAnInteger, "value of \"\(name)\" is not an integer")
                    }
                    current = parsed
                    expiration = view.expiration
                    metadata = Array(view.metadata)
                }
                let (sum, overflow) = current.addingReportingOverflow(delta)
                if overflow { throw KVError(.overflow, "incrementing \"\(name)\" by \(delta) overflows") }
                let text = Array(String(sum).utf8)
                _ = try text.withUnsafeBytes { v in
                    try metadata.withUnsafeBytes { m in
                        try Self.replace(txn, space: space, meta: meta, key: k, expiration: expiration, metadata: m, value: v)
                    }
                }
                return sum
            }
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
        let expiration = try limits.expiration(for: options, now: clock.nowSeconds())
        let metadata = options.metadata ?? Data()
        return try await environment.write { [space, meta, clock] txn in
            var key = key
            return try key.withUTF8 { kp in
                let k = UnsafeRawBufferPointer(kp)
                var currentVersion: UInt64?
                if let raw = try space.record(txn, key: k), let view = KVRecordView(raw), view.isLive(at: clock.nowSeconds()) {
                    currentVersion = view.version
                }
                guard currentVersion == expectedVersion else { return .conflict(currentVersion: currentVersion) }
                let version = try value.withUnsafeBytes { v in
                    try metadata.withUnsafeBytes { m in
                        try Self.replace(txn, space: space, meta: meta, key: k, expiration: expiration, metadata: m, value: v)
                    }
                }
                return .stored(version: version)
            }
        }
    }

    /// The most expired keys one sweep transaction removes, so the writer's other work never
    /// waits long behind a sweep.
    public static let maxSweepBatch = 1000

    /// Removes expired keys (with their index entries), walking the expiry-ordered index in
    /// transactions of at most `batch` (≤ ``maxSweepBatch``) keys.
    /// - Returns: how many expired entries were reclaimed.
    @discardableResult
    public func sweepExpired(batch: Int = LMDBKVStore.maxSweepBatch) async throws -> Int {
        let batch = min(max(batch, 1), Self.maxSweepBatch)
        var total = 0
        while true {
            let (swept, more) = try await environment.write { [space, clock] txn in
                try space.sweep(txn, now: clock.nowSeconds(), limit: batch)
            }
            total += swept
            if !more { return total }
        }
    }

    /// Number of records stored, expired ones not yet swept included (tests and stats).
    public func storedCount() throws -> Int {
        try environment.read { txn in try txn.count(space.main) + txn.count(space.long) }
    }

    // MARK: Record updates (inside the writer's transaction)

    static let versionKey = Array("kv.version".utf8)

    static func nextVersion(_ txn: LMDBTransaction, meta: LMDBDatabase) throws -> UInt64 {
        var current: UInt64 = 0
        if let raw = try txn.getBytes(meta, key: versionKey), raw.count == 8 {
            current = raw.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian }
        }
        let next = current + 1
        try withUnsafeBytes(of: next.littleEndian) { v in
            try versionKey.withUnsafeBytes { k in try txn.put(meta, key: k, value: v) }
        }
        return next
    }

    @discardableResult
    static func replace(
        _ txn: LMDBTransaction,
        space: KVKeySpace,
        meta: LMDBDatabase,
        key: UnsafeRawBufferPointer,
        expiration: Int64?,
        metadata: UnsafeRawBufferPointer,
        value: UnsafeRawBufferPointer
    ) throws -> UInt64 {
        if let raw = try space.record(txn, key: key), let old = KVRecordView(raw), let oldExpiration = old.expiration {
            try space.unindexExpiry(txn, key: key, expiration: oldExpiration)
        }
        let version = try nextVersion(txn, meta: meta)
        try space.store(txn, key: key, version: version, expiration: expiration, metadata: metadata, value: value)
        if let expiration { try space.indexExpiry(txn, key: key, expiration: expiration) }
        return version
    }

    static func remove(_ txn: LMDBTransaction, space: KVKeySpace, key: UnsafeRawBufferPointer) throws {
        guard let raw = try space.record(txn, key: key) else { return }
        if let old = KVRecordView(raw), let oldExpiration = old.expiration {
            try space.unindexExpiry(txn, key: key, expiration: oldExpiration)
        }
        try space.remove(txn, key: key)
    }
}
