import EdgeRuntime
import Foundation
import KVStore
import Queues

/// `twilio.status`: Twilio's message status callback. Verifies `X-Twilio-Signature` (base64
/// HMAC-SHA1 keyed with `TWILIO_AUTH_TOKEN` over the public URL and the sorted POST parameters,
/// the URL tried with and without its default port) against the URL Twilio requested:
/// `config.public_url` + path + query when set, else `X-Forwarded-Proto` (default `http`) ://
/// `X-Forwarded-Host` or `Host` + path + query. 403 when it does not match.
///
/// Then updates KV `sms:<MessageSid>`: `status` = `MessageStatus`, `updated_at`, and
/// `error_code` when Twilio sends one. Callbacks can arrive out of order, so a status never
/// moves back (`queued` → `sending` → `sent` → `delivered`/`undelivered`/`failed` → `read`).
/// Answers 200 `{"received":true}`; 400 without `MessageSid` or `MessageStatus`.
public struct TwilioStatusFunction: EdgeFunction {
    static let tokenSecret = "TWILIO_AUTH_TOKEN"

    let kvBinding: String
    let publicURL: String?

    public init(config: FunctionConfig) throws {
        kvBinding = try config.kvBinding()
        publicURL = try config.string("public_url")
        if let url = publicURL, !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
            throw FunctionConfigError("public_url", "must be an absolute http(s) URL such as https://sms.example.com")
        }
        try config.requireSecret(Self.tokenSecret)
    }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let parameters = request.formParameters
        let token = try env.requiredSecret(Self.tokenSecret)
        do {
            try TwilioSignature.verify(
                url: PublicURL.full(of: request, base: publicURL),
                parameters: parameters,
                signature: request.headers["X-Twilio-Signature"],
                authToken: token
            )
        } catch {
            throw EdgeHTTPError(.forbidden, error.message)
        }
        func parameter(_ name: String) -> String? { parameters.first { $0.name == name }?.value }
        guard let sid = parameter("MessageSid"), !sid.isEmpty, let status = parameter("MessageStatus"), !status.isEmpty else {
            throw EdgeHTTPError(.badRequest, "MessageSid and MessageStatus are required")
        }
        let now = ISO8601Millis.format(Date(timeIntervalSince1970: env.clock.now()))
        try await env.kv(kvBinding).updateRecord("sms:\(sid)") { existing in
            var record = existing ?? [:]
            if let current = record["status"]?.stringValue, Self.rank(status) < Self.rank(current) { return nil }
            record["sid"] = .string(sid)
            if record["to"] == nil, let to = parameter("To") { record["to"] = .string(to) }
            record["status"] = .string(status)
            record["updated_at"] = .string(now)
            if let code = parameter("ErrorCode"), !code.isEmpty { record["error_code"] = .string(code) }
            return record
        }
        return .json(["received": true])
    }

    /// How far along a status is; unknown statuses rank with the final ones.
    static func rank(_ status: String) -> Int {
        switch status {
        case "accepted", "scheduled", "queued": 0
        case "sending": 1
        case "sent": 2
        case "read": 4
        default: 3  // delivered, undelivered, failed, canceled, and anything new
        }
    }
}

extension TwilioStatusFunction: OpenAPIDescribed {
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] {
        var operation = mount.operation(
            summary: "Twilio message status callback",
            description: "X-Twilio-Signature is verified over the public URL and the sorted form parameters."
        )
        operation.parameters = [OpenAPI.parameter("X-Twilio-Signature", in: "header", required: true, description: "base64 HMAC-SHA1")]
        operation.requestBody = OpenAPI.body(
            "application/x-www-form-urlencoded",
            OpenAPI.object(
                [
                    "MessageSid": OpenAPI.string, "MessageStatus": OpenAPI.string, "To": OpenAPI.string, "ErrorCode": OpenAPI.string,
                ],
                required: ["MessageSid", "MessageStatus"]
            )
        )
        operation.responses["200"] = OpenAPI.jsonResponse("recorded", OpenAPI.received)
        operation.errors = [400, 403]
        return [operation]
    }
}
