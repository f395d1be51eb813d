import EdgeCore
import Foundation
import KVStore
import LMDBStorage

/// The persisted counters of a queue.
enum QueueCounter: String, CaseIterable {
    case delivered, retried
    case deadLettered = "dead_lettered"
    case expired
}

extension QueueStorage {
    /// Adds `deltas` to the persisted counters.
    func bump(_ txn: LMDBTransaction, _ deltas: [(QueueCounter, UInt64)]) throws {
        for (counter, delta) in deltas where delta > 0 {
            let key = Array(counter.rawValue.utf8)
            let current = try value(txn, counter)
            var next = (current &+ delta).littleEndian
            let bytes = withUnsafeBytes(of: &next) { Array($0) }
            try txn.put(counters, key: key, value: bytes)
        }
    }

    func value(_ txn: LMDBTransaction, _ counter: QueueCounter) throws -> UInt64 {
        guard let raw = try txn.getBytes(counters, key: Array(counter.rawValue.utf8)), raw.count == 8 else { return 0 }
        return raw.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }

    /// The queue's counts at `nowMillis`, without walking the queue: entry counts LMDB keeps
    /// for each database in the same transactions as the changes, the due counts and the
    /// persisted counters.
    func stats(_ txn: LMDBTransaction, nowMillis: Int64) throws -> QueueStats {
        let waiting = try txn.count(ready)
        let delayed = min(waiting, try DueCounts.delayed(txn, counts: dueCounts, ready: ready, nowMillis: nowMillis))
        return QueueStats(
            name: name,
            pending: waiting - delayed,
            delayed: delayed,
            inFlight: try txn.count(leases),
            deadLettered: Int(clamping: try value(txn, .deadLettered)),
            delivered: Int(clamping: try value(txn, .delivered)),
            retried: Int(clamping: try value(txn, .retried)),
            expired: Int(clamping: try value(txn, .expired)),
            deadLetterStore: try txn.count(dead)
        )
    }

    /// Up to `limit` messages in id (send) order: the queue's messages (waiting, delayed and in
    /// flight), or its built-in dead-letter store.
    func peek(_ txn: LMDBTransaction, limit: Int, deadLetters: Bool) throws -> [PeekedMessage] {
        var out: [PeekedMessage] = []
        try txn.withCursor(deadLetters ? dead : messages) { cursor in
            var entry = try cursor.first()
            while let e = entry, out.count < limit {
                if let id = MessageID(bytes: e.key), let record = MessageRecord(e.value) {
                    out.append(PeekedMessage(id: id, record: record))
                }
                entry = try cursor.next()
            }
        }
        return out
    }
}

/// A queue's counts. `pending`, `delayed`, `inFlight` and `deadLetterStore` are gauges; the
/// others count since the queue was created.
public struct QueueStats: Sendable, Hashable, Codable {
    public var name: String
    /// Messages waiting for delivery now.
    public var pending: Int
    /// Messages whose delivery (or retry) delay has not passed.
    public var delayed: Int
    /// Messages handed to a consumer and not yet acked, retried or dead-lettered.
    public var inFlight: Int
    /// Messages this queue dead-lettered (to its dead-letter queue or its built-in store).
    public var deadLettered: Int
    /// Messages delivered and acked.
    public var delivered: Int
    /// Retries (each failed delivery that led to another).
    public var retried: Int
    /// Messages deleted after outliving the queue's retention.
    public var expired: Int
    /// Messages in the queue's built-in dead-letter store now.
    public var deadLetterStore: Int

    enum CodingKeys: String, CodingKey {
        case name, pending, delayed
        case inFlight = "in_flight"
        case deadLettered = "dead_lettered"
        case delivered, retried, expired
        case deadLetterStore = "dead_letter_store"
    }
}

extension QueueStats {
    /// The counts as another backend read them.
    package init(
        name: String,
        pending: Int,
        delayed: Int,
        inFlight: Int,
        deadLettered: Int,
        delivered: Int,
        retried: Int,
        expired: Int,
        deadLetterStore: Int,
        backend: Void = ()
    ) {
        self.init(
            name: name,
            pending: pending,
            delayed: delayed,
            inFlight: inFlight,
            deadLettered: deadLettered,
            delivered: delivered,
            retried: retried,
            expired: expired,
            deadLetterStore: deadLetterStore
        )
    }
}

/// A message seen without consuming it (`peek`).
public struct PeekedMessage: Sendable, Hashable {
    public let id: String
    public let timestamp: Date
    public let body: MessageBody
    /// Deliveries so far, across the queues the message went through.
    public let attempts: Int
    /// Why its last delivery failed (dead letters, retried messages).
    public let lastError: String?
    /// When it is (or was) due for delivery.
    public let due: Date

    package init(id: String, sentMillis: Int64, body: MessageBody, attempts: Int, lastError: String?, dueMillis: Int64) {
        self.id = id
        self.timestamp = Date(timeIntervalSince1970: Double(sentMillis) / 1000)
        self.body = body
        self.attempts = attempts
        self.lastError = lastError
        self.due = Date(timeIntervalSince1970: Double(dueMillis) / 1000)
    }

    init(id: MessageID, record: MessageRecord) {
        self.id = id.description
        self.timestamp = Date(timeIntervalSince1970: Double(record.sentMillis) / 1000)
        self.body = MessageBody(data: record.body, contentType: record.contentType)
        self.attempts = Int(record.attempts)
        self.lastError = record.lastError
        self.due = Date(timeIntervalSince1970: Double(record.dueMillis) / 1000)
    }

    /// The contract's JSON object, one line: `{"id", "body", "content_type", "attempts",
    /// "timestamp", "last_error"?}`; a JSON body is embedded as its JSON value, text as a
    /// string, bytes as a base64 string.
    public var jsonLine: String {
        func jsonString(_ text: String) -> String { JSONValue.string(text).serializedString }
        let bodyJSON: String
        switch body.contentType {
        case .json: bodyJSON = String(decoding: body.data, as: UTF8.self)
        case .text: bodyJSON = jsonString(String(decoding: body.data, as: UTF8.self))
        case .bytes: bodyJSON = jsonString(Base64.encode(body.data))
        }
        var line = "{\"id\":\(jsonString(id)),\"body\":\(bodyJSON),\"content_type\":\(jsonString(body.contentType.rawValue))"
        line += ",\"attempts\":\(attempts),\"timestamp\":\(jsonString(ISO8601Millis.format(timestamp)))"
        if let lastError { line += ",\"last_error\":\(jsonString(lastError))" }
        return line + "}"
    }
}

/// ISO 8601 UTC with milliseconds (`2026-11-23T18:00:00.000Z`), as every time in the contract's JSON.
public enum ISO8601Millis {
    /// The instants formatted, 1601-01-01T00:00:00.000Z … 9999-12-31T23:59:59.999Z (Gregorian
    /// throughout, 4-digit years), in unix milliseconds. A time outside (a provider's or a
    /// stored number can be anything) is clamped to it: never a trap.
    public static let millisRange: ClosedRange<Int64> = -11_644_473_600_000...253_402_300_799_999

    /// Formats `date`, rounded to the nearest millisecond (clamped to ``millisRange``).
    public static func format(_ date: Date) -> String {
        let millis = (date.timeIntervalSince1970 * 1000).rounded()
        guard !millis.isNaN else { return format(millis: 0) }
        return format(millis: Int64(min(max(millis, Double(millisRange.lowerBound)), Double(millisRange.upperBound))))
    }

    /// Formats unix milliseconds exactly (a `Double` of seconds cannot hold every millisecond),
    /// clamped to ``millisRange``.
    public static func format(millis unclamped: Int64) -> String {
        let millis = min(max(unclamped, millisRange.lowerBound), millisRange.upperBound)
        let seconds = millis.quotientAndRemainder(dividingBy: 1000)
        var whole = seconds.quotient
        var ms = seconds.remainder
        if ms < 0 {
            whole -= 1
            ms += 1000
        }
        let base = Date(timeIntervalSince1970: Double(whole))
            .formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: false, timeZone: .gmt))
        // "2026-11-23T18:00:00Z" → "2026-11-23T18:00:00.000Z"
        return String(base.dropLast()) + "." + String(ms + 1000).dropFirst() + "Z"
    }
}
