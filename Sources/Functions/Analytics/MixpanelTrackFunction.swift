import EdgeRuntime
import Foundation
import KVStore

/// `mixpanel.track`: POST one event `{event, distinct_id, properties}` or an array → 202
/// `{accepted: N}`; events are buffered and sent to `{MIXPANEL_API_BASE}/track` every
/// `flush_at` (10) events or `flush_interval_seconds` (5). Also the analytics middleware's
/// receiver for functions with `"analytics": "mixpanel"`.
public struct MixpanelTrackFunction: EdgeFunction, FunctionLifecycle, RequestAnalyticsSink {
    public static let kinds: FunctionKinds = .fetch
    public let flushIntervalSeconds: Double
    public var analyticsProvider: String { "mixpanel" }
    let batcher: AnalyticsBatcher

    public init(config: FunctionConfig) throws {
        try config.requireSecret("MIXPANEL_TOKEN")
        let flushAt = try config.int("flush_at", default: 10, in: 1...AnalyticsPayloads.mixpanelMaxBatch)
        flushIntervalSeconds = try config.double("flush_interval_seconds", default: 5, in: 0.05...3600)
        batcher = AnalyticsBatcher(
            kind: .mixpanelTrack,
            flushAt: flushAt,
            maxBatch: AnalyticsPayloads.mixpanelMaxBatch,
            queue: try config.queue("queue", required: false),
            maxBuffered: try config.int("max_buffered", default: 10_000, in: 100...1_000_000),
            usage: try UsageTracker.from(config)
        )
    }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let token = try env.requiredSecret("MIXPANEL_TOKEN")
        let inputs = try AnalyticsPayloads.inputEvents(try request.json())
        let now = Int64((env.clock.now() * 1000).rounded(.down))
        let user = request.claims?["sub"]?.stringValue
        var events: [JSONValue] = []
        events.reserveCapacity(inputs.count)
        for (i, input) in inputs.enumerated() {
            let parsed = try AnalyticsPayloads.parseInput(input, index: i)
            events.append(
                AnalyticsPayloads.mixpanelEvent(
                    name: parsed.event,
                    distinctID: parsed.distinctID ?? user,
                    properties: parsed.properties,
                    token: token,
                    nowMillis: now
                )
            )
        }
        await batcher.add(events, env: env)
        return .json(["accepted": .integer(Int64(events.count))], status: 202)
    }

    public func flush(env: Env) async { await batcher.flush(env: env) }

    public func record(_ event: RequestAnalyticsEvent, env: Env) {
        let now = Int64((env.clock.now() * 1000).rounded(.down))
        batcher.record(
            [
                AnalyticsPayloads.mixpanelEvent(
                    name: "api_request",
                    distinctID: event.userID,
                    properties: event.properties,
                    token: env.secret("MIXPANEL_TOKEN") ?? "",
                    nowMillis: now
                )
            ],
            env: env
        )
    }
}

/// `posthog.capture`: as `mixpanel.track`, sent to `{POSTHOG_HOST}/batch/` every `flush_at` (20)
/// events or `flush_interval_seconds` (10); the receiver for `"analytics": "posthog"`.
public struct PostHogCaptureFunction: EdgeFunction, FunctionLifecycle, RequestAnalyticsSink {
    public static let kinds: FunctionKinds = .fetch
    public let flushIntervalSeconds: Double
    public var analyticsProvider: String { "posthog" }
    let batcher: AnalyticsBatcher

    public init(config: FunctionConfig) throws {
        try config.requireSecret("POSTHOG_API_KEY")
        let flushAt = try config.int("flush_at", default: 20, in: 1...AnalyticsPayloads.posthogMaxBatch)
        flushIntervalSeconds = try config.double("flush_interval_seconds", default: 10, in: 0.05...3600)
        batcher = AnalyticsBatcher(
            kind: .posthogCapture,
            flushAt: flushAt,
            maxBatch: AnalyticsPayloads.posthogMaxBatch,
            queue: try config.queue("queue", required: false),
            maxBuffered: try config.int("max_buffered", default: 10_000, in: 100...1_000_000),
            usage: try UsageTracker.from(config)
        )
    }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let inputs = try AnalyticsPayloads.inputEvents(try request.json())
        let now = env.clock.now()
        let user = request.claims?["sub"]?.stringValue
        var events: [JSONValue] = []
        events.reserveCapacity(inputs.count)
        for (i, input) in inputs.enumerated() {
            let parsed = try AnalyticsPayloads.parseInput(input, index: i)
            let given = input["timestamp"]?.stringValue
            let uuid = input["uuid"]?.stringValue.flatMap { UUID(uuidString: $0) != nil ? $0.lowercased() : nil }
            events.append(
                AnalyticsPayloads.posthogEvent(
                    name: parsed.event,
                    distinctID: parsed.distinctID ?? user,
                    properties: parsed.properties,
                    now: now,
                    timestamp: given,
                    uuid: uuid
                )
            )
        }
        await batcher.add(events, env: env)
        return .json(["accepted": .integer(Int64(events.count))], status: 202)
    }

    public func flush(env: Env) async { await batcher.flush(env: env) }

    public func record(_ event: RequestAnalyticsEvent, env: Env) {
        batcher.record(
            [
                AnalyticsPayloads.posthogEvent(
                    name: "api_request",
                    distinctID: event.userID,
                    properties: event.properties,
                    now: env.clock.now()
                )
            ],
            env: env
        )
    }
}

extension RequestAnalyticsEvent {
    /// `{path, method, status, duration, userId, ip}` (duration in milliseconds).
    var properties: [String: JSONValue] {
        var p: [String: JSONValue] = [
            "path": .string(path), "method": .string(method), "status": .integer(Int64(status)),
            "duration": .number((durationMs * 1000).rounded() / 1000),
        ]
        if let userID { p["userId"] = .string(userID) }
        if let ip { p["ip"] = .string(ip) }
        return p
    }
}

/// `mixpanel.track`'s and `posthog.capture`'s request: one event or an array of 1–1000.
enum AnalyticsOpenAPI {
    static func capture(_ mount: OpenAPIMount, provider: String) -> [OpenAPIOperation] {
        var operation = mount.operation(summary: "Track events (buffered, sent to \(provider) in batches)")
        let event = OpenAPI.object(
            [
                "event": ["type": "string", "minLength": 1], "distinct_id": ["type": ["string", "integer", "null"]],
                "properties": ["type": ["object", "null"]],
            ],
            required: ["event"]
        )
        operation.requestBody = OpenAPI.jsonBody(["oneOf": [event, OpenAPI.array(event, minItems: 1, maxItems: 1000)]])
        operation.responses["202"] = OpenAPI.jsonResponse("buffered", OpenAPI.object(["accepted": OpenAPI.integer], required: ["accepted"]))
        operation.errors = [400]
        return [operation]
    }
}

extension MixpanelTrackFunction: OpenAPIDescribed {
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] { AnalyticsOpenAPI.capture(mount, provider: "Mixpanel") }
}

extension PostHogCaptureFunction: OpenAPIDescribed {
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] { AnalyticsOpenAPI.capture(mount, provider: "PostHog") }
}
