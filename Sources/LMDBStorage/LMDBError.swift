import CLMDB

/// An error returned by liblmdb, carrying its return code and `mdb_strerror` text.
public struct LMDBError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The liblmdb (or errno) return code.
    public let code: Int32
    /// What the failing call was doing, e.g. `mdb_txn_begin`.
    public let operation: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    public var description: String {
        "\(operation): \(String(cString: mdb_strerror(code))) (\(code))"
    }

    /// The map is full: the environment must grow before the transaction can succeed.
    public var isMapFull: Bool { code == EDGE_MDB_MAP_FULL }
    /// Another process grew the map: adopt its size and try again.
    public var isMapResized: Bool { code == EDGE_MDB_MAP_RESIZED }
}

/// Throws an ``LMDBError`` unless `rc` is `MDB_SUCCESS`.
@usableFromInline @inline(__always)
func lmdbCheck(_ rc: Int32, _ operation: @autoclosure () -> String) throws(LMDBError) {
    if rc != 0 { throw LMDBError(code: rc, operation: operation()) }
}
