import ArgumentParser

/// The `edge-run` command: serve a manifest, and inspect its data directory.
@main
struct EdgeRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge-run",
        abstract: "A Workers-style function runtime: HTTP routes, durable KV and queues, built-in integrations.",
        version: BuildInfo.versionLine,
        subcommands: [ServeCommand.self, CheckCommand.self, RoutesCommand.self, OpenAPICommand.self, KVCommand.self, QueuesCommand.self]
    )
}

/// Where the LMDB environment of a data directory lives.
func lmdbPath(dataDirectory: String) -> String { dataDirectory + "/lmdb" }
