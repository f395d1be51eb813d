import EdgeRuntime
import Foundation
import KVStore
import Queues

/// `twilio.sms`: `POST {to, body}` → at most `rate_limit_per_hour` (5) messages per number per
/// hour → Twilio `POST {TWILIO_API_BASE}/2010-04-01/Accounts/{sid}/Messages.json` (form
/// `To`/`From`/`Body`/`StatusCallback`, Basic auth `sid:token`) → 201 `{sid, status}` and KV
/// `sms:<sid>` `{sid, to, from, body, status, sent_at, updated_at}`.
///
/// Answers 400 for a `to` that is not E.164 or a `body` that is empty or over 1600 characters
/// (UTF-16 code units, Twilio's count), without calling Twilio; 429 with `Retry-After` (seconds
/// to the end of the number's window) past the limit; Twilio's own error JSON as 400 with its
/// message when Twilio refuses the message (4xx), 429 when Twilio rate-limits, 502 otherwise.
/// A message Twilio refused does not count against the limit.
///
/// `status_callback` (optional config): the `StatusCallback` URL; a path (`/twilio/status`) is
/// resolved against this request's public origin (`X-Forwarded-Proto`/`X-Forwarded-Host`/`Host`).
public struct TwilioSMSFunction: EdgeFunction {
    static let sidSecret = "TWILIO_ACCOUNT_SID"
    static let tokenSecret = "TWILIO_AUTH_TOKEN"
    static let defaultAPIBase = "https://api.twilio.com"
    static let maxBodyLength = 1600

    let kvBinding: String
    let limiter: SMSRateLimiter
    let from: String
    let statusCallback: String?

    public init(config: FunctionConfig) throws {
        kvBinding = try config.kvBinding()
        limiter = SMSRateLimiter(limit: try config.int("rate_limit_per_hour", default: 5, in: 1...1_000_000), windowSeconds: 3600)
        try config.requireSecret(Self.sidSecret)
        try config.requireSecret(Self.tokenSecret)
        guard let from = config.declarations.vars["TWILIO_FROM_NUMBER"] else {
            throw FunctionConfigError(nil, "this handler needs var \"TWILIO_FROM_NUMBER\" (an E.164 number such as +15557654321)")
        }
        self.from = from
        statusCallback = try config.string("status_callback")
        if let callback = statusCallback, !callback.hasPrefix("/"), !callback.hasPrefix("https://"), !callback.hasPrefix("http://") {
            throw FunctionConfigError("status_callback", "must be an absolute http(s) URL or a path starting with /")
        }
    }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let json = try request.json()
        guard let to = json["to"]?.stringValue, PhoneNumber.isE164(to) else {
            throw EdgeHTTPError(.badRequest, "to must be a phone number in E.164 form, e.g. +14155552671")
        }
        guard let body = json["body"]?.stringValue, !body.isEmpty else { throw EdgeHTTPError(.badRequest, "body is required") }
        guard body.utf16.count <= Self.maxBodyLength else {
            throw EdgeHTTPError(.badRequest, "body is \(body.utf16.count) characters, over Twilio's \(Self.maxBodyLength)")
        }
        let kv = try env.kv(kvBinding)
        if case .limited(let retryAfter) = try await limiter.acquire(to, kv: kv, clock: env.clock) {
            throw EdgeHTTPError(
                .tooManyRequests,
                "at most \(limiter.limit) messages per hour to \(to)",
                headers: ["Retry-After": String(retryAfter)]
            )
        }
        let response: FetchResponse
        do {
            response = try await env.fetch(twilioRequest(to: to, body: body, incoming: request, env: env))
        } catch let error as FetchError {
            throw EdgeHTTPError(error.suggestedStatus, error.code == .timeout ? "Twilio timed out" : "Twilio could not be reached")
        }
        let answer = try? JSONValue.parse(Data(response.body))
        guard response.ok, let sid = answer?["sid"]?.stringValue else {
            await limiter.release(to, kv: kv)
            throw Self.error(for: response, json: answer)
        }
        let status = answer?["status"]?.stringValue ?? "queued"
        let now = ISO8601Millis.format(Date(timeIntervalSince1970: env.clock.now()))
        try await kv.updateRecord("sms:\(sid)") { existing in
            var record = existing ?? [:]
            record["sid"] = .string(sid)
            record["to"] = .string(to)
            record["from"] = .string(from)
            record["body"] = .string(body)
            record["sent_at"] = .string(now)
            if record["status"] == nil { record["status"] = .string(status) }  // a status callback may have come first
            if record["updated_at"] == nil { record["updated_at"] = .string(now) }
            return record
        }
        return .json(["sid": .string(sid), "status": .string(status)], status: 201)
    }

    private func twilioRequest(to: String, body: String, incoming: EdgeRequest, env: Env) throws -> FetchRequest {
        let sid = try env.requiredSecret(Self.sidSecret)
        let token = try env.requiredSecret(Self.tokenSecret)
        var base = env.variable("TWILIO_API_BASE") ?? Self.defaultAPIBase
        while base.hasSuffix("/") { base.removeLast() }
        var form = [("To", to), ("From", from), ("Body", body)]
        if let callback = statusCallback {
            form.append(("StatusCallback", callback.hasPrefix("/") ? PublicURL.origin(of: incoming) + callback : callback))
        }
        var request = FetchRequest(
            method: "POST",
            url: "\(base)/2010-04-01/Accounts/\(FormEncoding.escape(sid))/Messages.json",
            body: FormEncoding.encode(form)
        )
        request.headers["Authorization"] = "Basic " + Base64.encode("\(sid):\(token)")
        request.headers["Content-Type"] = "application/x-www-form-urlencoded"
        request.headers["Accept"] = "application/json"
        request.maxAttempts = 1  // a POST without an idempotency key: never sent twice
        return request
    }

    /// Twilio's refusal as the answer: its `message` (and `code`) with 400 for a refused message,
    /// 429 (with `Retry-After` when given) for its rate limit, 502 for anything else.
    static func error(for response: FetchResponse, json: JSONValue?) -> EdgeHTTPError {
        var message = json?["message"]?.stringValue ?? "Twilio answered \(response.status)"
        if let code = json?["code"]?.intValue { message += " (Twilio error \(code))" }
        switch response.status {
        case 429:
            var headers = EdgeHeaders()
            if let after = response.headers["Retry-After"] { headers["Retry-After"] = after }
            return EdgeHTTPError(.tooManyRequests, message, headers: headers)
        case 400, 404, 422:
            return EdgeHTTPError(.badRequest, message)
        default:
            return EdgeHTTPError(.badGateway, message)
        }
    }
}

/// Phone number syntax.
enum PhoneNumber {
    /// E.164: `+`, a non-zero digit, then up to 14 more digits (2 to 15 digits in all).
    static func isE164(_ text: String) -> Bool {
        let digits = text.utf8.dropFirst()
        return text.utf8.first == UInt8(ascii: "+") && (2...15).contains(digits.count)
            && digits.first != UInt8(ascii: "0") && digits.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }
}

/// The public address of a request behind proxies, as Twilio saw it.
enum PublicURL {
    /// `scheme://host`: the scheme from `X-Forwarded-Proto` (default `http`), the host from
    /// `X-Forwarded-Host`, else `Host` (the first value of a comma-separated list).
    static func origin(of request: EdgeRequest) -> String {
        func first(_ name: String) -> String? {
            guard let value = request.headers[name] else { return nil }
            let item = value.split(separator: ",", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            return item.isEmpty ? nil : item
        }
        let scheme = first("X-Forwarded-Proto")?.lowercased() ?? "http"
        let host = first("X-Forwarded-Host") ?? first("Host") ?? "localhost"
        return "\(scheme)://\(host)"
    }

    /// The full URL of `request`: `base` (a configured public URL, trailing `/` ignored) or the
    /// request's origin, then the path and the raw query string.
    static func full(of request: EdgeRequest, base: String?) -> String {
        var prefix = base ?? origin(of: request)
        while prefix.hasSuffix("/") { prefix.removeLast() }
        return prefix + request.path + (request.query.isEmpty ? "" : "?" + request.query)
    }
}

extension TwilioSMSFunction: OpenAPIDescribed {
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] {
        var operation = mount.operation(
            summary: "Send an SMS through Twilio",
            description: "At most config.rate_limit_per_hour messages per number an hour."
        )
        operation.requestBody = OpenAPI.jsonBody(
            OpenAPI.object(
                [
                    "to": ["type": "string", "pattern": "^\\+[1-9][0-9]{1,14}$", "description": "E.164"],
                    "body": ["type": "string", "minLength": 1, "maxLength": .integer(Int64(maxBodyLength))],
                ],
                required: ["to", "body"]
            )
        )
        operation.responses["201"] = OpenAPI.jsonResponse(
            "accepted by Twilio",
            OpenAPI.object(
                ["sid": OpenAPI.string, "status": OpenAPI.string],
                required: ["sid", "status"]
            )
        )
        operation.responses["429"] = [
            "description": "over the rate limit",
            "headers": ["Retry-After": OpenAPI.header("seconds", OpenAPI.integer)],
            "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]],
        ]
        operation.errors = [400, 502, 504]
        return [operation]
    }
}
