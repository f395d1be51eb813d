import ArgumentParser
import EdgeRuntime
import EdgeStorage
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
    @OptionGroup var storage: StorageOptions
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel = "info"
    @Flag(name: .customLong("test-scheduled"), help: "Expose GET /__scheduled to fire crons now (as wrangler dev --test-scheduled).")
    var testScheduled = false
    @Flag(help: "Reload when the manifest or env file changes (polled every 500 ms). SIGHUP always reloads.")
    var watch = false

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
        let devVarsAllowed = DevelopmentSecrets.isLoopback(host: host)
        if !devVarsAllowed { try source.refuseDevelopmentSecrets(registry: registry, host: host) }
        let (manifest, secrets) = try source.load(registry: registry, devVarsAllowed: devVarsAllowed)
        var options = ServeOptions()
        options.host = host
        options.port = port
        options.storage = try storage.location()
        options.testScheduled = testScheduled
        options.version = BuildInfo.version
        // SIGHUP (and --watch) read both files again and validate them as `check` does.
        let (path, envFile) = (source.manifest, source.envFile)
        options.reloadSource = {
            let file = envFile ?? (devVarsAllowed ? ManifestSource.developmentFile(besideManifest: path) : nil)
            let loaded = try ManifestLoader(registry: registry).load(path: path, envFile: file)
            return (loaded.manifest, loaded.secrets)
        }
        if watch { options.watchPaths = [path, envFile ?? DevelopmentSecrets.path(besideManifest: path)] }
        let server: EdgeServer
        do {
            server = try await EdgeServer(manifest: manifest, secrets: secrets, registry: registry, options: options, logger: logger)
        } catch let error as DataDirectoryInUse {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        } catch let error as PostgresStartError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
        try await server.run()
    }
}

/// `--manifest` and `--env-file`, and loading them with every problem reported.
struct ManifestSource: ParsableArguments {
    @Option(help: "The manifest.") var manifest = "functions.json"
    @Option(
        name: .customLong("env-file"),
        help: "KEY=VALUE file with secrets (default: .dev.vars beside the manifest, when present; serve reads it only on a loopback host)."
    )
    var envFile: String?

    /// `.dev.vars` beside the manifest, when no `--env-file` is given and it exists.
    var developmentFile: String? {
        guard envFile == nil else { return nil }
        return Self.developmentFile(besideManifest: manifest)
    }

    /// `.dev.vars` beside `manifest`, when it exists.
    static func developmentFile(besideManifest manifest: String) -> String? {
        let candidate = DevelopmentSecrets.path(besideManifest: manifest)
        return FileManager.default.fileExists(atPath: candidate) ? candidate : nil
    }

    /// Loads and validates; on problems prints one line each to stderr and exits 1.
    /// - Parameter devVarsAllowed: whether `.dev.vars` may be read when no `--env-file` is given.
    func load(registry: FunctionRegistry, requireSecrets: Bool = true, devVarsAllowed: Bool = true) throws -> (Manifest, [String: String]) {
        do {
            let file = envFile ?? (devVarsAllowed ? developmentFile : nil)
            return try ManifestLoader(registry: registry).load(path: manifest, envFile: file, requireSecrets: requireSecrets)
        } catch let error as ManifestError {
            for line in error.lines { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            throw ExitCode(1)
        }
    }

    /// On a non-loopback `host`: exits 1 with a line naming `.dev.vars` when any declared secret
    /// would come from it (set there, not in the environment). Secrets from the environment or an
    /// explicit `--env-file` pass.
    func refuseDevelopmentSecrets(registry: FunctionRegistry, host: String) throws {
        guard let devFile = developmentFile else { return }
        let (declared, _) = try load(registry: registry, requireSecrets: false, devVarsAllowed: false)
        let devVars = (try? SecretSource.parseEnvFile(at: devFile)) ?? [:]
        let needed = DevelopmentSecrets.namesNeeded(
            declared: declared.secrets,
            environment: ProcessInfo.processInfo.environment,
            devVars: devVars
        )
        guard !needed.isEmpty else { return }
        let line =
            "\(devFile): development secrets are read only when serve binds a loopback address, not \(host): "
            + "\(needed.joined(separator: ", ")) would come from it; set them in the environment or pass --env-file explicitly\n"
        FileHandle.standardError.write(Data(line.utf8))
        throw ExitCode(1)
    }
}

/// `edge-run check`: validate a manifest and its secrets.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Validate a manifest; one line per problem.")
    @OptionGroup var source: ManifestSource

    func run() async throws {
        let (manifest, _) = try source.load(registry: BuiltinFunctions.registry())
        let routes = manifest.functions.reduce(0) { $0 + $1.routes.count }
        print(
            "\(source.manifest): ok (\(manifest.functions.count) functions, \(routes) routes, \(manifest.queues.count) queues, \(manifest.crons.count) crons)"
        )
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

/// `edge-run openapi`: the OpenAPI 3.1 document `serve` answers at `/_edge/openapi.json`.
struct OpenAPICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "openapi",
        abstract: "Print the OpenAPI 3.1 document of a manifest (what serve answers at /_edge/openapi.json)."
    )
    @OptionGroup var source: ManifestSource
    @Flag(name: .customLong("test-scheduled"), help: "Describe GET /__scheduled too (as serve --test-scheduled serves it).")
    var testScheduled = false

    func run() async throws {
        let registry = BuiltinFunctions.registry()
        // Secret values do not change the document: a manifest is checked as `routes` checks it.
        let (manifest, _) = try source.load(registry: registry, requireSecrets: false)
        let document = OpenAPIDocument.data(
            manifest: manifest,
            registry: registry,
            options: .init(testScheduled: testScheduled, version: BuildInfo.version)
        )
        FileHandle.standardOutput.write(document)
    }
}
