import EdgeRuntime
import Foundation
import KVStore
import Logging

/// `stripe.payment_intent`: POST `{amount, currency, customer, metadata}` → Stripe
/// `POST /v1/payment_intents`.
///
/// The idempotency key is the client's `Idempotency-Key` header. Without one, every request is a
/// new payment with a fresh key `pi_<customer>_<unix ms>_<random>`, which only `fetch`'s own
/// retries of that call reuse (two identical requests are two payments, as with Stripe's own
/// libraries). Only a client-keyed answer is cached in KV under `stripe:pi:<key>` for
/// `cache_ttl_seconds` (3600): a repeat of that key within the hour is answered from KV without
/// reaching Stripe, and a repeat of it with a different request is refused with 400, as Stripe does.
public struct StripePaymentIntentFunction: EdgeFunction {
    public static var kinds: FunctionKinds { .fetch }

    static let secretName = "STRIPE_API_KEY"

    let kvBinding: String
    let cacheTTL: Int64

    public init(config: FunctionConfig) throws {
        kvBinding = try config.kvBinding()
        cacheTTL = Int64(try config.int("cache_ttl_seconds", default: 3600, in: 60...30 * 86_400))
        try config.requireSecret(Self.secretName)
    }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let intent = try PaymentIntentRequest(request.json())
        let fingerprint = Hex.encode(Crypto.sha256(Array(intent.canonical.utf8)))
        let clientKey = try Self.clientKey(header: request.headers["Idempotency-Key"])
        let idempotencyKey = clientKey ?? Self.freshKey(customer: intent.customer, nowSeconds: env.clock.now())
        let kv = try env.kv(kvBinding)
        let cacheKey = "stripe:pi:\(idempotencyKey)"

        if clientKey != nil, let cached = try await kv.get(cacheKey), let entry = try? JSONValue.parse(cached), let body = entry["response"] {
            guard entry["fingerprint"]?.stringValue == fingerprint else {
                throw EdgeHTTPError(.badRequest, "Idempotency-Key \(idempotencyKey) was already used with a different request")
            }
            return .json(body, headers: ["Idempotency-Key": idempotencyKey, "X-Edge-Cache": "hit"])
        }

        let base = env.variable("STRIPE_API_BASE", default: StripeAPI.defaultBase)!
        var call = FetchRequest(method: "POST", url: Self.trimmed(base) + "/v1/payment_intents", body: intent.formBody)
        call.headers["Authorization"] = "Bearer \(try env.requiredSecret(Self.secretName))"
        call.headers["Stripe-Version"] = StripeAPI.version
        call.headers["Idempotency-Key"] = idempotencyKey
        call.headers["Content-Type"] = "application/x-www-form-urlencoded"
        let response = try await env.fetch(call)  // retried on 429/5xx/network errors: the key makes it safe

        guard response.ok else { return Self.errorResponse(response, requestID: request.requestID, idempotencyKey: idempotencyKey, env: env) }
        guard let body = try? JSONValue.parse(Data(response.body)), body.objectValue != nil else {
            env.logger.error("stripe.payment_intent: Stripe answered 2xx with a body that is not a JSON object")
            throw EdgeHTTPError(.badGateway, "payment provider sent an unreadable answer")
        }
        guard clientKey != nil else { return .json(body, headers: ["Idempotency-Key": idempotencyKey]) }
        let entry: JSONValue = ["fingerprint": .string(fingerprint), "response": body]
        try await kv.put(cacheKey, value: entry.serialized(), options: KVPutOptions(expirationTtl: cacheTTL))
        return .json(body, headers: ["Idempotency-Key": idempotencyKey, "X-Edge-Cache": "miss"])
    }

    /// The client's key (1–255 printable ASCII characters), or `nil` without the header.
    /// - Throws: ``EdgeHTTPError`` 400 for a header that is not a valid key.
    static func clientKey(header: String?) throws -> String? {
        guard let header else { return nil }
        let key = header.trimmingCharacters(in: .whitespaces)
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw EdgeHTTPError(.badRequest, "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces")
        }
        return key
    }

    /// A key for one request without the client's: `pi_<customer>_<unix ms>_<16 random hex>`.
    /// The customer part keeps only ASCII letters, digits, `_` and `-` (at most 64 of them;
    /// `anonymous` without any), so the key is always a valid header value under 255 bytes.
    static func freshKey(customer: String?, nowSeconds: Double) -> String {
        let safe = String(
            String.UnicodeScalarView(
                (customer ?? "").unicodeScalars.filter { c in
                    ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "_" || c == "-"
                }.prefix(64)
            )
        )
        // The clock's value is clamped before it becomes an integer (no trap on a strange clock).
        let millis = nowSeconds.isFinite ? Int64(min(max(nowSeconds * 1000, 0), 9_999_999_999_999).rounded(.down)) : 0
        return "pi_\(safe.isEmpty ? "anonymous" : safe)_\(millis)_\(Hex.encode(Crypto.randomBytes(8)))"
    }

    /// Our answer for a Stripe error: 402/429/400 with Stripe's message, 502 otherwise.
    static func errorResponse(_ response: FetchResponse, requestID: String, idempotencyKey: String, env: Env) -> EdgeResponse {
        let error = StripeAPI.APIError(body: response.body)
        let status = StripeAPI.clientStatus(httpStatus: response.status, error: error)
        env.logger.warning(
            "stripe.payment_intent: Stripe refused",
            metadata: [
                "status": "\(response.status)", "type": "\(error?.type ?? "-")", "code": "\(error?.code ?? "-")",
            ]
        )
        var body: [String: JSONValue] = ["request_id": .string(requestID)]
        if status == 502 {
            body["error"] = "payment provider failed"
        } else {
            body["error"] = .string(error?.message ?? "payment provider refused the request")
            if let type = error?.type { body["type"] = .string(type) }
            if let code = error?.code { body["code"] = .string(code) }
            if let decline = error?.declineCode { body["decline_code"] = .string(decline) }
        }
        var headers: EdgeHeaders = ["Idempotency-Key": idempotencyKey]
        if status == 429, let retryAfter = response.headers["Retry-After"] { headers["Retry-After"] = retryAfter }
        return .json(.object(body), status: status, headers: headers)
    }

    static func trimmed(_ base: String) -> String {
        var b = base
        while b.hasSuffix("/") { b.removeLast() }
        return b
    }
}

/// A validated payment-intent request.
struct PaymentIntentRequest {
    var amount: Int64
    var currency: String
    var customer: String?
    /// Sorted by key.
    var metadata: [(String, String)]

    /// - Throws: ``EdgeHTTPError`` 400 naming the first problem.
    init(_ json: JSONValue) throws {
        guard json.objectValue != nil else { throw EdgeHTTPError(.badRequest, "body must be a JSON object") }
        // In the currency's smallest unit; Stripe's own ceiling is eight digits.
        guard let amountValue = json["amount"], amountValue.doubleValue != nil else {
            throw EdgeHTTPError(.badRequest, "amount must be a positive integer (in the currency's smallest unit)")
        }
        let amount = try amountValue.integer(field: "amount", in: 1...Self.maxAmount)
        guard let currency = json["currency"]?.stringValue, currency.utf8.count == 3,
            currency.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("A"..."Z").contains($0) })
        else { throw EdgeHTTPError(.badRequest, "currency must be a 3-letter ISO code") }
        self.amount = amount
        self.currency = currency.lowercased()
        switch json["customer"] {
        case nil, .null?: customer = nil
        case .string(let c)? where !c.isEmpty && c.utf8.count <= 255: customer = c
        default: throw EdgeHTTPError(.badRequest, "customer must be a Stripe customer id")
        }
        switch json["metadata"] {
        case nil, .null?: metadata = []
        case .object(let o)?:
            guard o.count <= 50 else { throw EdgeHTTPError(.badRequest, "metadata has more than 50 keys") }
            metadata = try o.keys.sorted().map { key in
                guard (1...40).contains(key.count), !key.contains("["), !key.contains("]") else {
                    throw EdgeHTTPError(.badRequest, "metadata keys must be 1 to 40 characters without brackets")
                }
                let value: String
                switch o[key]! {
                case .string(let s): value = s
                case .integer(let i): value = String(i)
                case .number(let d): value = String(d)
                case .bool(let b): value = String(b)
                default: throw EdgeHTTPError(.badRequest, "metadata.\(key) must be a string")
                }
                guard value.count <= 500 else { throw EdgeHTTPError(.badRequest, "metadata.\(key) is longer than 500 characters") }
                return (key, value)
            }
        case let other?: throw EdgeHTTPError(.badRequest, "metadata must be an object, not \(other.typeName)")
        }
    }

    /// The largest `amount` Stripe accepts (99,999,999 in the smallest unit).
    static let maxAmount: Int64 = 99_999_999

    /// The form body Stripe receives: `amount=…&currency=…&customer=…&metadata[k]=v`.
    var formBody: String {
        var pairs: [(String, String)] = [("amount", String(amount)), ("currency", currency)]
        if let customer { pairs.append(("customer", customer)) }
        for (key, value) in metadata { pairs.append(("metadata[\(key)]", value)) }
        return StripeAPI.formBody(pairs)
    }

    /// A canonical text of the request, hashed to detect a client's key reused with a different
    /// request.
    var canonical: String { formBody }
}

extension StripePaymentIntentFunction: OpenAPIDescribed {
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] {
        var operation = mount.operation(
            summary: "Create a Stripe PaymentIntent",
            description: "A client Idempotency-Key makes a repeat answer from the cache (X-Edge-Cache: hit)."
        )
        operation.parameters = [
            OpenAPI.parameter(
                "Idempotency-Key",
                in: "header",
                ["type": "string", "minLength": 1, "maxLength": 255],
                description: "1–255 printable ASCII characters"
            )
        ]
        operation.requestBody = OpenAPI.jsonBody(
            OpenAPI.object(
                [
                    "amount": ["type": "integer", "minimum": 1, "maximum": .integer(PaymentIntentRequest.maxAmount)],
                    "currency": ["type": "string", "pattern": "^[A-Za-z]{3}$"],
                    "customer": ["type": ["string", "null"], "minLength": 1, "maxLength": 255],
                    "metadata": [
                        "type": ["object", "null"], "maxProperties": 50,
                        "propertyNames": ["minLength": 1, "maxLength": 40, "pattern": "^[^\\[\\]]*$"],
                        "additionalProperties": ["type": ["string", "number", "boolean"], "maxLength": 500],
                    ],
                ],
                required: ["amount", "currency"]
            )
        )
        operation.responses["200"] = OpenAPI.jsonResponse(
            "Stripe's PaymentIntent",
            OpenAPI.object(["id": OpenAPI.string, "client_secret": OpenAPI.string, "status": OpenAPI.string], required: ["id"]),
            headers: [
                "Idempotency-Key": OpenAPI.header("the key sent to Stripe"), "X-Edge-Cache": OpenAPI.header("hit or miss (client-keyed requests)"),
            ]
        )
        operation.errors = [400, 402, 429, 502, 504]
        return [operation]
    }
}
