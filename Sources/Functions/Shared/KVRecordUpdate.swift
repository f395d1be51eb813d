import EdgeRuntime
import Foundation
import KVStore

extension KVStore {
    /// Read-modify-writes the JSON object stored under `key` with compare-and-set, so concurrent
    /// writers (a consumer logging a send and a webhook reporting its delivery) never lose each
    /// other's fields.
    /// - Parameters:
    ///   - key: the record's key (`email:<id>`, `sms:<sid>`).
    ///   - update: given the current object (`nil` when absent or not a JSON object), returns the
    ///     object to store, or `nil` to leave the record as it is.
    /// - Returns: the stored object, or `nil` when `update` declined.
    /// - Throws: ``KVError`` from the store; ``RecordUpdateConflict`` when 16 rounds in a row
    ///   lost the race (never looped on forever). Records written here never expire.
    @discardableResult
    func updateRecord(
        _ key: String,
        _ update: ([String: JSONValue]?) -> [String: JSONValue]?
    ) async throws -> [String: JSONValue]? {
        for _ in 0..<16 {
            let entry = try await getWithMetadata(key)
            let current = entry.flatMap { try? JSONValue.parse($0.value) }?.objectValue
            guard let next = update(current) else { return nil }
            let result = try await compareAndSet(
                key,
                value: JSONValue.object(next).serialized(),
                expectedVersion: entry?.version,
                options: KVPutOptions()
            )
            if case .stored = result { return next }
        }
        throw RecordUpdateConflict(key: key)
    }
}

/// A record changed under every one of an update's compare-and-set rounds.
struct RecordUpdateConflict: Error, CustomStringConvertible {
    let key: String
    var description: String { "KV record \(key) kept changing during an update" }
}
