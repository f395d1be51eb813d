import EdgeRuntime
import Foundation
import KVStore
import Logging
import Queues

/// `resend.webhook`: Resend's delivery events, Svix-signed with `RESEND_WEBHOOK_SECRET`
/// (`svix-id` / `svix-timestamp` / `svix-signature`, 5 minutes tolerance). An `email.*` event
/// updates KV `email:<data.email_id>`: `status` becomes the event name without `email.`
/// (`delivered`, `bounced`, `complained`, `opened`, …), with `updated_at` and the event's time
/// in `status_at`; an event older than the one already recorded leaves the status alone, so
/// late deliveries cannot turn `bounced` back into `delivered`. Answers 200
/// `{"received":true}` (also for events it does not record), 400 on a bad signature.
public struct ResendWebhookFunction: EdgeFunction {
    static let secretName = "RESEND_WEBHOOK_SECRET"

    let kvBinding: String

    public init(config: FunctionConfig) throws {
        kvBinding = try config.kvBinding()
        try config.requireSecret(Self.secretName)
    }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        _ = try SvixWebhook.verify(request, env: env, secretName: Self.secretName)
        let event = try request.json()
        guard let type = event["type"]?.stringValue, type.hasPrefix("email."),
            let emailID = event["data"]?["email_id"]?.stringValue, !emailID.isEmpty
        else {
            env.logger.debug("resend webhook event not recorded", metadata: ["type": "\(event["type"]?.stringValue ?? "?")"])
            return .json(["received": true])
        }
        let now = ISO8601Millis.format(Date(timeIntervalSince1970: env.clock.now()))
        let eventTime = event["created_at"]?.stringValue ?? event["data"]?["created_at"]?.stringValue ?? now
        try await env.kv(kvBinding).updateRecord("email:\(emailID)") { existing in
            Self.apply(type: type, data: event["data"] ?? .null, eventTime: eventTime, now: now, to: existing)
        }
        return .json(["received": true])
    }

    /// The record after an event (`nil`: unchanged because a later event is already recorded).
    static func apply(
        type: String,
        data: JSONValue,
        eventTime: String,
        now: String,
        to existing: [String: JSONValue]?
    ) -> [String: JSONValue]? {
        var record = existing ?? [:]
        if let previous = record["status_at"]?.stringValue, let new = parseTime(eventTime), let old = parseTime(previous), new < old {
            return nil
        }
        let emailID = data["email_id"]?.stringValue ?? ""
        record["id"] = .string(emailID)
        if record["to"] == nil, let to = data["to"] { record["to"] = to }
        if record["subject"] == nil, let subject = data["subject"] { record["subject"] = subject }
        record["status"] = .string(String(type.dropFirst("email.".count)))
        record["status_at"] = .string(eventTime)
        record["updated_at"] = .string(now)
        if let bounce = data["bounce"], !bounce.isNull { record["bounce"] = bounce }
        return record
    }

    /// Parses Resend's ISO 8601 times (with or without fractional seconds).
    static func parseTime(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle())
    }
}

extension ResendWebhookFunction: OpenAPIDescribed {
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] {
        WebhookOpenAPI.intake(
            mount,
            summary: "Resend delivery events (Svix-signed) into email:<id>",
            headers: WebhookOpenAPI.svixHeaders,
            event: OpenAPI.object([
                "type": OpenAPI.string, "created_at": OpenAPI.string,
                "data": OpenAPI.object(["email_id": OpenAPI.string]),
            ])
        )
    }
}
