import ArgumentParser
import EdgeStorage
import Foundation
import Logging

/// `--storage URL` / `--data DIR` (or `EDGE_STORAGE`): where `serve`, `kv` and `queues` find
/// their KV namespaces and queues.
struct StorageOptions: ParsableArguments {
    @Option(help: "Storage: lmdb:<dir> (default lmdb:.edge-data) or postgres://user:pass@host:port/db (env EDGE_STORAGE).")
    var storage: String?
    @Option(help: "Data directory: the short form of --storage lmdb:<dir>.")
    var data: String?

    /// The chosen location; a bad URL exits 1 with one line (never a password).
    func location() throws -> StorageLocation {
        do {
            return try StorageLocation.resolve(storage: storage, data: data, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw CLIError(error.description)
        }
    }

    /// Opens the storage; a failure exits 1 with one line naming the location.
    func open(logger: Logger) async throws -> any StorageBackend {
        let location = try location()
        do {
            // One command, one statement at a time: one pooled connection (a node's pool opens
            // whole at start, so the default size would open eight for a single `kv get`).
            return try await location.open(poolSize: 1, logger: logger)
        } catch let error as StorageURLError {
            throw CLIError(error.description)
        } catch let error as PostgresStartError {
            throw CLIError(error.description)
        } catch {
            throw CLIError("\(location): \(error)")
        }
    }
}
