import EdgeCore
import Foundation
import KVStore
import LMDBStorage

/// A stored message: a fixed little-endian header, the last error, then the body.
///
/// ```
/// 0  u8  format (1)          1  u8  content type
/// 2  u32 attempts            6  u32 attempts when it entered this queue
/// 10 i64 sent (unix ms)      18 i64 entered this queue (unix ms)
/// 26 i64 due (unix ms)       34 u32 last error length, then the error, then the body
/// ```
struct MessageRecord: Sendable {
    var contentType: MessageContentType
    /// Deliveries so far, across every queue the message went through.
    var attempts: UInt32
    /// `attempts` when the message entered its current queue (dead-lettered or redriven).
    var attemptsBase: UInt32
    var sentMillis: Int64
    var enqueuedMillis: Int64
    var dueMillis: Int64
    var lastError: String?
    var body: Data

    static let headerSize = 38
    static let format: UInt8 = 1

    /// Deliveries by the current queue.
    var queueAttempts: Int { Int(attempts &- attemptsBase) }

    init(contentType: MessageContentType, sentMillis: Int64, dueMillis: Int64, body: Data) {
        self.contentType = contentType
        self.attempts = 0
        self.attemptsBase = 0
        self.sentMillis = sentMillis
        self.enqueuedMillis = sentMillis
        self.dueMillis = dueMillis
        self.lastError = nil
        self.body = body
    }

    /// Decodes a stored record, copying it out of the map; `nil` when malformed.
    init?(_ raw: UnsafeRawBufferPointer) {
        guard raw.count >= Self.headerSize, raw[0] == Self.format,
            let type = MessageContentType(storageCode: raw[1])
        else { return nil }
        contentType = type
        attempts = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        attemptsBase = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 6, as: UInt32.self))
        sentMillis = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 10, as: Int64.self))
        enqueuedMillis = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 18, as: Int64.self))
        dueMillis = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 26, as: Int64.self))
        let errorLength = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 34, as: UInt32.self)))
        guard raw.count >= Self.headerSize + errorLength else { return nil }
        let errorBytes = UnsafeRawBufferPointer(rebasing: raw[Self.headerSize..<Self.headerSize + errorLength])
        lastError = errorLength == 0 ? nil : String(decoding: errorBytes, as: UTF8.self)
        body = Data(UnsafeRawBufferPointer(rebasing: raw[(Self.headerSize + errorLength)...]))
    }

    /// The stored form.
    func encoded() -> [UInt8] {
        let error = Self.utf8Prefix(lastError ?? "", maxBytes: QueueLimits.maxErrorBytes)
        var out = [UInt8](repeating: 0, count: Self.headerSize)
        out.reserveCapacity(Self.headerSize + error.count + body.count)
        out.withUnsafeMutableBytes { raw in
            raw[0] = Self.format
            raw[1] = contentType.storageCode
            raw.storeBytes(of: attempts.littleEndian, toByteOffset: 2, as: UInt32.self)
            raw.storeBytes(of: attemptsBase.littleEndian, toByteOffset: 6, as: UInt32.self)
            raw.storeBytes(of: sentMillis.littleEndian, toByteOffset: 10, as: Int64.self)
            raw.storeBytes(of: enqueuedMillis.littleEndian, toByteOffset: 18, as: Int64.self)
            raw.storeBytes(of: dueMillis.littleEndian, toByteOffset: 26, as: Int64.self)
            raw.storeBytes(of: UInt32(error.count).littleEndian, toByteOffset: 34, as: UInt32.self)
        }
        out.append(contentsOf: error)
        out.append(contentsOf: body)
        return out
    }

    /// Whether the message outlived a retention of `retentionMillis` at `nowMillis`. The stored
    /// times may be anything (another process or a damaged file wrote them): saturating, never a trap.
    func isPastRetention(_ retentionMillis: Int64, at nowMillis: Int64) -> Bool {
        CheckedInteger.saturatingAdd(enqueuedMillis, retentionMillis) <= nowMillis
    }

    /// The UTF-8 of `text` cut to at most `maxBytes` at a character boundary, so the stored
    /// error reads back as the same text (found by fuzzing: a cut inside a character came back
    /// as U+FFFD, three bytes longer).
    static func utf8Prefix(_ text: String, maxBytes: Int) -> [UInt8] {
        let bytes = Array(text.utf8)
        guard bytes.count > maxBytes else { return bytes }
        var end = maxBytes
        while end > 0, bytes[end] & 0xC0 == 0x80 { end -= 1 }
        return Array(bytes[..<end])
    }

    /// The record as it enters another queue (dead-lettered or redriven): the new queue counts
    /// its own deliveries from zero.
    func entering(at millis: Int64, lastError: String?) -> MessageRecord {
        var moved = self
        moved.attemptsBase = attempts
        moved.enqueuedMillis = millis
        moved.dueMillis = millis
        moved.lastError = lastError
        return moved
    }
}

/// Keys of the time-ordered indexes (due time, enqueue time): 8 big-endian bytes of unix ms,
/// then the 16-byte id, so a cursor walks messages in time order.
enum ReadyKey {
    static func make(dueMillis: Int64, id: MessageID) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 24)
        out.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt64(bitPattern: dueMillis).bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: id.high.bigEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: id.low.bigEndian, toByteOffset: 16, as: UInt64.self)
        }
        return out
    }

    /// The first key of due time `millis` (a seek target).
    static func lowerBound(dueMillis: Int64) -> [UInt8] {
        make(dueMillis: dueMillis, id: MessageID(high: 0, low: 0))
    }

    static func parse(_ raw: UnsafeRawBufferPointer) -> (dueMillis: Int64, id: MessageID)? {
        guard raw.count == 24, let id = MessageID(bytes: UnsafeRawBufferPointer(rebasing: raw[8...])) else { return nil }
        return (Int64(bitPattern: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))), id)
    }
}

/// The value of a lease (`q/<name>/leases`): when it expires and which claim made it.
///
/// ```
/// 0 i64 expiry (unix ms)     8 u64 claim token
/// ```
/// Leases written before leases expired are empty: they read as expired, with no token.
struct LeaseValue: Sendable, Equatable {
    var expiryMillis: Int64
    var token: UInt64

    init(expiryMillis: Int64, token: UInt64) {
        self.expiryMillis = expiryMillis
        self.token = token
    }

    init(_ raw: UnsafeRawBufferPointer) {
        guard raw.count >= 16 else {
            self.init(expiryMillis: 0, token: 0)
            return
        }
        self.init(
            expiryMillis: Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: Int64.self)),
            token: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        )
    }

    func encoded() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        out.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: expiryMillis.littleEndian, toByteOffset: 0, as: Int64.self)
            raw.storeBytes(of: token.littleEndian, toByteOffset: 8, as: UInt64.self)
        }
        return out
    }
}
