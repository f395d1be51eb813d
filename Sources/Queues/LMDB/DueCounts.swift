import EdgeCore
import KVStore
import LMDBStorage

/// Counters of the due-time index by time bucket (`q/<name>/due_counts`), kept in the same
/// transactions as the index itself, so "how many are delayed" never walks the queue.
///
/// Each message in the due index is counted once per level, in the bucket `due >> shift` of
/// that level (buckets of 256 ms, 16 s, 17.5 min and 18.6 h). The messages due after `now` are
/// those of the rest of now's 256 ms bucket (read from the index itself), plus at most 63
/// buckets of each finer level up to the end of the next coarser bucket, plus the few coarsest
/// buckets after it: a few hundred reads whatever the queue holds.
///
/// Only buckets *after* now's are ever read, and now only moves forward, so a bucket at or
/// before now's (a *past* bucket) is never read again. A change is therefore counted only in
/// the buckets that are after now's when it is made (``Delta``): a message due at once — most
/// sends, every claim of a due message — touches no count at all, and a delayed message is
/// counted while its buckets are ahead and left alone once they have passed. Counts left in
/// past buckets are never read and are deleted by ``sweepPast(_:_:nowMillis:limit:)``. (A wall
/// clock stepped back by a few seconds can bring a past bucket ahead again until it passes
/// anew: its left count then shows in `delayed` meanwhile, never in delivery.)
///
/// Key: `u8 level | BE u64 bucket`; value: `i64` count (little-endian). Empty buckets are deleted.
enum DueCounts {
    static let shifts: [Int64] = [8, 14, 20, 26]

    static func key(level: Int, bucket: Int64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 9)
        out[0] = UInt8(level)
        out.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(bitPattern: max(bucket, 0)).bigEndian, toByteOffset: 1, as: UInt64.self) }
        return out
    }

    static func parse(_ raw: UnsafeRawBufferPointer) -> (level: Int, bucket: Int64)? {
        guard raw.count == 9 else { return nil }
        return (Int(raw[0]), Int64(bitPattern: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 1, as: UInt64.self))))
    }

    /// Changes to apply at the end of an operation made at `nowMillis` (one read-modify-write
    /// per touched bucket); only buckets after now's are touched (see ``DueCounts``).
    struct Delta {
        private let now: Int64
        private(set) var changes: [[UInt8]: Int64] = [:]

        init(nowMillis: Int64) { now = max(nowMillis, 0) }

        var isEmpty: Bool { changes.isEmpty }

        /// Counts `n` more (or fewer, when negative) messages due at `dueMillis`, in the buckets
        /// after now's.
        mutating func add(dueMillis: Int64, _ n: Int64) {
            let due = max(dueMillis, 0)
            for (level, shift) in DueCounts.shifts.enumerated() {
                // Past at this level, so past at every coarser one too.
                guard due >> shift > now >> shift else { break }
                changes[DueCounts.key(level: level, bucket: due >> shift), default: 0] += n
            }
        }

        func apply(_ txn: LMDBTransaction, _ db: LMDBDatabase) throws {
            for (key, change) in changes where change != 0 {
                let current = try txn.getBytes(db, key: key).map(DueCounts.decode) ?? 0
                let next = CheckedInteger.saturatingAdd(current, change)  // a stored count may be anything
                if next <= 0 {
                    try txn.delete(db, key: key)
                } else {
                    try txn.put(db, key: key, value: DueCounts.encode(next))
                }
            }
        }
    }

    static func encode(_ n: Int64) -> [UInt8] { withUnsafeBytes(of: n.littleEndian) { Array($0) } }

    static func decode(_ raw: [UInt8]) -> Int64 {
        guard raw.count == 8 else { return 0 }
        return raw.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) }
    }

    /// Deletes up to `limit` counts of past buckets (at or before now's, never read again).
    /// - Returns: how many were deleted (`limit`: there may be more).
    static func sweepPast(_ txn: LMDBTransaction, _ db: LMDBDatabase, nowMillis: Int64, limit: Int) throws -> Int {
        let past = try pastKeys(txn, db, nowMillis: nowMillis, limit: limit)
        for key in past { try txn.delete(db, key: key) }
        return past.count
    }

    /// The keys of up to `limit` counts of past buckets (a read or a write transaction).
    static func pastKeys(_ txn: LMDBTransaction, _ db: LMDBDatabase, nowMillis: Int64, limit: Int) throws -> [[UInt8]] {
        let now = max(nowMillis, 0)
        var past: [[UInt8]] = []
        try txn.withCursor(db) { cursor in
            for (level, shift) in shifts.enumerated() where past.count < limit {
                var entry = try cursor.seek(atLeast: key(level: level, bucket: 0))
                while past.count < limit, let e = entry, let (l, bucket) = parse(e.key), l == level, bucket <= now >> shift {
                    past.append(Array(e.key))
                    entry = try cursor.next()
                }
            }
        }
        return past
    }

    /// Messages of the due index due after `nowMillis`.
    static func delayed(_ txn: LMDBTransaction, counts: LMDBDatabase, ready: LMDBDatabase, nowMillis: Int64) throws -> Int {
        // Bucket arithmetic below stays far from Int64's ends.
        let first = min(max(nowMillis, -1), Int64.max >> 2) + 1
        var total = 0
        // The rest of the finest bucket, from the index itself.
        let finestEnd = ((first >> shifts[0]) + 1) << shifts[0]
        try txn.withCursor(ready) { cursor in
            var entry = try cursor.seek(atLeast: ReadyKey.lowerBound(dueMillis: first))
            while let e = entry, let (due, _) = ReadyKey.parse(e.key), due < finestEnd {
                total += 1
                entry = try cursor.next()
            }
        }
        // Then, per level, the buckets after now's up to the end of the next level's bucket.
        try txn.withCursor(counts) { cursor in
            for level in shifts.indices {
                let start = (first >> shifts[level]) + 1
                let end: Int64 =
                    level + 1 < shifts.count
                    ? ((first >> shifts[level + 1]) + 1) << (shifts[level + 1] - shifts[level])
                    : .max
                var entry = try cursor.seek(atLeast: key(level: level, bucket: start))
                while let e = entry, let (l, bucket) = parse(e.key), l == level, bucket < end {
                    total = Int(CheckedInteger.saturatingAdd(Int64(total), max(decode(Array(e.value)), 0)))
                    entry = try cursor.next()
                }
            }
        }
        return total
    }
}
