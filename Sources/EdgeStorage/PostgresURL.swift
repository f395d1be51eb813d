import Foundation

/// A parsed `postgres://user:pass@host:port/db?sslmode=…` URL. Its description leaves out the
/// password, so it is safe to log and to put in error messages.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    /// How TLS is used (libpq's `sslmode` subset).
    public enum SSLMode: String, Sendable, Equatable {
        /// No TLS.
        case disable
        /// TLS when the server offers it (libpq's default).
        case prefer
        /// TLS, refusing a server without it.
        case require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    /// How often an idle pooled connection is pinged (`SELECT 1`) so that a proxy, NAT or
    /// firewall that drops quiet connections does not drop it (`nil`: never, `?keepalives=0`).
    /// Default 30 s, `?keepalives_idle=N` (libpq's parameter names).
    public var keepAliveSeconds: Int?

    /// The ping interval when the URL does not set one.
    public static let defaultKeepAliveSeconds = 30

    public init(
        host: String,
        port: Int = 5432,
        username: String,
        password: String?,
        database: String,
        sslMode: SSLMode = .prefer,
        keepAliveSeconds: Int? = PostgresURL.defaultKeepAliveSeconds
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.keepAliveSeconds = keepAliveSeconds
    }

    /// Parses the URL; percent-escapes in the user, password and database are decoded.
    /// - Throws: ``StorageURLError`` naming the bad part (never echoing the password).
    public init(parsing text: String) throws(StorageURLError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
            scheme == "postgres" || scheme == "postgresql"
        else { throw StorageURLError("--storage: not a postgres:// URL") }
        guard let host = components.host, !host.isEmpty else { throw StorageURLError("--storage: the postgres URL names no host") }
        let port = components.port ?? 5432
        guard (1...65_535).contains(port) else { throw StorageURLError("--storage: port of \(host) out of range 1…65535") }
        guard let user = components.percentEncodedUser.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw StorageURLError("--storage: the postgres URL for \(host) names no user")
        }
        let password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        var database = String(components.percentEncodedPath.drop(while: { $0 == "/" }))
        database = database.removingPercentEncoding ?? database
        if database.isEmpty { database = user }
        var sslMode = SSLMode.prefer
        var keepAlives = true
        var keepAliveSeconds = Self.defaultKeepAliveSeconds
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                switch item.value ?? "" {
                case "disable": sslMode = .disable
                case "allow", "prefer": sslMode = .prefer
                case "require", "verify-ca", "verify-full": sslMode = .require
                default: throw StorageURLError("--storage: sslmode must be disable, prefer or require")
                }
            case "keepalives":
                switch item.value ?? "" {
                case "0": keepAlives = false
                case "1": keepAlives = true
                default: throw StorageURLError("--storage: keepalives must be 0 or 1")
                }
            case "keepalives_idle":
                guard let seconds = item.value.flatMap({ Int($0) }), (1...86_400).contains(seconds) else {
                    throw StorageURLError("--storage: keepalives_idle must be a whole number of seconds from 1 to 86400")
                }
                keepAliveSeconds = seconds
            default:
                throw StorageURLError("--storage: unknown parameter \"\(item.name)\" in the postgres URL for \(host)")
            }
        }
        self.init(
            host: host,
            port: port,
            username: user,
            password: password,
            database: database,
            sslMode: sslMode,
            keepAliveSeconds: keepAlives ? keepAliveSeconds : nil
        )
    }

    /// `postgres://user@host:port/db` (no password).
    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)" }
}
