import EdgeCore
import Foundation
import KVStore
import LMDBStorage

extension QueueStorage {
    /// One chunk of the retention purge.
    struct Purge: Sendable {
        /// The messages deleted.
        var purged: [MessageID] = []
        /// Where the next chunk starts (after the last index entry examined); `nil`: done.
        var resumeAfter: [UInt8]?
    }

    /// Deletes waiting messages that outlived the queue's retention, walking the enqueue-time
    /// index oldest first from after `resumeAfter`, examining at most `limit` entries (in-flight
    /// messages are examined and kept: their consumer settles them).
    func purgeExpired(_ txn: LMDBTransaction, nowMillis: Int64, after resumeAfter: [UInt8]?, limit: Int) throws -> Purge {
        var examined: [(key: [UInt8], id: MessageID)] = []
        var full = false
        try txn.withCursor(enqueued) { cursor in
            var entry = try resumeAfter.map { try cursor.seek(atLeast: $0) } ?? cursor.first()
            if let e = entry, let resumeAfter, e.key.elementsEqual(resumeAfter) { entry = try cursor.next() }
            while let e = entry, let (enqueuedMillis, id) = ReadyKey.parse(e.key),
                CheckedInteger.saturatingAdd(enqueuedMillis, retentionMillis) <= nowMillis
            {
                if examined.count == limit {
                    full = true
                    break
                }
                examined.append((Array(e.key), id))
                entry = try cursor.next()
            }
        }
        var result = Purge()
        var dues = DueCounts.Delta(nowMillis: nowMillis)
        for (key, id) in examined {
            if try lease(txn, id: id) != nil { continue }
            guard let record = try record(txn, id: id) else {
                try txn.delete(enqueued, key: key)  // a stray entry: nothing to purge
                continue
            }
            _ = try unready(txn, id: id, dueMillis: record.dueMillis, dues: &dues)
            try delete(txn, id: id, record: record)
            result.purged.append(id)
        }
        try dues.apply(txn, dueCounts)
        try bump(txn, [(.expired, UInt64(result.purged.count))])
        result.resumeAfter = full ? examined.last?.key : nil
        return result
    }

    /// Removes up to `limit` messages to move elsewhere: dead letters first, then (when
    /// `includeWaiting`) waiting and delayed messages. In-flight messages stay.
    func takeForRedrive(_ txn: LMDBTransaction, limit: Int, includeWaiting: Bool, nowMillis: Int64) throws -> [(MessageID, MessageRecord)] {
        var taken: [(MessageID, MessageRecord)] = []
        var deadKeys: [MessageID] = []
        try txn.withCursor(dead) { cursor in
            var entry = try cursor.first()
            while let e = entry, taken.count < limit {
                if let id = MessageID(bytes: e.key), let record = MessageRecord(e.value) {
                    taken.append((id, record))
                }
                if let id = MessageID(bytes: e.key) { deadKeys.append(id) }
                entry = try cursor.next()
            }
        }
        for id in deadKeys { try txn.delete(dead, key: id.bytes) }
        guard includeWaiting, taken.count < limit else { return taken }
        var readyKeys: [(MessageID, Int64)] = []
        try txn.withCursor(ready) { cursor in
            var entry = try cursor.first()
            while let e = entry, taken.count + readyKeys.count < limit {
                if let (due, id) = ReadyKey.parse(e.key) { readyKeys.append((id, due)) }
                entry = try cursor.next()
            }
        }
        var dues = DueCounts.Delta(nowMillis: nowMillis)
        for (id, due) in readyKeys {
            _ = try unready(txn, id: id, dueMillis: due, dues: &dues)
            if let record = try record(txn, id: id) {
                try delete(txn, id: id, record: record)
                taken.append((id, record))
            }
        }
        try dues.apply(txn, dueCounts)
        return taken
    }

    // MARK: Schema

    /// The layout version these databases are in: 1 (no enqueue-time index, no due counts,
    /// empty leases) or 2.
    static let schemaVersion: UInt64 = 2
    static let schemaKey = Array("schema_version".utf8)

    /// Brings databases written by an older version to ``schemaVersion``, once: builds the
    /// enqueue-time index and the due counts from the messages. Old leases stay (they read as
    /// expired, and their deliveries were already counted).
    func migrate(_ environment: LMDBEnvironment) async throws {
        let version = try environment.read { txn in try txn.getBytes(counters, key: Self.schemaKey).map(DueCounts.decode) ?? 0 }
        guard version < Self.schemaVersion else { return }
        try await environment.write { [self] txn in
            // Checked again inside the write: another process may have migrated meanwhile.
            if let done = try txn.getBytes(counters, key: Self.schemaKey).map(DueCounts.decode), done >= Self.schemaVersion { return }
            try rebuildIndexes(txn)
            try txn.put(counters, key: Self.schemaKey, value: DueCounts.encode(Int64(Self.schemaVersion)))
        }
    }

    private func rebuildIndexes(_ txn: LMDBTransaction) throws {
        var enqueuedKeys: [[UInt8]] = []
        try txn.withCursor(messages) { cursor in
            var entry = try cursor.first()
            while let e = entry {
                if let id = MessageID(bytes: e.key), let record = MessageRecord(e.value) {
                    enqueuedKeys.append(ReadyKey.make(dueMillis: record.enqueuedMillis, id: id))
                }
                entry = try cursor.next()
            }
        }
        for key in enqueuedKeys { try txn.put(enqueued, key: key, value: []) }
        var staleCounts: [[UInt8]] = []
        try txn.withCursor(dueCounts) { cursor in
            var entry = try cursor.first()
            while let e = entry {
                staleCounts.append(Array(e.key))
                entry = try cursor.next()
            }
        }
        for key in staleCounts { try txn.delete(dueCounts, key: key) }
        // Every bucket, past ones too (their counts are never read, and the retention sweep
        // deletes them): the migration needs no clock.
        var dues = DueCounts.Delta(nowMillis: 0)
        try txn.withCursor(ready) { cursor in
            var entry = try cursor.first()
            while let e = entry {
                if let (due, _) = ReadyKey.parse(e.key) { dues.add(dueMillis: due, 1) }
                entry = try cursor.next()
            }
        }
        try dues.apply(txn, dueCounts)
    }
}
