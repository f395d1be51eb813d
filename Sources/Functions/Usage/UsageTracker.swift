import EdgeRuntime
import Foundation
import KVStore
import Logging
import Queues

/// Cost control (the cookbook's usage tracking): per-service, per-operation, per-day counters in
/// KV, `usage:<service>:<operation>:<YYYY-MM-DD>` (7-day TTL), and one warning email per
/// service per day once a counter reaches 80 % of the configured free-tier daily limit.
///
/// Configured per function under `config.usage`:
/// `{"kv": "KV", "daily_limit": 100000, "warn_queue": "email", "warn_to": "ops@example.com"}`
/// (`kv` defaults to the only binding; without `daily_limit` it only counts). The warning is a
/// message in `resend.send`'s shape `{to, subject, template: "usage-warning", data}`.
public struct UsageTracker: Sendable {
    public static let ttlSeconds: Int64 = 7 * 86_400
    public static let warnRatio = 0.8
    let kvBinding: String
    let dailyLimit: Int64?
    let warnQueue: String?
    let warnTo: String?

    /// The tracker of `config.usage`, or nil when the function has none.
    /// - Throws: ``FunctionConfigError`` naming `usage.<key>`.
    public static func from(_ config: FunctionConfig) throws -> UsageTracker? {
        guard let value = config["usage"], !value.isNull else { return nil }
        guard let o = value.objectValue else { throw FunctionConfigError("usage", "must be an object") }
        for key in o.keys where !["kv", "daily_limit", "warn_queue", "warn_to"].contains(key) {
            throw FunctionConfigError("usage.\(key)", "unknown key")
        }
        let sub = FunctionConfig(functionName: config.functionName, values: o, declarations: config.declarations)
        do throws(FunctionConfigError) {
            let limit = try sub.int("daily_limit", default: 0, in: 0...Int(Int32.max))
            let queue = try sub.queue("warn_queue", required: false)
            let to = try sub.string("warn_to")
            if queue != nil && to == nil { throw FunctionConfigError("warn_to", "is required with warn_queue") }
            return UsageTracker(kvBinding: try sub.kvBinding(), dailyLimit: limit > 0 ? Int64(limit) : nil, warnQueue: queue, warnTo: to)
        } catch {
            throw FunctionConfigError("usage." + (error.key ?? ""), error.message)
        }
    }

    /// The counter key of `service`/`operation` on the UTC day of `now`.
    static func key(service: String, operation: String, now: Double) -> String {
        "usage:\(service):\(operation):\(day(now))"
    }

    static func day(_ now: Double) -> String { String(ISO8601Millis.format(Date(timeIntervalSince1970: now)).prefix(10)) }

    /// Adds `count` to today's counter; enqueues the day's warning when it crosses 80 % of the limit.
    /// Failures are logged: usage accounting never fails the call it accounts for.
    public func record(service: String, operation: String, count: Int, env: Env) async {
        guard count > 0 else { return }
        let now = env.clock.now()
        do {
            let kv = try env.kv(kvBinding)
            let total = try await kv.increment(
                Self.key(service: service, operation: operation, now: now),
                by: Int64(count),
                expirationTtl: Self.ttlSeconds
            )
            guard let limit = dailyLimit else { return }
            let threshold = Int64((Double(limit) * Self.warnRatio).rounded(.up))
            guard total >= threshold, total - Int64(count) < threshold else { return }
            // One warning per service per day, even when several operations or processes cross at once.
            let marker = "usage-warned:\(service):\(Self.day(now))"
            let result = try await kv.compareAndSet(
                marker,
                value: Data("1".utf8),
                expectedVersion: nil,
                options: KVPutOptions(expirationTtl: Self.ttlSeconds)
            )
            guard case .stored = result else { return }
            env.logger.warning(
                "usage at 80% of the daily limit",
                metadata: ["service": "\(service)", "operation": "\(operation)", "count": "\(total)", "limit": "\(limit)"]
            )
            guard let warnQueue, let warnTo else { return }
            let message: JSONValue = [
                "to": .string(warnTo), "subject": .string("\(service) usage at \(Int(Self.warnRatio * 100))% of its daily limit"),
                "template": "usage-warning",
                "data": [
                    "service": .string(service), "operation": .string(operation), "count": .integer(total), "limit": .integer(limit),
                    "day": .string(Self.day(now)),
                ],
            ]
            _ = try await env.queue(warnQueue).send(body: message.serialized(), contentType: .json)
        } catch {
            env.logger.error("usage tracking failed", metadata: ["service": "\(service)", "operation": "\(operation)", "error": "\(error)"])
        }
    }
}
