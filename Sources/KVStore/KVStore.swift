import Foundation

/// One KV namespace (a binding such as `KV`): the backend-neutral API every handler uses.
///
/// Semantics mirror Workers KV, with strong consistency and two additions (`increment` and
/// `compareAndSet`). Keys are 1–512 UTF-8 bytes and not `.` or `..`; values ≤ 25 MiB; metadata
/// is JSON of ≤ 1024 bytes; expirations are absolute unix seconds. An expired key is never
/// returned. A write is durable when the call returns.
public protocol KVStore: Sendable {
    /// The binding name this namespace is declared under.
    var binding: String { get }

    /// The raw bytes of `key`, or `nil` when it is absent or expired.
    func get(_ key: String) async throws -> Data?

    /// The value and metadata of `key`, or `nil` when it is absent or expired.
    func getWithMetadata(_ key: String) async throws -> KVEntry?

    /// The entries of up to 100 keys read from one snapshot, in the order of `keys`
    /// (`nil` for an absent or expired key).
    func getMany(_ keys: [String]) async throws -> [KVEntry?]

    /// Stores `value` under `key`.
    /// - Throws: ``KVError`` for a bad key, value, expiration or metadata.
    func put(_ key: String, value: Data, options: KVPutOptions) async throws

    /// Deletes `key`; a no-op when it is absent.
    func delete(_ key: String) async throws

    /// Lists keys in UTF-8 byte order.
    func list(_ options: KVListOptions) async throws -> KVListResult

    /// Atomically adds `by` to the integer stored (as decimal text) under `key`, creating it at
    /// `by` when absent or expired. `expirationTtl` applies when the key is created; an existing
    /// key keeps its expiration and metadata.
    /// - Returns: the new value.
    /// - Throws: ``KVError`` when the stored value is not an integer or the sum overflows.
    func increment(_ key: String, by: Int64, expirationTtl: Int64?) async throws -> Int64

    /// Stores `value` only if the key's current version is `expectedVersion` (`nil`: only if
    /// the key is absent or expired).
    func compareAndSet(
        _ key: String,
        value: Data,
        expectedVersion: UInt64?,
        options: KVPutOptions
    ) async throws -> KVCompareAndSetResult
}

extension KVStore {
    /// Default: the value part of ``getWithMetadata(_:)``.
    public func get(_ key: String) async throws -> Data? {
        try await getWithMetadata(key)?.value
    }

    /// The value of `key` decoded as UTF-8 text, or `nil`.
    public func getText(_ key: String) async throws -> String? {
        guard let data = try await get(key) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// The value of `key` decoded from JSON, or `nil`.
    public func getJSON<T: Decodable>(_ key: String, as type: T.Type = T.self) async throws -> T? {
        guard let data = try await get(key) else { return nil }
        return try JSONDecoder().decode(T.self, from: data)
    }

    /// Stores UTF-8 text.
    public func put(_ key: String, text: String, options: KVPutOptions = KVPutOptions()) async throws {
        try await put(key, value: Data(text.utf8), options: options)
    }

    /// Stores a value encoded as JSON.
    public func putJSON<T: Encodable>(_ key: String, _ value: T, options: KVPutOptions = KVPutOptions()) async throws {
        try await put(key, value: try JSONEncoder().encode(value), options: options)
    }

    public func put(_ key: String, value: Data) async throws {
        try await put(key, value: value, options: KVPutOptions())
    }

    public func list(prefix: String? = nil, limit: Int = 1000, cursor: String? = nil) async throws -> KVListResult {
        try await list(KVListOptions(prefix: prefix, limit: limit, cursor: cursor))
    }
}

/// A stored value with what is known about it.
public struct KVEntry: Sendable, Equatable {
    public var value: Data
    /// The metadata as JSON text, when set.
    public var metadata: Data?
    /// Absolute expiration in unix seconds, when set.
    public var expiration: Int64?
    /// Changes on every write of the key (for ``KVStore/compareAndSet(_:value:expectedVersion:options:)``).
    public var version: UInt64

    public init(value: Data, metadata: Data?, expiration: Int64?, version: UInt64) {
        self.value = value
        self.metadata = metadata
        self.expiration = expiration
        self.version = version
    }
}

/// Options of a put: at most one of `expiration` / `expirationTtl`, and optional metadata.
public struct KVPutOptions: Sendable, Equatable {
    /// Absolute expiration, unix seconds; at least the minimum TTL in the future.
    public var expiration: Int64?
    /// Seconds from now; at least the minimum TTL.
    public var expirationTtl: Int64?
    /// JSON text of at most 1024 bytes; `nil` clears metadata.
    public var metadata: Data?

    public init(expiration: Int64? = nil, expirationTtl: Int64? = nil, metadata: Data? = nil) {
        self.expiration = expiration
        self.expirationTtl = expirationTtl
        self.metadata = metadata
    }
}

/// What to list: keys starting with `prefix`, at most `limit` (1…1000), after `cursor`.
public struct KVListOptions: Sendable, Equatable {
    public var prefix: String?
    public var limit: Int
    public var cursor: String?

    public init(prefix: String? = nil, limit: Int = 1000, cursor: String? = nil) {
        self.prefix = prefix
        self.limit = limit
        self.cursor = cursor
    }
}

/// One listed key.
public struct KVListKey: Sendable, Equatable, Codable {
    public var name: String
    public var expiration: Int64?
    /// Metadata JSON text, when set.
    public var metadata: Data?

    public init(name: String, expiration: Int64? = nil, metadata: Data? = nil) {
        self.name = name
        self.expiration = expiration
        self.metadata = metadata
    }
}

/// A page of keys; `cursor` is set exactly when `listComplete` is false.
public struct KVListResult: Sendable, Equatable {
    public var keys: [KVListKey]
    public var listComplete: Bool
    public var cursor: String?

    public init(keys: [KVListKey], listComplete: Bool, cursor: String?) {
        self.keys = keys
        self.listComplete = listComplete
        self.cursor = cursor
    }
}

/// The outcome of a compare-and-set.
public enum KVCompareAndSetResult: Sendable, Equatable {
    /// Stored; the key's new version.
    case stored(version: UInt64)
    /// Not stored: the key's current version (`nil` when absent) differs from the expected one.
    case conflict(currentVersion: UInt64?)
}
