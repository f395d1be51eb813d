import EdgeCore

/// Twilio's request signature (`X-Twilio-Signature`).
///
/// The signature is the standard-base64 HMAC-SHA1, keyed with the account's auth token, of the
/// full URL Twilio requested (with its query string) followed by every POST parameter sorted by
/// name, each name immediately followed by its value. As Twilio's own validators do, the URL is
/// tried both without its port and with the scheme's default port added (Twilio may sign
/// either form), and either match passes.
public enum TwilioSignature {
    /// Verifies a request.
    /// - Parameters:
    ///   - url: the public URL Twilio requested, including the query string.
    ///   - parameters: the form-encoded POST parameters (decoded), in any order; repeated names allowed.
    ///   - signature: the `X-Twilio-Signature` header value, `nil` when absent.
    ///   - authToken: the account's auth token.
    /// - Throws: ``WebhookSignatureError`` with `.missing` or `.mismatch`.
    public static func verify(
        url: String,
        parameters: [(name: String, value: String)],
        signature: String?,
        authToken: String
    ) throws(WebhookSignatureError) {
        guard let signature, !signature.isEmpty else {
            throw WebhookSignatureError(.missing, "missing X-Twilio-Signature header")
        }
        let given = Array(signature.utf8)
        var matched = false
        for candidate in urlVariants(url) {
            let expected = Array(sign(url: candidate, parameters: parameters, authToken: authToken).utf8)
            if Crypto.constantTimeEquals(expected, given) { matched = true }
        }
        guard matched else {
            throw WebhookSignatureError(.mismatch, "X-Twilio-Signature does not match the request")
        }
    }

    /// The signature Twilio would send for `url` and `parameters` (the URL used exactly as given).
    public static func sign(url: String, parameters: [(name: String, value: String)], authToken: String) -> String {
        var data = Array(url.utf8)
        for (name, value) in sortedParameters(parameters) {
            data.append(contentsOf: name.utf8)
            data.append(contentsOf: value.utf8)
        }
        return Base64.encode(Crypto.hmacSHA1(key: Array(authToken.utf8), data: data))
    }

    /// The URL without its port and with the scheme's default port (443 for https, 80 otherwise)
    /// when it has none: the two forms Twilio's validators accept. A URL that cannot be split
    /// into scheme and authority is returned alone.
    static func urlVariants(_ url: String) -> [String] {
        guard let schemeEnd = url.firstRange(of: "://") else { return [url] }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let afterScheme = url[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        let rest = afterScheme[authorityEnd...]
        let prefix = url[..<schemeEnd.upperBound]
        // The port is the digits after the last ':' that follows any IPv6 literal's ']'.
        let hostStart = authority.lastIndex(of: "@").map { authority.index(after: $0) } ?? authority.startIndex
        let hostAndPort = authority[hostStart...]
        let searchFrom = hostAndPort.lastIndex(of: "]") ?? hostAndPort.startIndex
        if let colon = hostAndPort[searchFrom...].lastIndex(of: ":") {
            let port = hostAndPort[hostAndPort.index(after: colon)...]
            if !port.isEmpty, port.allSatisfy(\.isASCIIDigit) {
                let withoutPort = String(prefix) + authority[..<colon] + rest
                return [withoutPort, url]
            }
        }
        let defaultPort = scheme == "https" ? "443" : "80"
        return [url, String(prefix) + authority + ":" + defaultPort + rest]
    }

    /// Parameters sorted by name then value in code-point order (Python's `sorted`), duplicates
    /// of the same name and value kept once, as Twilio's reference validator does.
    private static func sortedParameters(_ parameters: [(name: String, value: String)]) -> [(String, String)] {
        var seen = Set<[String]>()
        var unique: [(String, String)] = []
        for (name, value) in parameters where seen.insert([name, value]).inserted {
            unique.append((name, value))
        }
        return unique.sorted { a, b in
            a.0 != b.0 ? a.0.utf8.lexicographicallyPrecedes(b.0.utf8) : a.1.utf8.lexicographicallyPrecedes(b.1.utf8)
        }
    }
}

extension Character {
    /// Whether this is one of `0`…`9`.
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
