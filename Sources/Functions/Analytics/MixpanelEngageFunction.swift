import EdgeRuntime
import Foundation
import KVStore

/// `mixpanel.engage`: POST `{distinct_id, set: {…}}` → `POST {MIXPANEL_API_BASE}/engage` with
/// `[{$token, $distinct_id, $time, $set}]` in the SDK's form body; 200 `{"status": 1}` once
/// Mixpanel accepted it, 502 when it did not (nothing is buffered: the caller sees the outcome).
public struct MixpanelEngageFunction: EdgeFunction {
    public static let kinds: FunctionKinds = .fetch

    let usage: UsageTracker?

    public init(config: FunctionConfig) throws {
        try config.requireSecret("MIXPANEL_TOKEN")
        usage = try UsageTracker.from(config)
    }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let body = try request.json()
        guard let distinctID = body["distinct_id"]?.stringValue ?? request.claims?["sub"]?.stringValue, !distinctID.isEmpty else {
            throw EdgeHTTPError(.badRequest, "distinct_id must be a non-empty string")
        }
        guard let set = body["set"]?.objectValue ?? body["$set"]?.objectValue, !set.isEmpty else {
            throw EdgeHTTPError(.badRequest, "set must be a non-empty object")
        }
        let update: JSONValue = [
            "$token": .string(try env.requiredSecret("MIXPANEL_TOKEN")), "$distinct_id": .string(distinctID),
            "$time": .integer(Int64((env.clock.now() * 1000).rounded(.down))), "$set": .object(set),
        ]
        switch await AnalyticsPayloads.send(kind: .mixpanelEngage, items: [update], env: env) {
        case .sent:
            await usage?.record(service: "mixpanel", operation: "engage", count: 1, env: env)
            return .json(["status": 1])
        case .retry(let reason, _), .reject(let reason):
            throw EdgeHTTPError(.badGateway, "Mixpanel did not accept the profile update (\(reason))")
        }
    }
}

extension MixpanelEngageFunction: OpenAPIDescribed {
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] {
        var operation = mount.operation(summary: "Set Mixpanel profile properties")
        operation.requestBody = OpenAPI.jsonBody(
            OpenAPI.object(
                [
                    "distinct_id": ["type": "string", "minLength": 1],
                    "set": ["type": "object", "minProperties": 1],
                ],
                required: mount.function.auth == nil ? ["distinct_id", "set"] : ["set"]
            )
        )
        operation.responses["200"] = OpenAPI.jsonResponse("accepted by Mixpanel", OpenAPI.object(["status": OpenAPI.integer], required: ["status"]))
        operation.errors = [400, 502]
        return [operation]
    }
}
