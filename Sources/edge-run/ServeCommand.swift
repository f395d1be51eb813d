import ArgumentParser

/// `edge-run serve`: the HTTP runtime (landing with the runtime-core issue).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the routes, queues and crons of a manifest."
    )

    @Option(help: "The manifest to serve.") var manifest = "functions.json"
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8787
    @Option(help: "Data directory (LMDB environment).") var data = ".edge-data"
    @Option(name: .customLong("env-file"), help: "KEY=VALUE file with secrets.") var envFile: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel = "info"
    @Flag(name: .customLong("test-scheduled"), help: "Expose GET /__scheduled to fire crons now.") var testScheduled = false

    func run() async throws {
        throw ValidationError("serve is not built yet: the HTTP runtime lands with the runtime-core issue")
    }
}
