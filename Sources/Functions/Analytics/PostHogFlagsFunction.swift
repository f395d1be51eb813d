import EdgeRuntime
import Foundation
import KVStore

/// `posthog.flags`: POST `{distinct_id}` → 200 `{"flags": {key: true | false | "variant"}}` from
/// `POST {POSTHOG_HOST}/flags?v=2` (config `endpoint: "decide"`: `POST /decide/?v=3`), cached in
/// KV as `flags:<distinct_id>` for 300 s. A provider failure is 502 (nothing cached).
public struct PostHogFlagsFunction: EdgeFunction {
    public static let kinds: FunctionKinds = .fetch
    static let cacheSeconds: Int64 = 300
    let kvBinding: String
    let decide: Bool
    let usage: UsageTracker?

    public init(config: FunctionConfig) throws {
        try config.requireSecret("POSTHOG_API_KEY")
        kvBinding = try config.kvBinding()
        usage = try UsageTracker.from(config)
        switch try config.string("endpoint") ?? "flags" {
        case "flags": decide = false
        case "decide": decide = true
        default: throw FunctionConfigError("endpoint", "must be \"flags\" or \"decide\"")
        }
    }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let body = try request.json()
        guard let distinctID = body["distinct_id"]?.stringValue ?? request.claims?["sub"]?.stringValue, !distinctID.isEmpty else {
            throw EdgeHTTPError(.badRequest, "distinct_id must be a non-empty string")
        }
        let kv = try env.kv(kvBinding)
        let key = distinctID.utf8.count <= 400 ? "flags:\(distinctID)" : "flags:sha256:" + Hex.encode(Crypto.sha256(distinctID))
        if let cached = try await kv.getJSON(key, as: JSONValue.self) { return .json(["flags": cached]) }
        let flags = try await fetchFlags(distinctID: distinctID, env: env)
        try await kv.putJSON(key, flags, options: KVPutOptions(expirationTtl: Self.cacheSeconds))
        return .json(["flags": flags])
    }

    private func fetchFlags(distinctID: String, env: Env) async throws -> JSONValue {
        let path = decide ? "/decide/?v=3" : "/flags?v=2"
        let payload: JSONValue = ["api_key": .string(try env.requiredSecret("POSTHOG_API_KEY")), "distinct_id": .string(distinctID)]
        var req = FetchRequest(
            method: "POST",
            url: AnalyticsPayloads.posthogHost(env) + path,
            headers: ["Content-Type": "application/json"],
            body: Array(payload.serialized())
        )
        req.timeout = .seconds(10)
        let response = try await env.fetch(req)
        await usage?.record(service: "posthog", operation: "flags", count: 1, env: env)
        guard response.ok, let json = try? JSONValue.parse(Data(response.body)) else {
            throw EdgeHTTPError(.badGateway, "PostHog flags request failed (HTTP \(response.status))")
        }
        return Self.simplify(json, decide: decide)
    }

    /// `{flags: {key: {enabled, variant}}}` (v2) or `{featureFlags: {key: value}}` (decide) → `{key: bool | variant}`.
    static func simplify(_ json: JSONValue, decide: Bool) -> JSONValue {
        var out: [String: JSONValue] = [:]
        if decide {
            for (key, value) in json["featureFlags"]?.objectValue ?? [:] {
                out[key] = value.stringValue.map { .string($0) } ?? .bool(value.boolValue ?? false)
            }
        } else {
            for (key, flag) in json["flags"]?.objectValue ?? [:] {
                let enabled = flag["enabled"]?.boolValue ?? false
                if enabled, let variant = flag["variant"]?.stringValue { out[key] = .string(variant) } else { out[key] = .bool(enabled) }
            }
        }
        return .object(out)
    }
}

extension PostHogFlagsFunction: OpenAPIDescribed {
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] {
        var operation = mount.operation(summary: "Feature flags of a user (cached 300 s)")
        // Without `auth` there is no token subject to fall back on: distinct_id is required.
        operation.requestBody = OpenAPI.jsonBody(
            OpenAPI.object(
                ["distinct_id": ["type": "string", "minLength": 1]],
                required: mount.function.auth == nil ? ["distinct_id"] : []
            )
        )
        let flags = ["type": "object", "additionalProperties": ["type": ["boolean", "string"]]] as JSONValue
        operation.responses["200"] = OpenAPI.jsonResponse("flag → enabled or variant", OpenAPI.object(["flags": flags], required: ["flags"]))
        operation.errors = [400, 502, 504]
        return [operation]
    }
}
