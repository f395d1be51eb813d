import ArgumentParser
import EdgeRuntime
import Foundation
import Functions
import KVStore
import Logging

/// `edge-run serve`: the runtime of a manifest.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the routes, queues and crons of a manifest."
    )

    @OptionGroup var source: ManifestSource
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on, 0…65535 (0: any free port).") var port = "8787"
    @Option(help: "Data directory (LMDB environment).") var data = ".edge-data"
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel = "info"
    @Flag(name: .customLong("test-scheduled"), help: "Expose GET /__scheduled to fire crons now (as wrangler dev --test-scheduled).")
    var testScheduled = false

    func run() async throws {
        let port = try CheckedInteger.parse(port, field: "--port", in: 0...65_535)
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown log level \"\(logLevel)\"") }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "edge-run")
        logger.logLevel = level
        let registry = BuiltinFunctions.registry()
        let (manifest, secrets) = try source.load(registry: registry)
        var options = ServeOptions()
        options.host = host
        options.port = port
        options.dataDirectory = data
        options.testScheduled = testScheduled
        let server = try await EdgeServer(manifest: manifest, secrets: secrets, registry: registry, options: options, logger: logger)
        try await server.run()
    }
}

/// `--manifest` and `--env-file`, and loading them with every problem reported.
struct ManifestSource: ParsableArguments {
    @Option(help: "The manifest.") var manifest = "functions.json"
    @Option(name: .customLong("env-file"), help: "KEY=VALUE file with secrets (default: .dev.vars beside the manifest, when present).")
    var envFile: String?

    /// The env file to read: the given one, or `.dev.vars` beside the manifest when it exists.
    var resolvedEnvFile: String? {
        if let envFile { return envFile }
        let dir = (manifest as NSString).deletingLastPathComponent
        let candidate = (dir.isEmpty ? "." : dir) + "/.dev.vars"
        return FileManager.default.fileExists(atPath: candidate) ? candidate : nil
    }

    /// Loads and validates; on problems prints one line each to stderr and exits 1.
    func load(registry: FunctionRegistry, requireSecrets: Bool = true) throws -> (Manifest, [String: String]) {
        do {
            return try ManifestLoader(registry: registry).load(path: manifest, envFile: resolvedEnvFile, requireSecrets: requireSecrets)
        } catch let error as ManifestError {
            for line in error.lines { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            throw ExitCode(1)
        }
    }
}

/// `edge-run check`: validate a manifest and its secrets.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Validate a manifest; one line per problem.")
    @OptionGroup var source: ManifestSource

    func run() async throws {
        let (manifest, _) = try source.load(registry: BuiltinFunctions.registry())
        let routes = manifest.functions.reduce(0) { $0 + $1.routes.count }
        print("\(source.manifest): ok (\(manifest.functions.count) functions, \(routes) routes, \(manifest.queues.count) queues, \(manifest.crons.count) crons)")
    }
}

/// `edge-run routes`: the route table, `METHOD PATH FUNCTION` a line.
struct RoutesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "routes", abstract: "Print the route table.")
    @OptionGroup var source: ManifestSource

    func run() async throws {
        let (manifest, _) = try source.load(registry: BuiltinFunctions.registry(), requireSecrets: false)
        for function in manifest.functions {
            for route in function.routes { print("\(route.method) \(route.path) \(function.name)") }
        }
    }
}
