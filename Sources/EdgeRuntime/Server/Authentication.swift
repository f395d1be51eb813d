import EdgeCore

/// Verifies the credentials of a request for one auth provider (the `"auth"` seam).
public protocol RequestAuthenticator: Sendable {
    /// The verified claims.
    /// - Throws: ``EdgeHTTPError`` 401 with a short reason.
    func authenticate(_ request: EdgeRequest) async throws -> JSONValue
}

/// Answers 401 to everything: a provider with no verifier configured.
public struct RejectingAuthenticator: RequestAuthenticator {
    public let reason: String
    public init(reason: String = "authentication is not available for this provider") { self.reason = reason }
    public func authenticate(_ request: EdgeRequest) async throws -> JSONValue {
        throw EdgeHTTPError(.unauthorized, reason)
    }
}
