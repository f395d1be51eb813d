import EdgeCore
import Foundation
import KVStore
import LMDBStorage

/// How a delivered message was settled.
package enum Disposition: Sendable, Equatable {
    case ack
    case retry(dueMillis: Int64, lastError: String?)
    case deadLetter(lastError: String)
}

/// The named databases of one queue in the shared environment, and the transaction-level
/// operations on them. Every method runs inside a transaction the caller holds: none awaits.
///
/// - `q/<name>/messages`: id → ``MessageRecord`` (waiting, delayed and in-flight messages)
/// - `q/<name>/ready`: ``ReadyKey`` (due ms + id) → empty: waiting and delayed messages by due time
/// - `q/<name>/enqueued`: ``ReadyKey`` (enqueue ms + id) → empty: every message of `messages`
///   by the time it entered the queue (the retention purge walks it oldest first)
/// - `q/<name>/due_counts`: ``DueCounts``: the due index counted by time bucket
/// - `q/<name>/leases`: id → ``LeaseValue``: messages handed to a consumer and not yet settled
/// - `q/<name>/dead`: id → ``MessageRecord``: the built-in dead-letter store
/// - `q/<name>/counters`: counter name → u64 (delivered, retried, dead_lettered, expired), and
///   the schema version of these databases
///
/// Every change to `messages`/`ready` goes through the helpers below, which keep the indexes and
/// counts in the same transaction.
struct QueueStorage: Sendable {
    let config: QueueConfig
    let messages: LMDBDatabase
    let ready: LMDBDatabase
    let enqueued: LMDBDatabase
    let dueCounts: LMDBDatabase
    let leases: LMDBDatabase
    let dead: LMDBDatabase
    let counters: LMDBDatabase

    var name: String { config.name }
    var retentionMillis: Int64 { Int64(config.retention) * 1000 }
    /// The most deliveries of a message by this queue.
    var maxDeliveries: Int { 1 + (config.consumer ?? ConsumerConfig()).maxRetries }

    /// Opens the queue's databases, migrating data written by older versions (once).
    static func open(_ config: QueueConfig, in environment: LMDBEnvironment) async throws -> QueueStorage {
        let prefix = "q/\(config.name)/"
        let storage = QueueStorage(
            config: config,
            messages: try await environment.database(prefix + "messages"),
            ready: try await environment.database(prefix + "ready"),
            enqueued: try await environment.database(prefix + "enqueued"),
            dueCounts: try await environment.database(prefix + "due_counts"),
            leases: try await environment.database(prefix + "leases"),
            dead: try await environment.database(prefix + "dead"),
            counters: try await environment.database(prefix + "counters")
        )
        try await storage.migrate(environment)
        return storage
    }

    // MARK: Messages and their indexes

    /// Stores a waiting (or delayed) message, new or retried, with its index entries.
    func insert(_ txn: LMDBTransaction, id: MessageID, record: MessageRecord, dues: inout DueCounts.Delta) throws {
        try txn.put(messages, key: id.bytes, value: record.encoded())
        try txn.put(ready, key: ReadyKey.make(dueMillis: record.dueMillis, id: id), value: [])
        try txn.put(enqueued, key: ReadyKey.make(dueMillis: record.enqueuedMillis, id: id), value: [])
        dues.add(dueMillis: record.dueMillis, 1)
    }

    /// Takes a message out of the due index; `false` when it was not there.
    func unready(_ txn: LMDBTransaction, id: MessageID, dueMillis: Int64, dues: inout DueCounts.Delta) throws -> Bool {
        guard try txn.delete(ready, key: ReadyKey.make(dueMillis: dueMillis, id: id)) else { return false }
        dues.add(dueMillis: dueMillis, -1)
        return true
    }

    /// Deletes a message that is out of the due index, with its enqueue-time entry.
    func delete(_ txn: LMDBTransaction, id: MessageID, record: MessageRecord) throws {
        try txn.delete(messages, key: id.bytes)
        try txn.delete(enqueued, key: ReadyKey.make(dueMillis: record.enqueuedMillis, id: id))
    }

    func record(_ txn: LMDBTransaction, id: MessageID) throws -> MessageRecord? {
        let key = id.bytes
        return try key.withUnsafeBytes { k in try txn.get(messages, key: k).flatMap(MessageRecord.init) }
    }

    func lease(_ txn: LMDBTransaction, id: MessageID) throws -> LeaseValue? {
        let key = id.bytes
        return try key.withUnsafeBytes { k in try txn.get(leases, key: k).map(LeaseValue.init) }
    }

    /// Sends at `nowMillis`: stores new messages (one grouped write per batch).
    func send(_ txn: LMDBTransaction, _ rows: [(id: MessageID, record: MessageRecord)], nowMillis: Int64) throws {
        var dues = DueCounts.Delta(nowMillis: nowMillis)
        for row in rows { try insert(txn, id: row.id, record: row.record, dues: &dues) }
        try dues.apply(txn, dueCounts)
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
                guard let (due, id) = ReadyKey.parse(e.key) else {
                    entry = try cursor.next()
                    continue
                }
                if due > nowMillis {
                    result.nextDueMillis = due
                    break
                }
                if !excluded.contains(id) {
                    result.available.append((id, due))
                    if result.available.count >= limit { break }
                }
                entry = try cursor.next()
            }
        }
        return result
    }

    // MARK: Claim, settle, reclaim

    /// What a claim took.
    struct Claim: Sendable {
        /// The messages leased, their `attempts` already counting this delivery.
        var messages: [(id: MessageID, record: MessageRecord)] = []
        /// Messages found past the queue's retention and deleted instead.
        var expired = 0
    }

    /// Claims messages for one delivery, in one write: each leaves the due index, has its
    /// `attempts` incremented and gets a lease until `leaseUntil`, all committed before the
    /// handler runs. Messages no longer waiting (moved by another process) are skipped; messages
    /// past the queue's retention are deleted.
    func claim(_ txn: LMDBTransaction, _ entries: [(id: MessageID, dueMillis: Int64)], lease: LeaseValue, nowMillis: Int64) throws -> Claim {
        var claim = Claim()
        var dues = DueCounts.Delta(nowMillis: nowMillis)
        let leaseBytes = lease.encoded()
        for (id, due) in entries {
            guard try unready(txn, id: id, dueMillis: due, dues: &dues), var record = try record(txn, id: id) else { continue }
            if record.isPastRetention(retentionMillis, at: nowMillis) {
                try delete(txn, id: id, record: record)
                claim.expired += 1
                continue
            }
            record.attempts &+= 1
            try txn.put(messages, key: id.bytes, value: record.encoded())
            try txn.put(leases, key: id.bytes, value: leaseBytes)
            claim.messages.append((id, record))
        }
        try dues.apply(txn, dueCounts)
        try bump(txn, [(.expired, UInt64(claim.expired))])
        return claim
    }

    /// Applies the outcome of a delivery made under the claim `token`; dead letters go to
    /// `deadLetterQueue` or the built-in store. A message whose lease is gone or belongs to
    /// another claim (reclaimed meanwhile) is left alone.
    func settle(
        _ txn: LMDBTransaction,
        _ outcomes: [(id: MessageID, disposition: Disposition)],
        token: UInt64,
        nowMillis: Int64,
        deadLetterQueue: QueueStorage?
    ) throws {
        var delivered: UInt64 = 0
        var retried: UInt64 = 0
        var deadLettered: UInt64 = 0
        var dues = DueCounts.Delta(nowMillis: nowMillis)
        var dlqDues = DueCounts.Delta(nowMillis: nowMillis)
        for (id, disposition) in outcomes {
            guard try lease(txn, id: id)?.token == token else { continue }
            try txn.delete(leases, key: id.bytes)
            guard var record = try record(txn, id: id) else { continue }
            switch disposition {
            case .ack:
                try delete(txn, id: id, record: record)
                delivered += 1
            case .retry(let due, let error):
                record.dueMillis = due
                record.lastError = error ?? record.lastError
                try insert(txn, id: id, record: record, dues: &dues)
                retried += 1
            case .deadLetter(let error):
                try moveToDeadLetters(txn, id: id, record: record, lastError: error, nowMillis: nowMillis, to: deadLetterQueue, dues: &dlqDues)
                deadLettered += 1
            }
        }
        try dues.apply(txn, dueCounts)
        if let deadLetterQueue { try dlqDues.apply(txn, deadLetterQueue.dueCounts) }
        try bump(txn, [(.delivered, delivered), (.retried, retried), (.deadLettered, deadLettered)])
    }

    /// Moves an in-flight message (already out of the due index) to the dead letters.
    private func moveToDeadLetters(
        _ txn: LMDBTransaction,
        id: MessageID,
        record: MessageRecord,
        lastError: String,
        nowMillis: Int64,
        to deadLetterQueue: QueueStorage?,
        dues: inout DueCounts.Delta
    ) throws {
        try delete(txn, id: id, record: record)
        let moved = record.entering(at: nowMillis, lastError: lastError)
        if let deadLetterQueue {
            try deadLetterQueue.insert(txn, id: id, record: moved, dues: &dues)
        } else {
            try txn.put(dead, key: id.bytes, value: moved.encoded())
        }
    }

    /// What a reclaim did.
    struct Reclaimed: Sendable, Equatable {
        var requeued = 0
        var deadLettered = 0
        /// Whether leases remain to examine (the chunk was full).
        var more = false
    }

    /// Takes back up to `limit` leases — every one (`expiredOnly: false`, at start: the process
    /// that made them is gone) or those expired at `nowMillis`. Their deliveries were counted when
    /// claimed: a message that had its `1 + max_retries` deliveries goes to the dead letters with
    /// `reason` as its last error; the others wait again, due now.
    func reclaimLeases(
        _ txn: LMDBTransaction,
        nowMillis: Int64,
        expiredOnly: Bool,
        reason: String,
        deadLetterQueue: QueueStorage?,
        limit: Int
    ) throws -> Reclaimed {
        var taken: [MessageID] = []
        var result = Reclaimed()
        try txn.withCursor(leases) { cursor in
            var entry = try cursor.first()
            while let e = entry {
                if let id = MessageID(bytes: e.key), !expiredOnly || LeaseValue(e.value).expiryMillis <= nowMillis {
                    if taken.count == limit {
                        result.more = true
                        break
                    }
                    taken.append(id)
                }
                entry = try cursor.next()
            }
        }
        var dues = DueCounts.Delta(nowMillis: nowMillis)
        var dlqDues = DueCounts.Delta(nowMillis: nowMillis)
        for id in taken {
            try txn.delete(leases, key: id.bytes)
            guard var record = try record(txn, id: id) else { continue }
            if record.queueAttempts >= maxDeliveries {
                try moveToDeadLetters(txn, id: id, record: record, lastError: reason, nowMillis: nowMillis, to: deadLetterQueue, dues: &dlqDues)
                result.deadLettered += 1
            } else {
                record.dueMillis = nowMillis
                record.lastError = reason
                try insert(txn, id: id, record: record, dues: &dues)
                result.requeued += 1
            }
        }
        try dues.apply(txn, dueCounts)
        if let deadLetterQueue { try dlqDues.apply(txn, deadLetterQueue.dueCounts) }
        try bump(txn, [(.deadLettered, UInt64(result.deadLettered))])
        return result
    }
}
