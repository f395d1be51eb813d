/// The gate of the runtime's developer surfaces (`GET /_edge/tail`, `GET /_edge/console`):
/// whether a request to one is served, decided from its head alone.
///
/// 1. Absent — 404, as any unknown route — when no function of the manifest has an admin
///    handler (`kv.api`, `queues.api`): there is no token to check.
/// 2. 403 when `serve` listens on a non-loopback host and the manifest does not set
///    `"console": true`.
/// 3. 401 without `Authorization: Bearer <token>`, the value of an admin function's
///    `config.token_secret` (compared in constant time, as the admin APIs do).
public struct AdminSurface: Sendable {
    /// The handlers whose `token_secret` opens the developer surfaces.
    public static let adminHandlers: Set<String> = ["kv.api", "queues.api"]

    /// The secret names holding admin tokens, in manifest order, each once.
    public let tokenSecrets: [String]
    /// Whether `serve` listens on a loopback address.
    public let loopback: Bool
    /// The manifest's `console`.
    public let consoleEnabled: Bool

    public init(tokenSecrets: [String], loopback: Bool, consoleEnabled: Bool) {
        self.tokenSecrets = tokenSecrets
        self.loopback = loopback
        self.consoleEnabled = consoleEnabled
    }

    /// The gate of `manifest` served on `host`.
    public init(manifest: Manifest, host: String) {
        self.init(
            tokenSecrets: Self.tokenSecrets(of: manifest),
            loopback: DevelopmentSecrets.isLoopback(host: host),
            consoleEnabled: manifest.console
        )
    }

    /// The `config.token_secret` names of `manifest`'s admin functions, each once.
    public static func tokenSecrets(of manifest: Manifest) -> [String] {
        var names: [String] = []
        for function in manifest.functions where adminHandlers.contains(function.handler) {
            if let name = function.config["token_secret"]?.stringValue, !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// Whether the surfaces exist at all (an admin function is declared).
    public var isServed: Bool { !tokenSecrets.isEmpty }

    /// The gate's first two steps alone, 404 and 403: for what carries no data and needs no
    /// token (the console's page and its files).
    /// - Throws: ``EdgeHTTPError`` 404 or 403 as described on the type.
    public func admit(method: String, path: String) throws {
        guard isServed else { throw EdgeHTTPError(.notFound, "no route for \(method) \(path)") }
        guard loopback || consoleEnabled else {
            throw EdgeHTTPError(.forbidden, "\(path) is served on a non-loopback host only when the manifest sets \"console\": true")
        }
    }

    /// Lets the request through, or throws the answer.
    /// - Parameters:
    ///   - authorization: the request's `Authorization` header.
    ///   - secrets: where the token values are looked up (the server's ``Env``).
    ///   - method, path: the request's (named in the 404, worded as the router's).
    /// - Throws: ``EdgeHTTPError`` 404, 403 or 401 as described on the type.
    public func authorize(authorization: String?, secrets: Env, method: String, path: String) throws {
        try admit(method: method, path: path)
        let tokens = tokenSecrets.compactMap { secrets.secret($0) }.filter { !$0.isEmpty }
        try EdgeRequest.requireBearer(authorization: authorization, matching: tokens)
    }
}
