import EdgeRuntime
import Foundation
import KVStore
import Logging

/// `auth.whoami`: behind `"auth"`, answers `{sub, claims, user}`. The user profile comes from the
/// provider named by the function's auth provider (its `preset`, else its name):
/// - Clerk: `GET {CLERK_API_BASE}/v1/users/{sub}` with `Authorization: Bearer <CLERK_SECRET_KEY>`;
/// - Auth0: `GET {AUTH0_DOMAIN_BASE}/api/v2/users/{sub}` with a Management API token from
///   `POST {AUTH0_DOMAIN_BASE}/oauth/token` (client credentials), cached in the runtime's
///   private namespace (`__edge`, never the user's binding, where `kv.api` could read it) until
///   `expires_in − 300`.
/// The profile is cached in KV as `user:<sub>` for 300 s. `user` is `null` when the provider's
/// secrets are not declared (or for other providers).
public struct WhoAmIFunction: EdgeFunction {
    enum Source: Sendable {
        case clerk
        case auth0(domain: String?)
        case none
    }

    let binding: String
    let source: Source

    public init(config: FunctionConfig) throws {
        binding = try config.kvBinding()
        let provider = config.authProviderConfig
        let kind = provider?.preset?.rawValue ?? config.authProvider ?? ""
        let secrets = Set(config.declarations.secrets)
        switch kind {
        case "clerk" where secrets.contains("CLERK_SECRET_KEY"):
            source = .clerk
        case "auth0" where secrets.contains("AUTH0_CLIENT_ID") && secrets.contains("AUTH0_CLIENT_SECRET"):
            source = .auth0(domain: provider?.domain)
        default:
            source = .none
        }
    }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        guard let claims = request.claims, let sub = claims["sub"]?.stringValue, !sub.isEmpty else {
            throw EdgeHTTPError(.unauthorized, "the token has no subject")
        }
        let kv = try env.kv(binding)
        var user: JSONValue = .null
        if case .none = source {
        } else {
            if let cached = try await kv.getJSON("user:\(sub)", as: JSONValue.self) {
                user = cached
            } else {
                user = try await fetchUser(sub, env: env)
                try await kv.put("user:\(sub)", value: user.serialized(), options: KVPutOptions(expirationTtl: 300))
            }
        }
        return .json(["sub": .string(sub), "claims": claims, "user": user])
    }

    private func fetchUser(_ sub: String, env: Env) async throws -> JSONValue {
        let escaped = FormEncoding.escape(sub)
        switch source {
        case .clerk:
            let base = env.variable("CLERK_API_BASE", default: "https://api.clerk.com")!
            var request = FetchRequest(method: "GET", url: "\(base)/v1/users/\(escaped)")
            request.headers["Authorization"] = "Bearer \(try env.requiredSecret("CLERK_SECRET_KEY"))"
            return try await profile(request, env: env)
        case .auth0(let domain):
            let base = env.variable("AUTH0_DOMAIN_BASE") ?? domain.map { $0.hasPrefix("http") ? $0 : "https://\($0)" } ?? ""
            guard !base.isEmpty else { throw EdgeHTTPError(.internalError, "AUTH0_DOMAIN_BASE is not set") }
            let token = try await managementToken(base: base, env: env)
            var request = FetchRequest(method: "GET", url: "\(base)/api/v2/users/\(escaped)")
            request.headers["Authorization"] = "Bearer \(token)"
            return try await profile(request, env: env)
        case .none:
            return .null
        }
    }

    private func profile(_ request: FetchRequest, env: Env) async throws -> JSONValue {
        let response = try await env.fetch(request)
        guard response.ok, let json = try? JSONValue.parse(Data(response.body)) else {
            env.logger.warning("user profile lookup failed", metadata: ["status": "\(response.status)"])
            throw EdgeHTTPError(.badGateway, "the identity provider did not return the user")
        }
        return json
    }

    /// The private-namespace key of the Management API token of the tenant at `base`.
    static func tokenKey(base: String) -> String { BoundedKey.make(prefix: "auth0:management_token:", id: base) }

    /// A Management API token, cached in the private namespace until `expires_in − 300` seconds.
    private func managementToken(base: String, env: Env) async throws -> String {
        guard let kv = env.internalKV else { throw EdgeHTTPError(.internalError, "server misconfigured") }
        let cacheKey = Self.tokenKey(base: base)
        if let cached = try await kv.getText(cacheKey) { return cached }
        let body: JSONValue = [
            "grant_type": "client_credentials", "client_id": .string(try env.requiredSecret("AUTH0_CLIENT_ID")),
            "client_secret": .string(try env.requiredSecret("AUTH0_CLIENT_SECRET")), "audience": .string("\(base)/api/v2/"),
        ]
        var request = FetchRequest(method: "POST", url: "\(base)/oauth/token", body: Array(body.serialized()))
        request.headers["Content-Type"] = "application/json"
        let response = try await env.fetch(request)
        guard response.ok, let json = try? JSONValue.parse(Data(response.body)), let token = json["access_token"]?.stringValue else {
            throw EdgeHTTPError(.badGateway, "the identity provider refused the management token request")
        }
        // `expires_in` is the provider's number: clamped (0 … 100 years) before the arithmetic.
        let expiresIn = CheckedInteger.clamp(json["expires_in"]?.intValue ?? 86_400, to: 0...KVLimits.maxTTLSeconds)
        let ttl = expiresIn - 300
        if ttl >= 60 { try await kv.put(cacheKey, text: token, options: KVPutOptions(expirationTtl: ttl)) }
        return token
    }
}

extension WhoAmIFunction: OpenAPIDescribed {
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] {
        var operation = mount.operation(
            summary: "The verified caller",
            description: "user: the provider's profile (cached 300 s), null without its secrets."
        )
        operation.responses["200"] = OpenAPI.jsonResponse(
            "the caller",
            OpenAPI.object(
                ["sub": OpenAPI.string, "claims": ["type": "object"], "user": ["type": ["object", "null"]]],
                required: ["sub", "claims", "user"]
            )
        )
        operation.errors = [401, 502, 504]
        return [operation]
    }
}
