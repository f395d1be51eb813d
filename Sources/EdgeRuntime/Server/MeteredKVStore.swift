import Foundation
import KVStore

/// A KV namespace that counts its operations in the runtime's metrics.
struct MeteredKVStore: KVStore {
    let base: any KVStore
    let metrics: EdgeMetrics

    var binding: String { base.binding }

    func get(_ key: String) async throws -> Data? {
        metrics.recordKV(binding: binding, operation: "get")
        return try await base.get(key)
    }
    func getWithMetadata(_ key: String) async throws -> KVEntry? {
        metrics.recordKV(binding: binding, operation: "get")
        return try await base.getWithMetadata(key)
    }
    func getMany(_ keys: [String]) async throws -> [KVEntry?] {
        metrics.recordKV(binding: binding, operation: "get_many")
        return try await base.getMany(keys)
    }
    func put(_ key: String, value: Data, options: KVPutOptions) async throws {
        metrics.recordKV(binding: binding, operation: "put")
        try await base.put(key, value: value, options: options)
    }
    func delete(_ key: String) async throws {
        metrics.recordKV(binding: binding, operation: "delete")
        try await base.delete(key)
    }
    func list(_ options: KVListOptions) async throws -> KVListResult {
        metrics.recordKV(binding: binding, operation: "list")
        return try await base.list(options)
    }
    func increment(_ key: String, by: Int64, expirationTtl: Int64?) async throws -> Int64 {
        metrics.recordKV(binding: binding, operation: "increment")
        return try await base.increment(key, by: by, expirationTtl: expirationTtl)
    }
    func compareAndSet(_ key: String, value: Data, expectedVersion: UInt64?, options: KVPutOptions) async throws -> KVCompareAndSetResult {
        metrics.recordKV(binding: binding, operation: "compare_and_set")
        return try await base.compareAndSet(key, value: value, expectedVersion: expectedVersion, options: options)
    }
}
