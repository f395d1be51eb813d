import EdgeRuntime
import Foundation

/// What the Stripe handlers share: the pinned API version, the default base URL, the form
/// encoding Stripe's libraries use, and the mapping of Stripe's error JSON to our statuses.
enum StripeAPI {
    /// The API version every call pins with `Stripe-Version`, so an account's default version
    /// changing in the Dashboard cannot change the shapes we parse.
    static let version = "2024-06-20"

    /// The real API, used when the manifest sets no `STRIPE_API_BASE` var.
    static let defaultBase = "https://api.stripe.com"

    /// `application/x-www-form-urlencoded` as stripe-node sends it: values percent-encoded, the
    /// brackets of nested keys (`metadata[order_id]`) left literal.
    static func formBody(_ pairs: [(String, String)]) -> String {
        pairs.map { name, value in
            let key = FormEncoding.escape(name).replacingOccurrences(of: "%5B", with: "[").replacingOccurrences(of: "%5D", with: "]")
            return "\(key)=\(FormEncoding.escape(value))"
        }.joined(separator: "&")
    }

    /// Stripe's error object: `{"error": {"type", "code", "decline_code", "message", …}}`.
    struct APIError: Sendable, Equatable {
        var type: String?
        var code: String?
        var declineCode: String?
        var message: String?

        /// Reads the error object of an error answer (`nil` when the body is not Stripe's shape).
        init?(body: [UInt8]) {
            guard let error = (try? JSONValue.parse(Data(body)))?["error"], error.objectValue != nil else { return nil }
            type = error["type"]?.stringValue
            code = error["code"]?.stringValue
            declineCode = error["decline_code"]?.stringValue
            message = error["message"]?.stringValue
        }
    }

    /// The status we answer for a Stripe error answer: 402 for a card error, 429 for rate
    /// limiting, 400 for an invalid or idempotency-conflicting request, and 502 for everything
    /// that is not the client's doing (Stripe's own 5xx, our key refused, an unknown shape).
    static func clientStatus(httpStatus: Int, error: APIError?) -> Int {
        if httpStatus == 401 || httpStatus == 403 || httpStatus >= 500 { return 502 }
        switch error?.type {
        case "card_error": return 402
        case "rate_limit_error": return 429
        case "invalid_request_error", "idempotency_error": return 400
        default: break
        }
        switch httpStatus {
        case 402: return 402
        case 429: return 429
        case 400, 404, 409: return 400
        default: return 502
        }
    }
}
