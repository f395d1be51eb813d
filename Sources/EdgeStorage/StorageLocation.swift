import Foundation
import Logging

/// The `--storage` value (or `EDGE_STORAGE`): `lmdb:<dir>` (the default; `--data DIR` is its
/// short form) or `postgres://user:pass@host:port/db` (also `postgresql://`, `?sslmode=`).
public enum StorageLocation: Sendable, Equatable, CustomStringConvertible {
    /// The embedded LMDB environment of a data directory (`<dir>/lmdb`).
    case lmdb(directory: String)
    /// A PostgreSQL server shared by several nodes.
    case postgres(PostgresURL)

    /// The default data directory.
    public static let defaultDirectory = ".edge-data"

    /// Parses a `--storage` value.
    /// - Throws: ``StorageURLError`` naming what is wrong (never the password).
    public init(parsing text: String) throws(StorageURLError) {
        if text.hasPrefix("lmdb:") {
            let directory = String(text.dropFirst("lmdb:".count))
            guard !directory.isEmpty else { throw StorageURLError("--storage lmdb:<dir> needs a directory") }
            self = .lmdb(directory: directory)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(try PostgresURL(parsing: text))
        } else {
            throw StorageURLError("--storage must be lmdb:<dir> or postgres://user:pass@host:port/db")
        }
    }

    /// The location from `--storage`, else `EDGE_STORAGE`, else `--data` (default `.edge-data`).
    /// - Throws: ``StorageURLError`` for a bad URL, or when `--storage` and `--data` are both given.
    public static func resolve(storage: String?, data: String?, environment: [String: String]) throws(StorageURLError) -> StorageLocation {
        if let storage {
            guard data == nil else { throw StorageURLError("give --storage or --data, not both") }
            return try StorageLocation(parsing: storage)
        }
        if let data { return .lmdb(directory: data) }
        if let fromEnvironment = environment["EDGE_STORAGE"], !fromEnvironment.isEmpty {
            return try StorageLocation(parsing: fromEnvironment)
        }
        return .lmdb(directory: defaultDirectory)
    }

    /// Without the password.
    public var description: String {
        switch self {
        case .lmdb(let directory): "lmdb:\(directory)"
        case .postgres(let url): url.description
        }
    }
}

/// A storage URL that cannot be used; its message never contains a password.
public struct StorageURLError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension StorageLocation {
    /// Opens the backend: the LMDB environment, or the PostgreSQL pool of `poolSize`
    /// connections (migrating the schema unless `migrate` is false).
    /// - Throws: a storage error naming the location (never a password).
    public func open(migrate: Bool = true, poolSize: Int = PostgresStorageBackend.defaultPoolSize, logger: Logger) async throws -> any StorageBackend
    {
        switch self {
        case .lmdb(let directory):
            return try LMDBStorageBackend(directory: directory)
        case .postgres(let url):
            return try await PostgresStorageBackend.open(url, poolSize: poolSize, migrate: migrate, logger: logger)
        }
    }
}
