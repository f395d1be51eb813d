import EdgeCore
import Foundation

/// One entry of the manifest's `auth_providers`: where a provider's keys live and which tokens
/// it issues.
///
/// Either explicit (`jwks_url` + `issuer`) or a `preset` with a `domain` (a host name, or a full
/// `http(s)://host:port` URL for local fakes); explicit keys override what a preset derives.
/// Preset shapes, from the providers' public docs:
/// - Clerk (clerk.com/docs/backend-requests/manual-jwt): JWKS at the Frontend API
///   `https://<domain>/.well-known/jwks.json`, `iss` = `https://<domain>`, RS256.
/// - Auth0 (auth0.com/docs/secure/tokens/json-web-tokens/json-web-key-sets, …/validate-json-web-tokens):
///   JWKS `https://<domain>/.well-known/jwks.json`, `iss` = `https://<domain>/` (trailing slash), RS256.
/// - Supabase (supabase.com/docs/guides/auth/jwts, …/signing-keys): `iss` =
///   `https://<project>.supabase.co/auth/v1`, JWKS `<iss>/.well-known/jwks.json`, ES256 or RS256.
public struct AuthProviderConfig: Sendable, Equatable {
    /// A provider whose URLs derive from its domain.
    public enum Preset: String, Sendable, CaseIterable {
        case clerk, auth0, supabase
    }

    /// The preset the entry used, if any (``auth.whoami`` picks its user source from it).
    public var preset: Preset?
    /// The preset's `domain` as written (a host name or a URL), if any.
    public var domain: String?
    /// Absolute `https` URL of the JWKS (`http` only for loopback hosts).
    public var jwksURL: String
    /// The exact `iss` tokens must carry.
    public var issuer: String
    /// Audiences of which `aud` must contain one; `nil`: `aud` is not checked.
    public var audiences: [String]?
    /// Algorithms a token header may name (default `RS256`).
    public var algorithms: [JWTAlgorithm]
    /// Clock skew allowed on `exp`, `nbf`, `iat` (default 5 s).
    public var clockToleranceSeconds: Int
    /// How long a fetched JWKS is used before refetching (default 600 s; a shorter
    /// `Cache-Control: max-age` wins).
    public var jwksCacheMaxAgeSeconds: Int
    /// Minimum spacing of refetches triggered by unknown `kid`s or failures (default 30 s).
    public var jwksCooldownSeconds: Int

    /// Creates an explicit configuration.
    public init(
        jwksURL: String,
        issuer: String,
        audiences: [String]? = nil,
        algorithms: [JWTAlgorithm] = [.rs256],
        clockToleranceSeconds: Int = 5,
        jwksCacheMaxAgeSeconds: Int = 600,
        jwksCooldownSeconds: Int = 30,
        preset: Preset? = nil,
        domain: String? = nil
    ) {
        self.jwksURL = jwksURL
        self.issuer = issuer
        self.audiences = audiences
        self.algorithms = algorithms
        self.clockToleranceSeconds = clockToleranceSeconds
        self.jwksCacheMaxAgeSeconds = jwksCacheMaxAgeSeconds
        self.jwksCooldownSeconds = jwksCooldownSeconds
        self.preset = preset
        self.domain = domain
    }

    static let knownKeys: Set<String> = [
        "preset", "domain", "jwks_url", "issuer", "audience", "algorithms", "clock_tolerance_seconds",
        "jwks_cache_max_age_seconds", "jwks_cooldown_seconds",
    ]

    /// Parses and validates a manifest entry.
    /// - Throws: ``AuthConfigError`` naming the first bad key.
    public init(json: [String: JSONValue]) throws(AuthConfigError) {
        for key in json.keys.sorted() where !Self.knownKeys.contains(key) {
            throw AuthConfigError(key: key, "unknown key (expected one of \(Self.knownKeys.sorted().joined(separator: ", ")))")
        }
        var preset: Preset?
        var presetDomain: String?
        var derived: (jwks: String, issuer: String, algorithms: [JWTAlgorithm])?
        if let value = json["preset"] {
            guard let name = value.stringValue, let p = Preset(rawValue: name) else {
                throw AuthConfigError(key: "preset", "must be one of \(Preset.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
            }
            guard let domainValue = json["domain"] else { throw AuthConfigError(key: "domain", "is required with a preset") }
            guard let domain = domainValue.stringValue else { throw AuthConfigError(key: "domain", "must be a string") }
            preset = p
            presetDomain = domain
            derived = Self.derive(p, base: try Self.baseURL(domain: domain))
        } else if json["domain"] != nil {
            throw AuthConfigError(key: "domain", "is only used with a preset")
        }

        let jwksURL = try Self.string(json, "jwks_url") ?? derived?.jwks
        guard let jwksURL else { throw AuthConfigError(key: "jwks_url", "is required (or give a preset and a domain)") }
        try Self.checkURL(jwksURL, key: "jwks_url")
        let issuer = try Self.string(json, "issuer") ?? derived?.issuer
        guard let issuer else { throw AuthConfigError(key: "issuer", "is required (or give a preset and a domain)") }

        self.init(
            jwksURL: jwksURL,
            issuer: issuer,
            audiences: try Self.audiences(json["audience"]),
            algorithms: try Self.algorithms(json["algorithms"]) ?? derived?.algorithms ?? [.rs256],
            clockToleranceSeconds: try Self.integer(json, "clock_tolerance_seconds", default: 5, range: 0...600),
            jwksCacheMaxAgeSeconds: try Self.integer(json, "jwks_cache_max_age_seconds", default: 600, range: 1...86_400),
            jwksCooldownSeconds: try Self.integer(json, "jwks_cooldown_seconds", default: 30, range: 1...3_600),
            preset: preset,
            domain: presetDomain
        )
    }

    /// The URLs and algorithms a preset derives from its base URL (`scheme://host[:port]`).
    static func derive(_ preset: Preset, base: String) -> (jwks: String, issuer: String, algorithms: [JWTAlgorithm]) {
        switch preset {
        case .clerk: (base + "/.well-known/jwks.json", base, [.rs256])
        case .auth0: (base + "/.well-known/jwks.json", base + "/", [.rs256])
        case .supabase: (base + "/auth/v1/.well-known/jwks.json", base + "/auth/v1", [.es256, .rs256])
        }
    }

    /// `https://<domain>` for a host name (optionally `:port`); a full URL keeps its scheme,
    /// host and port and must have no path beyond `/`.
    static func baseURL(domain: String) throws(AuthConfigError) -> String {
        if domain.contains("://") {
            try checkURL(domain, key: "domain")
            guard let url = URLComponents(string: domain), let scheme = url.scheme?.lowercased(), let host = url.host,
                url.path.isEmpty || url.path == "/", url.query == nil, url.fragment == nil
            else { throw AuthConfigError(key: "domain", "must be a host name or a URL without a path") }
            let hostPart = host.contains(":") ? "[\(host)]" : host
            return "\(scheme)://\(hostPart)" + (url.port.map { ":\($0)" } ?? "")
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:")
        guard !domain.isEmpty, domain.allSatisfy(allowed.contains), !domain.hasPrefix("."), !domain.hasSuffix(".") else {
            throw AuthConfigError(key: "domain", "must be a host name such as \"example.clerk.accounts.dev\" or a URL")
        }
        return "https://" + domain.lowercased()
    }

    /// An absolute `https` URL with a host; `http` only towards loopback (local fakes and tests).
    static func checkURL(_ text: String, key: String) throws(AuthConfigError) {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(),
            let host = url.host, !host.isEmpty, url.user == nil, url.password == nil
        else { throw AuthConfigError(key: key, "must be an absolute https URL") }
        switch scheme {
        case "https": return
        case "http" where ["127.0.0.1", "localhost", "::1"].contains(host.lowercased()): return
        case "http": throw AuthConfigError(key: key, "must be https (plain http is accepted only for loopback hosts)")
        default: throw AuthConfigError(key: key, "must be an absolute https URL")
        }
    }

    private static func string(_ json: [String: JSONValue], _ key: String) throws(AuthConfigError) -> String? {
        guard let value = json[key] else { return nil }
        guard let text = value.stringValue, !text.isEmpty else { throw AuthConfigError(key: key, "must be a non-empty string") }
        return text
    }

    private static func audiences(_ value: JSONValue?) throws(AuthConfigError) -> [String]? {
        switch value {
        case nil, .null?: return nil
        case .string(let single)? where !single.isEmpty: return [single]
        case .array(let items)? where !items.isEmpty:
            var result: [String] = []
            for (index, item) in items.enumerated() {
                guard let text = item.stringValue, !text.isEmpty else {
                    throw AuthConfigError(key: "audience[\(index)]", "must be a non-empty string")
                }
                result.append(text)
            }
            return result
        default:
            throw AuthConfigError(key: "audience", "must be a string, a non-empty array of strings, or null")
        }
    }

    private static func algorithms(_ value: JSONValue?) throws(AuthConfigError) -> [JWTAlgorithm]? {
        guard let value else { return nil }
        guard let items = value.arrayValue, !items.isEmpty else {
            throw AuthConfigError(key: "algorithms", "must be a non-empty array such as [\"RS256\", \"ES256\"]")
        }
        let supported = JWTAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")
        var result: [JWTAlgorithm] = []
        for (index, item) in items.enumerated() {
            let name = item.stringValue ?? ""
            guard let algorithm = JWTAlgorithm(rawValue: name) else {
                let why =
                    name.lowercased() == "none" || name.uppercased().hasPrefix("HS")
                    ? "\"\(name)\" is not allowed: only asymmetric algorithms are verified (\(supported))"
                    : "unsupported algorithm \(item.serializedString) (supported: \(supported))"
                throw AuthConfigError(key: "algorithms[\(index)]", why)
            }
            if !result.contains(algorithm) { result.append(algorithm) }
        }
        return result
    }

    private static func integer(
        _ json: [String: JSONValue],
        _ key: String,
        default fallback: Int,
        range: ClosedRange<Int>
    ) throws(AuthConfigError) -> Int {
        guard let value = json[key] else { return fallback }
        guard let number = value.intValue, let int = Int(exactly: number), range.contains(int) else {
            throw AuthConfigError(key: key, "must be a whole number of seconds from \(range.lowerBound) to \(range.upperBound)")
        }
        return int
    }
}
