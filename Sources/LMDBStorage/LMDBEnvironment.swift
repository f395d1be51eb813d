import CLMDB
import Foundation
import Synchronization

/// One LMDB environment (a directory holding `data.mdb` and `lock.mdb`) shared by every KV
/// binding and queue of a data directory, and by other processes that open the same directory.
///
/// - Reads run on the caller's thread in a pooled read-only transaction (`mdb_txn_reset` /
///   `mdb_txn_renew`): they never wait for writers.
/// - Writes go to one writer thread that groups the writes arriving during a commit into the
///   next transaction (group commit): each caller resumes once the synced commit that holds its
///   write returned. A write that throws is left out by replaying the group without it.
/// - A full map grows (doubling) and the batch is replayed; a map grown by another process is
///   adopted.
///
/// `@unchecked Sendable`: `env` is an `MDB_env` opened with `MDB_NOTLS`, which liblmdb allows
/// to be used from any thread; the remaining mutable state is behind `Mutex` and `ResizeGate`.
public final class LMDBEnvironment: @unchecked Sendable {
    /// How the environment is opened.
    public struct Options: Sendable {
        /// Initial map size in bytes; the map doubles whenever it fills.
        public var initialMapSize: Int = 64 << 20
        /// Upper bound for the map (virtual address space, not disk).
        public var maxMapSize: Int = 1 << 40
        public var maxDatabases: UInt32 = 512
        public var maxReaders: UInt32 = 1024
        /// The most writes grouped into one transaction.
        public var maxWritesPerCommit: Int = 1024
        public init() {}
    }

    let env: OpaquePointer
    public let path: String
    let gate = ResizeGate()
    private let readPool = Mutex<[PooledReader]>([])
    private let databases = Mutex<[String: LMDBDatabase]>([:])
    private let mapSize: Mutex<Int>
    private let options: Options
    private var writer: LMDBWriter!

    /// Opens (creating when needed) the environment in directory `path`.
    /// - Throws: ``LMDBError`` when liblmdb cannot open it, or a POSIX error creating the folder.
    public init(path: String, options: Options = Options()) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        var e: OpaquePointer?
        try lmdbCheck(mdb_env_create(&e), "mdb_env_create")
        guard let e else { throw LMDBError(code: ENOMEM, operation: "mdb_env_create") }
        do {
            try lmdbCheck(mdb_env_set_maxdbs(e, options.maxDatabases), "mdb_env_set_maxdbs")
            try lmdbCheck(mdb_env_set_maxreaders(e, options.maxReaders), "mdb_env_set_maxreaders")
            try lmdbCheck(mdb_env_set_mapsize(e, options.initialMapSize), "mdb_env_set_mapsize")
            try lmdbCheck(mdb_env_open(e, path, EDGE_MDB_NOTLS | EDGE_MDB_NORDAHEAD, 0o644), "mdb_env_open(\(path))")
        } catch {
            mdb_env_close(e)
            throw error
        }
        // Another process may already have grown the map past our initial size.
        var info = MDB_envinfo()
        mdb_env_info(e, &info)
        self.env = e
        self.path = path
        self.options = options
        self.mapSize = Mutex(max(info.me_mapsize, options.initialMapSize))
        self.writer = LMDBWriter(environment: self, maxBatch: options.maxWritesPerCommit)
        self.staleReadersClearedAtOpen = (try? clearStaleReaders()) ?? 0
    }

    /// Reader slots of dead processes that opening this environment cleared.
    public private(set) var staleReadersClearedAtOpen = 0

    /// Clears the reader slots left by processes that died (killed with a read transaction
    /// open): a stale slot pins old pages, so the file grows without bound until it is cleared.
    /// Called at open and periodically while serving.
    /// - Returns: how many slots were cleared.
    @discardableResult
    public func clearStaleReaders() throws(LMDBError) -> Int {
        var dead: Int32 = 0
        try lmdbCheck(mdb_reader_check(env, &dead), "mdb_reader_check")
        return Int(dead)
    }

    deinit {
        writer.stop()
        for reader in readPool.withLock({ $0 }) { mdb_txn_abort(reader.txn) }
        mdb_env_close(env)
    }

    /// Stops the writer thread after the writes already queued have committed.
    public func close() { writer.stop() }

    /// Opens (creating when needed) the named database `name`; handles are cached.
    public func database(_ name: String) async throws -> LMDBDatabase {
        if let db = databases.withLock({ $0[name] }) { return db }
        let db = try await write { txn in
            var dbi: MDB_dbi = 0
            try lmdbCheck(mdb_dbi_open(txn.raw, name, EDGE_MDB_CREATE, &dbi), "mdb_dbi_open(\(name))")
            return LMDBDatabase(dbi: dbi, name: name)
        }
        databases.withLock { $0[name] = db }
        return db
    }

    // MARK: Reads

    /// Runs `body` in a read-only snapshot on the calling thread.
    /// - Throws: what `body` throws, or ``LMDBError``.
    public func read<T>(_ body: (LMDBTransaction) throws -> T) throws -> T {
        while true {
            let outcome: ReadOutcome<T> = try gate.withShared { () throws -> ReadOutcome<T> in
                let txn = try checkoutReader()
                if let txn {
                    defer {
                        mdb_txn_reset(txn)
                        readPool.withLock { $0.append(PooledReader(txn: txn)) }
                    }
                    return .done(try body(LMDBTransaction(raw: txn)))
                }
                return .mapResized
            }
            switch outcome {
            case .done(let value): return value
            case .mapResized: try adoptForeignMapSize()
            }
        }
    }

    private enum ReadOutcome<T> {
        case done(T)
        case mapResized
    }

    /// A reset read-only transaction waiting for reuse. `@unchecked Sendable`: a reset
    /// `MDB_txn` of an `MDB_NOTLS` environment may be renewed on any thread, and the pool hands
    /// each one to a single user at a time.
    private struct PooledReader: @unchecked Sendable { let txn: OpaquePointer }

    /// A renewed pooled reader, a new one, or `nil` when another process grew the map.
    private func checkoutReader() throws(LMDBError) -> OpaquePointer? {
        if let txn = readPool.withLock({ $0.popLast() })?.txn {
            let rc = mdb_txn_renew(txn)
            if rc == 0 { return txn }
            mdb_txn_abort(txn)
            if rc == EDGE_MDB_MAP_RESIZED { return nil }
            throw LMDBError(code: rc, operation: "mdb_txn_renew")
        }
        var txn: OpaquePointer?
        let rc = mdb_txn_begin(env, nil, EDGE_MDB_RDONLY, &txn)
        if rc == EDGE_MDB_MAP_RESIZED { return nil }
        try lmdbCheck(rc, "mdb_txn_begin(read)")
        return txn
    }

    // MARK: Writes

    /// Runs `body` in a write transaction shared with other concurrent writes, and returns once
    /// that transaction committed durably (synced).
    ///
    /// `body` runs on the writer thread, directly in the transaction it shares with the other
    /// writes of its group. If it throws, the transaction is aborted and replayed without it: only
    /// its own changes are rolled back and the error reaches this caller alone. `body` may
    /// therefore run more than once (a replay, or a retry after the map grew), so it must depend
    /// only on the transaction's contents and have no effect outside it.
    public func write<T: Sendable>(_ body: @escaping @Sendable (LMDBTransaction) throws -> T) async throws -> T {
        let op = TypedWrite(body)
        return try await withUnsafeThrowingContinuation { continuation in  // resumed once: see TypedWrite
            op.continuation = continuation
            writer.submit(op)
        }
    }

    // MARK: Map size

    /// Doubles the map (called by the writer with no transaction of this process active).
    func growMap(atLeast needed: Int = 0) throws {
        try gate.withExclusive {
            let current = mapSize.withLock { $0 }
            var next = current * 2
            while next < needed { next *= 2 }
            guard next <= options.maxMapSize else {
                throw LMDBError(code: EDGE_MDB_MAP_FULL, operation: "grow map beyond \(options.maxMapSize) bytes")
            }
            try lmdbCheck(mdb_env_set_mapsize(env, next), "mdb_env_set_mapsize(\(next))")
            mapSize.withLock { $0 = next }
        }
    }

    /// Adopts the larger map another process set (`MDB_MAP_RESIZED`).
    func adoptForeignMapSize() throws {
        try gate.withExclusive {
            try lmdbCheck(mdb_env_set_mapsize(env, 0), "mdb_env_set_mapsize(0)")
            var info = MDB_envinfo()
            mdb_env_info(env, &info)
            mapSize.withLock { $0 = info.me_mapsize }
        }
    }

    /// Writes submitted and not yet taken into a transaction (tests).
    package var pendingWriteCount: Int { writer.pendingCount }

    /// Write transactions committed, the writes grouped into them and the writer thread's time,
    /// since opening.
    public var writeStatistics: LMDBWriteStatistics { writer.statistics }

    /// The current map size in bytes.
    public var currentMapSize: Int { mapSize.withLock { $0 } }
}
