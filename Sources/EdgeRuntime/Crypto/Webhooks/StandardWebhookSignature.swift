import EdgeCore
import KVStore

/// Svix / Standard Webhooks signatures (Clerk, Supabase, Resend).
///
/// Headers are `svix-id`, `svix-timestamp`, `svix-signature`, or the same with the `webhook-`
/// prefix. The secret is `whsec_` + base64 and the HMAC-SHA256 key is the *decoded* bytes; the
/// signed content is `"{id}.{timestamp}.{raw body}"`; the signature header is a space-separated
/// list of `v1,<standard base64>` entries, other versions are skipped and any `v1` may match.
/// The timestamp must lie within ±tolerance (5 minutes) of now, as Svix's libraries check.
public enum StandardWebhookSignature {
    /// The Svix / Standard Webhooks tolerance: 5 minutes either way.
    public static let defaultTolerance: Int64 = 300

    /// The three header values of one delivery.
    public struct Headers: Sendable, Equatable {
        /// The message id (`svix-id` / `webhook-id`).
        public var id: String?
        /// The unix-seconds timestamp (`svix-timestamp` / `webhook-timestamp`).
        public var timestamp: String?
        /// The signature list (`svix-signature` / `webhook-signature`).
        public var signature: String?

        /// Creates the header set from explicit values.
        public init(id: String?, timestamp: String?, signature: String?) {
            self.id = id
            self.timestamp = timestamp
            self.signature = signature
        }

        /// Reads the headers through `lookup` (a case-insensitive header getter), preferring the
        /// `svix-` names and falling back to the `webhook-` names.
        public init(lookup: (String) -> String?) {
            let prefix = lookup("svix-id") != nil || lookup("svix-signature") != nil ? "svix-" : "webhook-"
            self.init(
                id: lookup(prefix + "id"),
                timestamp: lookup(prefix + "timestamp"),
                signature: lookup(prefix + "signature")
            )
        }
    }

    /// A verified delivery.
    public struct Verified: Sendable, Equatable {
        /// The message id, for replay detection.
        public let id: String
        /// The signed timestamp (unix seconds).
        public let timestamp: Int64

        /// Creates a result (verification produces these; tests compare against them).
        public init(id: String, timestamp: Int64) {
            self.id = id
            self.timestamp = timestamp
        }
    }

    /// Verifies a delivery.
    /// - Parameters:
    ///   - payload: the request body exactly as received.
    ///   - headers: the id, timestamp and signature header values.
    ///   - secret: the signing secret, `whsec_` + base64 (the prefix is optional).
    ///   - tolerance: the allowed distance of the timestamp from `now`, in seconds.
    ///   - now: the current time in unix seconds.
    /// - Throws: ``WebhookSignatureError``: `.missing`, `.malformed`, `.stale`, `.mismatch`, or
    ///   `.invalidSecret` when the secret does not decode.
    public static func verify(
        payload: some Collection<UInt8>,
        headers: Headers,
        secret: String,
        tolerance: Int64 = defaultTolerance,
        now: Int64
    ) throws(WebhookSignatureError) -> Verified {
        guard let id = headers.id, !id.isEmpty,
            let timestampText = headers.timestamp, !timestampText.isEmpty,
            let signatureList = headers.signature, !signatureList.isEmpty
        else {
            throw WebhookSignatureError(.missing, "missing webhook id, timestamp or signature header")
        }
        guard let timestamp = Int64(timestampText) else {
            throw WebhookSignatureError(.malformed, "webhook timestamp is not an integer")
        }
        if timestamp < CheckedInteger.saturatingAdd(now, -max(tolerance, 0)) {
            throw WebhookSignatureError(.stale, "webhook timestamp is too old")
        }
        if timestamp > CheckedInteger.saturatingAdd(now, max(tolerance, 0)) {
            throw WebhookSignatureError(.stale, "webhook timestamp is too far in the future")
        }
        let key = try decodeSecret(secret)
        let expected = Array(Base64.encode(digest(payload: payload, id: id, timestamp: timestamp, key: key)).utf8)
        var sawVersion1 = false
        var matched = false
        for entry in signatureList.split(separator: " ") {
            guard let comma = entry.firstIndex(of: ",") else { continue }
            guard entry[..<comma] == "v1" else { continue }  // other versions are skipped
            sawVersion1 = true
            if Crypto.constantTimeEquals(expected, Array(entry[entry.index(after: comma)...].utf8)) { matched = true }
        }
        guard sawVersion1 else {
            throw WebhookSignatureError(.malformed, "webhook signature header has no v1 signature")
        }
        guard matched else {
            throw WebhookSignatureError(.mismatch, "no v1 webhook signature matches the payload")
        }
        return Verified(id: id, timestamp: timestamp)
    }

    /// The signature header value (`v1,<base64>`) for a delivery: for tests and local senders.
    /// - Throws: `.invalidSecret` when the secret does not decode.
    public static func sign(
        payload: some Collection<UInt8>,
        id: String,
        timestamp: Int64,
        secret: String
    ) throws(WebhookSignatureError) -> String {
        "v1," + Base64.encode(digest(payload: payload, id: id, timestamp: timestamp, key: try decodeSecret(secret)))
    }

    /// The HMAC key of a `whsec_` secret: the base64-decoded bytes after the prefix.
    /// - Throws: `.invalidSecret` when the rest is not base64 or is empty.
    public static func decodeSecret(_ secret: String) throws(WebhookSignatureError) -> [UInt8] {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        guard let key = Base64.decode(encoded), !key.isEmpty else {
            throw WebhookSignatureError(.invalidSecret, "the webhook signing secret is not whsec_ followed by base64")
        }
        return key
    }

    private static func digest(payload: some Collection<UInt8>, id: String, timestamp: Int64, key: [UInt8]) -> [UInt8] {
        var message = Array("\(id).\(timestamp).".utf8)
        message.append(contentsOf: payload)
        return Crypto.hmacSHA256(key: key, data: message)
    }
}
