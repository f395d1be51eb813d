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

    /// Changes to apply at the end of an operation (one read-modify-write per touched bucket).
    struct Delta {
        private(set) var changes: [[UInt8]: Int64] = [:]

        var isEmpty: Bool { changes.isEmpty }

        /// Counts `n` more (or fewer, when negative) messages due at `dueMillis`.
        mutating func add(dueMillis: Int64, _ n: Int64) {
            let due = max(dueMillis, 0)
            for (level, shift) in DueCounts.shifts.enumerated() {
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
