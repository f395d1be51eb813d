import ArgumentParser

/// The `edge-run` command: serve a manifest, and inspect its data directory.
@main
struct EdgeRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge-run",
        abstract: "A Workers-style function runtime: HTTP routes, durable KV and queues, built-in integrations.",
        version: BuildInfo.versionLine,
        subcommands: [
            ServeCommand.self, CheckCommand.self, RoutesCommand.self, OpenAPICommand.self, KVCommand.self, QueuesCommand.self,
            TailCommand.self, TriggerCommand.self, StorageCommand.self,
        ]
    )
}
