import CLMDB

/// A handle on one named LMDB database inside an ``LMDBEnvironment``.
public struct LMDBDatabase: Sendable, Hashable {
    public let dbi: MDB_dbi
    public let name: String
}

/// A live LMDB transaction, valid only inside the closure that received it.
///
/// Buffers it returns point into the memory map and are valid only until the transaction ends:
/// copy what you keep. Never `await` while holding one.
public struct LMDBTransaction {
    @usableFromInline let raw: OpaquePointer

    @usableFromInline init(raw: OpaquePointer) { self.raw = raw }

    /// Reads `key`; `nil` when absent. The buffer points into the map.
    @inlinable
    public func get(_ db: LMDBDatabase, key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(raw, db.dbi, &k, &v)
        if rc == EDGE_MDB_NOTFOUND { return nil }
        try lmdbCheck(rc, "mdb_get")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    /// Reads `key` and copies the value out.
    public func getBytes(_ db: LMDBDatabase, key: [UInt8]) throws(LMDBError) -> [UInt8]? {
        let result: Result<[UInt8]?, LMDBError> = key.withUnsafeBytes { k in
            do throws(LMDBError) {
                guard let v = try get(db, key: k) else { return .success(nil) }
                return .success(Array(v))
            } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Writes `value` under `key`, replacing what was there.
    public func put(_ db: LMDBDatabase, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, flags: UInt32 = 0) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try lmdbCheck(mdb_put(raw, db.dbi, &k, &v, flags), "mdb_put")
    }

    public func put(_ db: LMDBDatabase, key: [UInt8], value: [UInt8], flags: UInt32 = 0) throws(LMDBError) {
        let rc: Int32 = key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                var kk = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
                var vv = MDB_val(mv_size: v.count, mv_data: UnsafeMutableRawPointer(mutating: v.baseAddress))
                return mdb_put(raw, db.dbi, &kk, &vv, flags)
            }
        }
        try lmdbCheck(rc, "mdb_put")
    }

    /// Reserves `size` bytes for `key` and lets `fill` write them in place (no intermediate copy).
    public func putReserved(
        _ db: LMDBDatabase,
        key: UnsafeRawBufferPointer,
        size: Int,
        fill: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: size, mv_data: nil)
        try lmdbCheck(mdb_put(raw, db.dbi, &k, &v, EDGE_MDB_RESERVE), "mdb_put")
        fill(UnsafeMutableRawBufferPointer(start: v.mv_data, count: size))
    }

    /// Deletes `key`; returns whether it existed.
    @discardableResult
    public func delete(_ db: LMDBDatabase, key: UnsafeRawBufferPointer) throws(LMDBError) -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_del(raw, db.dbi, &k, nil)
        if rc == EDGE_MDB_NOTFOUND { return false }
        try lmdbCheck(rc, "mdb_del")
        return true
    }

    @discardableResult
    public func delete(_ db: LMDBDatabase, key: [UInt8]) throws(LMDBError) -> Bool {
        let result: Result<Bool, LMDBError> = key.withUnsafeBytes { k in
            do throws(LMDBError) { return .success(try delete(db, key: k)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Number of entries in `db`.
    public func count(_ db: LMDBDatabase) throws(LMDBError) -> Int {
        var stat = MDB_stat()
        try lmdbCheck(mdb_stat(raw, db.dbi, &stat), "mdb_stat")
        return stat.ms_entries
    }

    /// Opens a cursor on `db`, valid until the transaction ends.
    public func cursor(_ db: LMDBDatabase) throws(LMDBError) -> LMDBCursor {
        var c: OpaquePointer?
        try lmdbCheck(mdb_cursor_open(raw, db.dbi, &c), "mdb_cursor_open")
        return LMDBCursor(raw: c!)
    }

    /// Runs `body` with a cursor on `db` and closes the cursor afterwards.
    public func withCursor<T>(_ db: LMDBDatabase, _ body: (LMDBCursor) throws -> T) throws -> T {
        let c = try cursor(db)
        defer { c.close() }
        return try body(c)
    }
}

/// A cursor over one database: positions return `(key, value)` buffers into the map.
public struct LMDBCursor {
    let raw: OpaquePointer

    public typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

    func op(_ operation: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil) throws(LMDBError) -> Entry? {
        var k = MDB_val(mv_size: key?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: key?.baseAddress))
        var v = MDB_val()
        let rc = mdb_cursor_get(raw, &k, &v, operation)
        if rc == EDGE_MDB_NOTFOUND { return nil }
        try lmdbCheck(rc, "mdb_cursor_get")
        return (
            UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
            UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
        )
    }

    public func first() throws(LMDBError) -> Entry? { try op(MDB_FIRST) }
    public func next() throws(LMDBError) -> Entry? { try op(MDB_NEXT) }
    public func last() throws(LMDBError) -> Entry? { try op(MDB_LAST) }
    /// Positions at the first key ≥ `key`.
    public func seek(atLeast key: UnsafeRawBufferPointer) throws(LMDBError) -> Entry? {
        if key.isEmpty { return try first() }
        return try op(MDB_SET_RANGE, key: key)
    }
    public func seek(atLeast key: [UInt8]) throws(LMDBError) -> Entry? {
        let r: Result<Entry?, LMDBError> = key.withUnsafeBytes { k in
            do throws(LMDBError) { return .success(try seek(atLeast: k)) } catch { return .failure(error) }
        }
        return try r.get()
    }
    /// Deletes the entry under the cursor.
    public func deleteCurrent() throws(LMDBError) {
        try lmdbCheck(mdb_cursor_del(raw, 0), "mdb_cursor_del")
    }
    public func close() { mdb_cursor_close(raw) }
}
