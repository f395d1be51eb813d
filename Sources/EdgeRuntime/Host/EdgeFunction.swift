import Foundation
import Queues

/// A handler: built from its manifest config at start-up, then called for requests, queue
/// batches and cron events.
///
/// Conformers override the entry points they support and list them in ``kinds``; the manifest
/// validator checks that a function with routes handles `fetch`, a queue consumer `queue`, and a
/// cron target `scheduled`.
public protocol EdgeFunction: Sendable {
    /// What this handler can be invoked for.
    static var kinds: FunctionKinds { get }

    /// The request body limit when neither the function nor the manifest's top-level `limits`
    /// sets `max_body_bytes` (`nil`: the runtime default, 1 MiB).
    static var defaultMaxBodyBytes: Int? { get }

    /// Validates `config` and builds the handler.
    /// - Throws: ``FunctionConfigError`` naming the config key, reported with its JSON path.
    init(config: FunctionConfig) throws

    /// Answers an HTTP request.
    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse

    /// Consumes a batch from a queue this function is the consumer of.
    func queue(_ batch: MessageBatch, env: Env) async throws

    /// Runs for a cron trigger.
    func scheduled(_ event: ScheduledEvent, env: Env) async throws
}

extension EdgeFunction {
    public static var kinds: FunctionKinds { .fetch }
    public static var defaultMaxBodyBytes: Int? { nil }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        throw EdgeHTTPError(.notFound, "this function does not handle HTTP requests")
    }

    public func queue(_ batch: MessageBatch, env: Env) async throws {
        throw FunctionInvocationError("this function does not consume queues")
    }

    public func scheduled(_ event: ScheduledEvent, env: Env) async throws {
        throw FunctionInvocationError("this function has no scheduled handler")
    }
}

/// The entry points a handler supports.
public struct FunctionKinds: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let fetch = FunctionKinds(rawValue: 1)
    public static let queue = FunctionKinds(rawValue: 2)
    public static let scheduled = FunctionKinds(rawValue: 4)
}

/// A cron trigger.
public struct ScheduledEvent: Sendable {
    /// The schedule that fired, e.g. `*/5 * * * *`.
    public var cron: String
    /// When it was due (unix seconds).
    public var scheduledTime: Double

    public init(cron: String, scheduledTime: Double) {
        self.cron = cron
        self.scheduledTime = scheduledTime
    }
}

/// A handler invoked for something it does not do.
public struct FunctionInvocationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
