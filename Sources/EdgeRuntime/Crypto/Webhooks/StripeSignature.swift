/// Stripe's webhook signature scheme (`Stripe-Signature: t=…,v1=…`).
///
/// The signed payload is `"{t}.{raw body}"`, the HMAC-SHA256 key is the whole endpoint secret
/// string *including* its `whsec_` prefix (it is not base64-decoded), and each `v1` is the
/// lowercase hex digest. Any `v1` may match (Stripe sends several during secret rotation);
/// `v0` and unknown schemes are ignored. As in Stripe's libraries the signature is checked
/// first and the timestamp second, and only a timestamp older than the tolerance is refused.
public enum StripeSignature {
    /// Stripe's default tolerance: 5 minutes.
    public static let defaultTolerance: Int64 = 300

    /// A verified delivery.
    public struct Verified: Sendable, Equatable {
        /// The `t=` timestamp (unix seconds) the signature covers.
        public let timestamp: Int64

        /// Creates a result (verification produces these; tests compare against them).
        public init(timestamp: Int64) { self.timestamp = timestamp }
    }

    /// The parts of a `Stripe-Signature` header.
    public struct Header: Sendable, Equatable {
        /// The `t=` value.
        public let timestamp: Int64
        /// Every `v1=` value, in order.
        public let signatures: [String]
    }

    /// Verifies a delivery.
    /// - Parameters:
    ///   - payload: the request body exactly as received.
    ///   - header: the `Stripe-Signature` header value, `nil` when absent.
    ///   - secret: the endpoint secret (`whsec_…`), used as is.
    ///   - tolerance: the maximum age of `t` in seconds; 0 or less disables the check.
    ///   - now: the current time in unix seconds.
    /// - Returns: the verified timestamp.
    /// - Throws: ``WebhookSignatureError`` with `.missing`, `.malformed`, `.mismatch` or `.stale`.
    public static func verify(
        payload: some Collection<UInt8>,
        header: String?,
        secret: String,
        tolerance: Int64 = defaultTolerance,
        now: Int64
    ) throws(WebhookSignatureError) -> Verified {
        guard let header, !header.isEmpty else {
            throw WebhookSignatureError(.missing, "missing Stripe-Signature header")
        }
        let parsed = try parse(header)
        let expected = Array(Hex.encode(signedDigest(payload: payload, timestamp: parsed.timestamp, secret: secret)).utf8)
        var matched = false
        for candidate in parsed.signatures {
            // Check every candidate so the time taken does not say which one matched.
            if Crypto.constantTimeEquals(expected, Array(candidate.utf8)) { matched = true }
        }
        guard matched else {
            throw WebhookSignatureError(.mismatch, "no v1 signature in Stripe-Signature matches the payload")
        }
        // `t` is the sender's number: an age that overflows (t near Int64.min) is stale too.
        let (age, overflow) = now.subtractingReportingOverflow(parsed.timestamp)
        if tolerance > 0, overflow || age > tolerance {
            throw WebhookSignatureError(.stale, "Stripe-Signature timestamp is outside the tolerance of \(tolerance) s")
        }
        return Verified(timestamp: parsed.timestamp)
    }

    /// Parses a `Stripe-Signature` header.
    /// - Throws: `.malformed` when `t` is missing or not an integer, or there is no `v1`.
    public static func parse(_ header: String) throws(WebhookSignatureError) -> Header {
        var timestamp: Int64?
        var signatures: [String] = []
        for item in header.split(separator: ",") {
            guard let equals = item.firstIndex(of: "=") else { continue }
            let key = item[..<equals].trimmingSpaces
            let value = item[item.index(after: equals)...].trimmingSpaces
            switch key {
            case "t":
                guard let t = Int64(value) else {
                    throw WebhookSignatureError(.malformed, "Stripe-Signature timestamp is not an integer")
                }
                timestamp = t
            case "v1":
                signatures.append(String(value))
            default:
                continue  // v0 and unknown schemes are ignored
            }
        }
        guard let timestamp else {
            throw WebhookSignatureError(.malformed, "Stripe-Signature has no timestamp (t=)")
        }
        guard !signatures.isEmpty else {
            throw WebhookSignatureError(.malformed, "Stripe-Signature has no v1 signature")
        }
        return Header(timestamp: timestamp, signatures: signatures)
    }

    /// A `Stripe-Signature` header value for `payload` at `timestamp` (`t=…,v1=…`), as Stripe
    /// would send it: for tests and local senders.
    public static func sign(payload: some Collection<UInt8>, secret: String, timestamp: Int64) -> String {
        "t=\(timestamp),v1=" + Hex.encode(signedDigest(payload: payload, timestamp: timestamp, secret: secret))
    }

    private static func signedDigest(payload: some Collection<UInt8>, timestamp: Int64, secret: String) -> [UInt8] {
        var message = Array("\(timestamp).".utf8)
        message.append(contentsOf: payload)
        return Crypto.hmacSHA256(key: Array(secret.utf8), data: message)
    }
}

extension Substring {
    /// The substring without leading and trailing spaces and tabs.
    var trimmingSpaces: Substring {
        var s = self
        while let first = s.first, first == " " || first == "\t" { s.removeFirst() }
        while let last = s.last, last == " " || last == "\t" { s.removeLast() }
        return s
    }
}
