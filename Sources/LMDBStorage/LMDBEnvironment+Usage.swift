import CLMDB

/// How much of its map an LMDB environment uses, for `/_edge/metrics`.
public struct LMDBUsage: Sendable, Hashable {
    /// The map size (the most the data file may grow to before the map is doubled).
    public var mapSizeBytes: Int
    /// The database page size.
    public var pageSizeBytes: Int
    /// Pages in use: the highest page number written, plus one (free pages LMDB reuses count).
    public var pagesUsed: Int
    /// Reader slots in use (by every process that opened the environment).
    public var readers: Int
    /// Reader slots available.
    public var maxReaders: Int
}

extension LMDBEnvironment {
    /// The map size, page size, pages in use and reader slots (`mdb_env_info`, `mdb_env_stat`):
    /// cheap reads of the environment's meta page, safe beside the writer.
    public func usage() -> LMDBUsage {
        gate.withShared { () -> LMDBUsage in
            var info = MDB_envinfo()
            var stat = MDB_stat()
            mdb_env_info(env, &info)
            mdb_env_stat(env, &stat)
            return LMDBUsage(
                mapSizeBytes: info.me_mapsize,
                pageSizeBytes: Int(stat.ms_psize),
                pagesUsed: info.me_last_pgno &+ 1,
                readers: Int(info.me_numreaders),
                maxReaders: Int(info.me_maxreaders)
            )
        }
    }
}
