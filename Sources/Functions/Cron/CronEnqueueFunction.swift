import EdgeRuntime
import Foundation
import Queues

/// `cron.enqueue`: on each cron trigger, sends `config.body` (an object) plus `scheduled_time`
/// (ISO 8601 UTC with milliseconds) to `config.queue`.
public struct CronEnqueueFunction: EdgeFunction {
    public static var kinds: FunctionKinds { .scheduled }

    let queue: String
    let body: [String: JSONValue]

    public init(config: FunctionConfig) throws {
        queue = try config.queue("queue")!
        switch config["body"] {
        case nil, .null?: body = [:]
        case .object(let o)?: body = o
        case let other?: throw FunctionConfigError("body", "must be an object, not \(other.typeName)")
        }
    }

    public func scheduled(_ event: ScheduledEvent, env: Env) async throws {
        var message = body
        message["scheduled_time"] = .string(ISO8601Millis.format(Date(timeIntervalSince1970: event.scheduledTime)))
        _ = try await env.queue(queue).send(body: JSONValue.object(message).serialized(), contentType: .json)
    }
}
