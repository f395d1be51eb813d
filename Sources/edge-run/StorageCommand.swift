import ArgumentParser
import EdgeStorage
import Logging

/// `edge-run storage migrate`: create or migrate the PostgreSQL schema `edge_run` alone (serve
/// does it at start too), under the same advisory lock.
struct StorageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage",
        abstract: "Manage the storage (the PostgreSQL schema).",
        subcommands: [Migrate.self]
    )

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or migrate the schema edge_run of a PostgreSQL storage; prints its version."
        )
        @OptionGroup var storage: StorageOptions

        func run() async throws {
            var logger = Logger(label: "edge-run.storage")
            logger.logLevel = .warning
            guard case .postgres = try storage.location() else {
                throw CLIError("storage migrate needs --storage postgres://… (an LMDB data directory needs no migration)")
            }
            let backend = try await storage.open(logger: logger)
            await backend.close()
            print("\(backend.description): schema edge_run is current")
        }
    }
}
