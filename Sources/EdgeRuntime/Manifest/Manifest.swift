import EdgeCore
import Foundation
import Queues

/// A validated `functions.json`.
public struct Manifest: Sendable {
    public var name: String
    public var vars: [String: String]
    /// Declared secret names (values come from the environment or an env file).
    public var secrets: [String]
    public var limits: RuntimeLimits
    /// Whether the top-level `limits` sets `max_body_bytes` (then it beats a handler's own default).
    public var setsMaxBodyBytes = false
    /// The server-wide part of `limits` (connections, shutdown).
    public var serverLimits = ServerLimits()
    /// `kv.min_ttl_seconds`.
    public var kvMinTTLSeconds: Int64
    /// `kv_namespaces[].binding`.
    public var kvBindings: [String]
    /// `auth_providers`, parsed and validated once, when the manifest is read.
    public var authProviders: [String: AuthProviderConfig]
    public var queues: [QueueConfig]
    public var functions: [FunctionSpec]
    public var crons: [CronSpec]
    /// The folder holding the manifest.
    public var baseDirectory: String
    /// `console`: serve `/_edge/console` and `/_edge/tail` on a non-loopback host too (still
    /// behind the admin token). Off by default: on loopback they need no such opt-in.
    public var console = false

    /// The declarations handlers check their config against.
    public var declarations: ManifestDeclarations {
        var declarations = ManifestDeclarations(
            queues: queues.map(\.name),
            kvBindings: kvBindings,
            secrets: secrets,
            vars: vars,
            authProviders: authProviders.keys.sorted(),
            baseDirectory: baseDirectory
        )
        for queue in queues {
            if let name = queue.consumer?.function, let consumer = function(named: name) { declarations.queueConsumers[queue.name] = consumer }
        }
        return declarations
    }

    /// The function named `name`.
    public func function(named name: String) -> FunctionSpec? { functions.first { $0.name == name } }
}

/// Request limits: the manifest's `limits`, or a function's override.
public struct RuntimeLimits: Sendable, Equatable {
    public var maxBodyBytes: Int = 1 << 20
    public var handlerTimeoutSeconds: Double = 30
    /// `max_runaway`: handlers answered 504 but still running; at this many the function answers 503.
    public var maxRunaway: Int = 64
    public init(maxBodyBytes: Int = 1 << 20, handlerTimeoutSeconds: Double = 30, maxRunaway: Int = 64) {
        self.maxBodyBytes = maxBodyBytes
        self.handlerTimeoutSeconds = handlerTimeoutSeconds
        self.maxRunaway = maxRunaway
    }
}

/// One entry of `functions`.
public struct FunctionSpec: Sendable {
    public var name: String
    public var handler: String
    public var routes: [RoutePattern]
    public var config: [String: JSONValue]
    public var auth: String?
    public var analytics: String?
    public var limits: RuntimeLimits
    /// Whether the function sets `limits.max_body_bytes` itself.
    public var setsMaxBodyBytes: Bool = false
    /// Its index in `functions` (for error paths).
    public var index: Int
}

/// One entry of `crons`.
public struct CronSpec: Sendable {
    public var schedule: String
    public var expression: CronExpression
    public var function: String
}

/// A manifest that cannot be served: every problem, one line each, with its JSON path.
public struct ManifestError: Error, CustomStringConvertible, Sendable {
    /// The manifest file.
    public let file: String
    /// `(path, message)` pairs, e.g. `("functions[2].config.queue", "queue \"pay\" is not declared")`.
    public let problems: [(path: String, message: String)]

    public init(file: String, problems: [(path: String, message: String)]) {
        self.file = file
        self.problems = problems
    }

    /// One line per problem: `functions.json: functions[2].config.queue: queue "pay" is not declared`.
    public var lines: [String] {
        problems.map { $0.path.isEmpty ? "\(file): \($0.message)" : "\(file): \($0.path): \($0.message)" }
    }

    public var description: String { lines.joined(separator: "\n") }
}
