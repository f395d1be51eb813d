import ArgumentParser
import EdgeStorage
import Foundation
import KVStore
import Logging

/// `edge-run kv …`: work on a KV binding of a data directory directly (also while a server has
/// it open: LMDB is multi-process safe).
struct KVCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kv",
        abstract: "Read and write a KV binding in a data directory.",
        subcommands: [Get.self, Put.self, Delete.self, List.self]
    )

    struct Target: ParsableArguments {
        @Option(help: "The KV binding (namespace), e.g. KV.") var binding: String
        @OptionGroup var storage: StorageOptions
        @Option(name: .customLong("min-ttl"), help: "Smallest accepted TTL in seconds, 1…31536000 (the manifest's kv.min_ttl_seconds).")
        var minTTL = "60"

        /// The namespace's limits, from `--min-ttl`.
        func limits() throws -> KVLimits {
            KVLimits(minTTLSeconds: try CheckedInteger.parse(minTTL, field: "--min-ttl", in: 1...31_536_000))
        }

        /// Runs `body` on the opened namespace, then closes the storage (also when `body` throws).
        func withStore<T>(_ body: (any KVStore) async throws -> T) async throws -> T {
            let limits = try limits()
            var logger = Logger(label: "edge-run.kv")
            logger.logLevel = .warning
            let backend = try await storage.open(logger: logger)
            do {
                let result = try await body(try await backend.kvStore(binding: binding, limits: limits, clock: SystemWallClock()))
                await backend.close()
                return result
            } catch {
                await backend.close()
                throw error
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a key's raw value.")
        @OptionGroup var target: Target
        @Argument(help: "The key.") var key: String
        @Flag(help: "Print expiration and metadata as JSON instead of the value.") var metadata = false

        func run() async throws {
            guard let entry = try await target.withStore({ try await $0.getWithMetadata(key) }) else {
                throw CLIError("key \"\(key)\" not found in \(target.binding)")
            }
            if metadata {
                var object: [String: Any] = ["name": key]
                if let expiration = entry.expiration { object["expiration"] = expiration }
                if let meta = entry.metadata { object["metadata"] = try JSONSerialization.jsonObject(with: meta, options: .fragmentsAllowed) }
                printJSON(object)
            } else {
                FileHandle.standardOutput.write(entry.value)
            }
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Store a value (from the argument or --path).")
        @OptionGroup var target: Target
        @Argument(help: "The key.") var key: String
        @Argument(help: "The value (omit with --path).") var value: String?
        @Option(help: "Read the value from this file.") var path: String?
        @Option(help: "Expire after this many seconds (the minimum TTL … 3153600000, 100 years).") var ttl: String?
        @Option(help: "Expire at this unix time in seconds (the minimum TTL … 100 years from now).") var expiration: String?
        @Option(help: "Metadata JSON (≤ 1024 bytes).") var metadata: String?

        func validate() throws {
            if (value == nil) == (path == nil) { throw ValidationError("give the value as an argument or with --path, not both") }
        }

        func run() async throws {
            // Checked before anything is opened or read: a bad number is exit 1 with one line.
            let limits = try target.limits()
            let now = SystemWallClock().nowSeconds()
            let options = KVPutOptions(
                expiration: try expiration.map { try CheckedInteger.parse($0, field: "--expiration", in: limits.expirationRange(now: now)) },
                expirationTtl: try ttl.map { try CheckedInteger.parse($0, field: "--ttl", in: limits.ttlRange) },
                metadata: metadata.map { Data($0.utf8) }
            )
            let bytes: Data
            if let path {
                guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
                bytes = data
            } else {
                bytes = Data(value!.utf8)
            }
            try await target.withStore { try await $0.put(key, value: bytes, options: options) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a key (no error when absent).")
        @OptionGroup var target: Target
        @Argument(help: "The key.") var key: String

        func run() async throws {
            try await target.withStore { try await $0.delete(key) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List key names, one a line (all pages unless --limit).")
        @OptionGroup var target: Target
        @Option(help: "Only keys starting with this.") var prefix: String?
        @Option(help: "At most this many keys (one page, 1…1000).") var limit: String?
        @Option(help: "Continue after this cursor.") var cursor: String?
        @Flag(help: "Print the list result as JSON (one page).") var json = false

        func run() async throws {
            let limit = try limit.map { try CheckedInteger.parse($0, field: "--limit", in: 1...1000) }
            try await target.withStore { store in try await list(store, limit: limit) }
        }

        private func list(_ store: any KVStore, limit: Int?) async throws {
            if json {
                let page = try await store.list(prefix: prefix, limit: limit ?? 1000, cursor: cursor)
                FileHandle.standardOutput.write(try page.jsonData())
                FileHandle.standardOutput.write(Data("\n".utf8))
                return
            }
            var next = cursor
            var remaining = limit
            repeat {
                let page = try await store.list(prefix: prefix, limit: min(remaining ?? 1000, 1000), cursor: next)
                for key in page.keys { print(key.name) }
                next = page.cursor
                if let r = remaining {
                    remaining = r - page.keys.count
                    if remaining! <= 0 { break }
                }
            } while next != nil
        }
    }
}

/// A failure the CLI reports as one line on stderr with exit code 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func printJSON(_ object: Any) {
    if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }
}
