import Foundation
import KVStore

/// How a delivered message was settled.
enum Disposition: Sendable, Equatable {
    case ack
    case retry(dueMillis: Int64, lastError: String?)
    case deadLetter(lastError: String)
}

/// The named databases of one queue in the shared environment, and the transaction-level
/// operations on them. Every method runs inside a transaction the caller holds: none awaits.
///
/// - `q/<name>/messages`: id → ``MessageRecord`` (waiting, delayed and in-flight messages)
/// - `q/<name>/ready`: ``ReadyKey`` (due ms + id) → empty: waiting and delayed messages by due time
/// - `q/<name>/leases`: id → empty: messages handed to a consumer and not yet settled
/// - `q/<name>/dead`: id → ``MessageRecord``: the built-in dead-letter store
/// - `q/<name>/counters`: counter name → u64 (delivered, retried, dead_lettered, expired)
struct QueueStorage: Sendable {
    let config: QueueConfig
    let messages: LMDBDatabase
    let ready: LMDBDatabase
    let leases: LMDBDatabase
    let dead: LMDBDatabase
    let counters: LMDBDatabase

    var name: String { config.name }
    var retentionMillis: Int64 { Int64(config.retention) * 1000 }

    static func open(_ config: QueueConfig, in environment: LMDBEnvironment) async throws -> QueueStorage {
        let prefix = "q/\(config.name)/"
        return QueueStorage(
            config: config,
            messages: try await environment.database(prefix + "messages"),
            ready: try await environment.database(prefix + "ready"),
            leases: try await environment.database(prefix + "leases"),
            dead: try await environment.database(prefix + "dead"),
            counters: try await environment.database(prefix + "counters")
        )
    }

    // MARK: Messages

    /// Stores a waiting (or delayed) message.
    func insert(_ txn: LMDBTransaction, id: MessageID, record: MessageRecord) throws {
        try txn.put(messages, key: id.bytes, value: record.encoded())
        try txn.put(ready, key: ReadyKey.make(dueMillis: record.dueMillis, id: id), value: [])
    }

    func record(_ txn: LMDBTransaction, id: MessageID) throws -> MessageRecord? {
        let key = id.bytes
        return try key.withUnsafeBytes { k in try txn.get(messages, key: k).flatMap(MessageRecord.init) }
    }

    /// What the due-time index holds at `nowMillis`, leaving out `excluded` (in flight here).
    struct Availability {
        /// Available messages in due order, at most the scan's limit.
        var available: [(id: MessageID, dueMillis: Int64)] = []
        /// The earliest due time after now, when the scan reached it.
        var nextDueMillis: Int64?
    }

    func scanAvailable(_ txn: LMDBTransaction, nowMillis: Int64, excluding excluded: Set<MessageID>, limit: Int) throws -> Availability {
        var result = Availability()
        try txn.withCursor(ready) { cursor in
            var entry = try cursor.first()
            while let e = entry {
                guard let (due, id) = ReadyKey.parse(e.key) else { entry = try cursor.next(); continue }
                if due > nowMillis { result.nextDueMillis = due; break }
                if !excluded.contains(id) {
                    result.available.append((id, due))
                    if result.available.count >= limit { break }
                }
                entry = try cursor.next()
            }
        }
        return result
    }

    /// Marks messages as handed to a consumer: out of the due index, one more attempt, leased.
    /// Messages no longer waiting (moved by another process) are skipped.
    func lease(_ txn: LMDBTransaction, _ entries: [(id: MessageID, dueMillis: Int64)]) throws {
        for (id, due) in entries {
            guard try txn.delete(ready, key: ReadyKey.make(dueMillis: due, id: id)),
                  var record = try record(txn, id: id) else { continue }
            record.attempts &+= 1
            try txn.put(messages, key: id.bytes, value: record.encoded())
            try txn.put(leases, key: id.bytes, value: [])
        }
    }

    /// Applies the outcome of a delivery; dead letters go to `deadLetterQueue` or the built-in store.
    func settle(_ txn: LMDBTransaction, _ outcomes: [(id: MessageID, disposition: Disposition)], nowMillis: Int64, deadLetterQueue: QueueStorage?) throws {
        var delivered: UInt64 = 0, retried: UInt64 = 0, deadLettered: UInt64 = 0
        for (id, disposition) in outcomes {
            try txn.delete(leases, key: id.bytes)
            guard var record = try record(txn, id: id) else { continue }
            switch disposition {
            case .ack:
                try txn.delete(messages, key: id.bytes)
                delivered += 1
            case .retry(let due, let error):
                record.dueMillis = due
                record.lastError = error ?? record.lastError
                try insert(txn, id: id, record: record)
                retried += 1
            case .deadLetter(let error):
                try txn.delete(messages, key: id.bytes)
                let moved = record.entering(at: nowMillis, lastError: error)
                if let deadLetterQueue {
                    try deadLetterQueue.insert(txn, id: id, record: moved)
                } else {
                    try txn.put(dead, key: id.bytes, value: moved.encoded())
                }
                deadLettered += 1
            }
        }
        try bump(txn, [(.delivered, delivered), (.retried, retried), (.deadLettered, deadLettered)])
    }

    /// Puts every leased message back in the due index at `nowMillis` (after a restart).
    /// - Returns: how many were reclaimed.
    func reclaimLeases(_ txn: LMDBTransaction, nowMillis: Int64) throws -> Int {
        var ids: [MessageID] = []
        try txn.withCursor(leases) { cursor in
            var entry = try cursor.first()
            while let e = entry {
                if let id = MessageID(bytes: e.key) { ids.append(id) }
                entry = try cursor.next()
            }
        }
        for id in ids {
            try txn.delete(leases, key: id.bytes)
            guard var record = try record(txn, id: id) else { continue }
            record.dueMillis = nowMillis
            try insert(txn, id: id, record: record)
        }
        return ids.count
    }

    /// Deletes up to `limit` waiting messages that outlived the queue's retention.
    /// - Returns: the ids deleted.
    func purgeExpired(_ txn: LMDBTransaction, nowMillis: Int64, limit: Int) throws -> [MessageID] {
        var expired: [(MessageID, Int64)] = []
        try txn.withCursor(messages) { cursor in
            var entry = try cursor.first()
            while let e = entry, expired.count < limit {
                if let id = MessageID(bytes: e.key), let record = MessageRecord(e.value),
                   record.isPastRetention(retentionMillis, at: nowMillis) {
                    expired.append((id, record.dueMillis))
                }
                entry = try cursor.next()
            }
        }
        var purged: [MessageID] = []
        for (id, due) in expired {
            let leased = try id.bytes.withUnsafeBytes { try txn.get(leases, key: $0) } != nil
            if leased { continue }
            try txn.delete(ready, key: ReadyKey.make(dueMillis: due, id: id))
            try txn.delete(messages, key: id.bytes)
            purged.append(id)
        }
        try bump(txn, [(.expired, UInt64(purged.count))])
        return purged
    }

    /// Drops waiting messages found expired (or missing) when they were about to be delivered.
    /// - Returns: how many expired messages were deleted.
    func discardExpired(_ txn: LMDBTransaction, _ entries: [(id: MessageID, dueMillis: Int64)], nowMillis: Int64) throws -> Int {
        var expired = 0
        for (id, due) in entries {
            guard try txn.delete(ready, key: ReadyKey.make(dueMillis: due, id: id)) else { continue }
            guard let record = try record(txn, id: id) else { continue }
            if record.isPastRetention(retentionMillis, at: nowMillis) {
                try txn.delete(messages, key: id.bytes)
                expired += 1
            } else {
                try txn.put(ready, key: ReadyKey.make(dueMillis: due, id: id), value: [])
            }
        }
        try bump(txn, [(.expired, UInt64(expired))])
        return expired
    }

    /// Removes up to `limit` messages to move elsewhere: dead letters first, then (when
    /// `includeWaiting`) waiting and delayed messages. In-flight messages stay.
    func takeForRedrive(_ txn: LMDBTransaction, limit: Int, includeWaiting: Bool) throws -> [(MessageID, MessageRecord)] {
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
        for (id, due) in readyKeys {
            try txn.delete(ready, key: ReadyKey.make(dueMillis: due, id: id))
            if let record = try record(txn, id: id) {
                try txn.delete(messages, key: id.bytes)
                taken.append((id, record))
            }
        }
        return taken
    }
}
