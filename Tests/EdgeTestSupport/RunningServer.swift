import EdgeRuntime
import Foundation
import Functions
import KVStore
import Logging
import Queues
import Testing

/// A temporary folder, removed by `cleanup()`.
public struct TemporaryFolder: Sendable {
    public let path: String

    public init(_ label: String = "edge") {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("edge-run-\(label)-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// A real `edge-run` server on a free loopback port, built from a manifest given as JSON.
public final class RunningServer: Sendable {
    public let server: EdgeServer
    public let port: Int
    public let data: TemporaryFolder
    public let client: TestClient
    private let task: Task<Void, any Error>

    /// Validates `manifest` (every problem fails the start), opens a fresh data folder and serves;
    /// `configure` may change the options last (e.g. the header timeout).
    public static func start(
        manifest: JSONValue,
        secrets: [String: String] = [:],
        registry: FunctionRegistry = BuiltinFunctions.registry(),
        clock: any QueueClock = SystemWallClock(),
        testScheduled: Bool = false,
        fetcher: (any HTTPFetching)? = nil,
        authenticators: [String: any RequestAuthenticator] = [:],
        data: TemporaryFolder = TemporaryFolder("data"),
        logLevel: Logger.Level = .warning,
        configure: (inout ServeOptions) -> Void = { _ in }
    ) async throws -> RunningServer {
        // Off the pool: validating compiles WebAssembly modules, which would stall the tests beside.
        let (m, s) = try await runOffThePool { [data] in
            try ManifestLoader(registry: registry).validate(
                manifest,
                file: "functions.json",
                baseDirectory: data.path,
                environment: secrets,
                envFile: [:]
            )
        }
        var options = ServeOptions()
        options.port = 0
        options.dataDirectory = data.path
        options.clock = clock
        options.testScheduled = testScheduled
        options.fetcher = fetcher
        options.authenticators = authenticators
        options.shutdownSignals = []
        configure(&options)
        var logger = Logger(label: "edge-run.test")
        logger.logLevel = logLevel
        let server = try await EdgeServer(manifest: m, secrets: s, registry: registry, options: options, logger: logger)
        let ready = AsyncStream<Int>.makeStream()
        let task = Task {
            try await server.run(onReady: { port in
                ready.continuation.yield(port)
                ready.continuation.finish()
            })
        }
        var port = 0
        for await p in ready.stream { port = p }
        guard port > 0 else { throw TestFailure("server did not start: \(String(describing: await task.result))") }
        return RunningServer(server: server, port: port, data: data, task: task)
    }

    private init(server: EdgeServer, port: Int, data: TemporaryFolder, task: Task<Void, any Error>) {
        self.server = server
        self.port = port
        self.data = data
        self.task = task
        self.client = TestClient(base: "http://127.0.0.1:\(port)")
    }

    /// Graceful shutdown, then waits for `run()` to return.
    public func stop() async throws {
        await server.shutdown()
        try await task.value
    }

    /// Stops and removes the data folder.
    public func stopAndClean() async throws {
        try await stop()
        data.cleanup()
    }

    /// The result of `run()` (after ``stop()``).
    public var finished: Result<Void, any Error> { get async { await task.result } }
}

/// A failed expectation in a helper.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Waits until `condition` holds, checking every 10 ms, for at most `timeout` seconds (generous:
/// a passing test returns as soon as it holds, and a loaded 2-core machine can be slow).
/// - Returns: whether it held in time.
@discardableResult
public func eventually(
    timeout: Double = 30,
    every step: Duration = .milliseconds(10),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: step)
    }
    return try await condition()
}

/// Waits like ``eventually(timeout:every:_:)``, checking every 2 ms (queue tests race a
/// consumer), and when `condition` does not hold in time records an issue naming `what` and
/// throws.
public func eventually(
    _ what: String,
    timeout: Double = 20,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    guard try await eventually(timeout: timeout, every: .milliseconds(2), condition) else {
        Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
        throw TestFailure("timed out waiting for \(what)")
    }
}
