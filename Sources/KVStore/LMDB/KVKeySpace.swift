import CLMDB
import LMDBStorage

/// The LMDB databases behind one KV binding, and the operations on records by key.
///
/// liblmdb limits keys to 511 bytes while KV keys may have 512, so keys are split:
/// - `main`: keys of ≤ 511 bytes, stored as they are;
/// - `long`: 512-byte keys, bucketed under their first 511 bytes; a bucket's value is a list of
///   `u8 last byte | u32 record length | record` entries sorted by last byte;
/// - `expiry`: index for the sweeper: `BE u64 expiration | key` (or, for keys over 503 bytes,
///   the first 487 bytes and a 16-byte digest) → the full key.
/// Iteration merges `main` and `long`, so listing stays in UTF-8 byte order.
struct KVKeySpace: Sendable {
    let main: LMDBDatabase
    let long: LMDBDatabase
    let expiry: LMDBDatabase

    static let maxDirectKey = 511

    // MARK: Records

    /// The stored record of `key` (into the map), or `nil`.
    func record(_ txn: LMDBTransaction, key: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer? {
        if key.count <= Self.maxDirectKey { return try txn.get(main, key: key) }
        let head = UnsafeRawBufferPointer(rebasing: key[0..<Self.maxDirectKey])
        guard let bucket = try txn.get(long, key: head) else { return nil }
        let last = key[key.count - 1]
        for entry in BucketEntries(bucket) where entry.last == last { return entry.record }
        return nil
    }

    /// Stores a record under `key`, replacing any previous one.
    func store(
        _ txn: LMDBTransaction,
        key: UnsafeRawBufferPointer,
        version: UInt64,
        expiration: Int64?,
        metadata: UnsafeRawBufferPointer,
        value: UnsafeRawBufferPointer
    ) throws {
        if key.count <= Self.maxDirectKey {
            let size = KVRecordView.size(metadataCount: metadata.count, valueCount: value.count)
            try txn.putReserved(main, key: key, size: size) { out in
                KVRecordView.encode(into: out, version: version, expiration: expiration, metadata: metadata, value: value)
            }
            return
        }
        let record = KVRecordView.encode(version: version, expiration: expiration, metadata: metadata, value: value)
        try rewriteBucket(txn, key: key) { entries, last in
            entries.removeAll { $0.last == last }
            entries.append((last, record))
        }
    }

    /// Removes the record of `key`; returns whether there was one.
    @discardableResult
    func remove(_ txn: LMDBTransaction, key: UnsafeRawBufferPointer) throws -> Bool {
        if key.count <= Self.maxDirectKey { return try txn.delete(main, key: key) }
        var removed = false
        try rewriteBucket(txn, key: key) { entries, last in
            let before = entries.count
            entries.removeAll { $0.last == last }
            removed = entries.count != before
        }
        return removed
    }

    private func rewriteBucket(
        _ txn: LMDBTransaction,
        key: UnsafeRawBufferPointer,
        _ change: (inout [(last: UInt8, record: [UInt8])], UInt8) -> Void
    ) throws {
        let head = UnsafeRawBufferPointer(rebasing: key[0..<Self.maxDirectKey])
        var entries: [(last: UInt8, record: [UInt8])] = []
        if let bucket = try txn.get(long, key: head) {
            entries = BucketEntries(bucket).map { ($0.last, Array($0.record)) }
        }
        change(&entries, key[key.count - 1])
        if entries.isEmpty {
            try txn.delete(long, key: head)
            return
        }
        entries.sort { $0.last < $1.last }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.reduce(0) { $0 + 5 + $1.record.count })
        for entry in entries {
            bytes.append(entry.last)
            withUnsafeBytes(of: UInt32(entry.record.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: entry.record)
        }
        try bytes.withUnsafeBytes { try txn.put(long, key: head, value: $0) }
    }

    // MARK: Expiry index

    static func expiryKey(_ expiration: Int64, key: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8 + min(key.count, 503))
        withUnsafeBytes(of: UInt64(bitPattern: expiration).bigEndian) { out.append(contentsOf: $0) }
        if key.count <= 503 {
            out.append(contentsOf: key)
        } else {
            out.append(contentsOf: key[0..<487])
            withUnsafeBytes(of: fnv1a(key, seed: 0xcbf2_9ce4_8422_2325)) { out.append(contentsOf: $0) }
            withUnsafeBytes(of: fnv1a(key, seed: 0x8422_2325_cbf2_9ce4)) { out.append(contentsOf: $0) }
        }
        return out
    }

    private static func fnv1a(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        var hash = seed
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }

    func indexExpiry(_ txn: LMDBTransaction, key: UnsafeRawBufferPointer, expiration: Int64) throws {
        let ik = Self.expiryKey(expiration, key: key)
        try ik.withUnsafeBytes { try txn.put(expiry, key: $0, value: key) }
    }

    func unindexExpiry(_ txn: LMDBTransaction, key: UnsafeRawBufferPointer, expiration: Int64) throws {
        let ik = Self.expiryKey(expiration, key: key)
        _ = try ik.withUnsafeBytes { try txn.delete(expiry, key: $0) }
    }

    /// Deletes up to `limit` records whose expiration is ≤ `now`, with their index entries.
    /// - Returns: how many index entries were processed, and whether more are due.
    func sweep(_ txn: LMDBTransaction, now: Int64, limit: Int) throws -> (swept: Int, more: Bool) {
        var due: [(indexKey: [UInt8], key: [UInt8], expiration: Int64)] = []
        var more = false
        try txn.withCursor(expiry) { cursor in
            var entry = try cursor.first()
            while let (ik, fullKey) = entry {
                let expiration = Int64(bitPattern: ik.loadUnaligned(as: UInt64.self).bigEndian)
                guard expiration <= now else { break }
                if due.count == limit {
                    more = true
                    break
                }
                due.append((Array(ik), Array(fullKey), expiration))
                entry = try cursor.next()
            }
        }
        for item in due {
            try item.indexKey.withUnsafeBytes { _ = try txn.delete(expiry, key: $0) }
            try item.key.withUnsafeBytes { key in
                if let rec = try record(txn, key: key), let view = KVRecordView(rec), view.expiration == item.expiration {
                    try remove(txn, key: key)
                }
            }
        }
        return (due.count, more)
    }

    // MARK: Ordered iteration

    /// Calls `body` for every stored key ≥ `start` in byte order, with its record, until it
    /// returns `false`.
    func forEach(
        _ txn: LMDBTransaction,
        from start: [UInt8],
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        let mainCursor = try txn.cursor(main)
        defer { mainCursor.close() }
        let longCursor = try txn.cursor(long)
        defer { longCursor.close() }

        var a = try mainCursor.seek(atLeast: start)
        var pending: [(key: [UInt8], record: UnsafeRawBufferPointer)] = []
        var bucket = try longCursor.seek(atLeast: Array(start.prefix(Self.maxDirectKey)))
        func refill() throws {
            while pending.isEmpty, let (head, value) = bucket {
                pending = BucketEntries(value).map { (Array(head) + [$0.last], $0.record) }
                    .filter { !lexicographicallyPrecedes($0.key, start) }
                bucket = try longCursor.next()
            }
        }
        try refill()
        while true {
            let takeLong: Bool
            switch (a, pending.first) {
            case (nil, nil): return
            case (nil, _?): takeLong = true
            case (_?, nil): takeLong = false
            case (let (ak, _)?, let b?): takeLong = b.key.withUnsafeBytes { lexicographicallyPrecedes($0, ak) }
            }
            if takeLong {
                let b = pending.removeFirst()
                let goOn = try b.key.withUnsafeBytes { try body($0, b.record) }
                if !goOn { return }
                try refill()
            } else {
                let (ak, av) = a!
                if !(try body(ak, av)) { return }
                a = try mainCursor.next()
            }
        }
    }
}

/// Byte-wise `lhs < rhs` (memcmp order, shorter prefix first).
func lexicographicallyPrecedes<A: Collection<UInt8>, B: Collection<UInt8>>(_ lhs: A, _ rhs: B) -> Bool {
    lhs.lexicographicallyPrecedes(rhs)
}

/// The entries of a long-key bucket.
struct BucketEntries: Sequence {
    let buffer: UnsafeRawBufferPointer
    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    struct Iterator: IteratorProtocol {
        let buffer: UnsafeRawBufferPointer
        var offset = 0
        mutating func next() -> (last: UInt8, record: UnsafeRawBufferPointer)? {
            guard offset + 5 <= buffer.count else { return nil }
            let last = buffer[offset]
            let count = Int(buffer.loadUnaligned(fromByteOffset: offset + 1, as: UInt32.self).littleEndian)
            let start = offset + 5
            guard start + count <= buffer.count else { return nil }
            offset = start + count
            return (last, UnsafeRawBufferPointer(rebasing: buffer[start..<(start + count)]))
        }
    }
    func makeIterator() -> Iterator { Iterator(buffer: buffer) }
}
