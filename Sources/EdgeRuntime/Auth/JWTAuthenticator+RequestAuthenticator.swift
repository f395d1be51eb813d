import EdgeCore

/// The server's `"auth"` seam: a 401 with the verifier's short reason on any failure.
extension JWTAuthenticator: RequestAuthenticator {
    public func authenticate(_ request: EdgeRequest) async throws -> JSONValue {
        guard let token = Self.bearerToken(fromAuthorization: request.headers["Authorization"]) else {
            throw EdgeHTTPError(.unauthorized, AuthError(.missingToken).reason, headers: ["WWW-Authenticate": "Bearer"])
        }
        do {
            return try await verify(bearer: token)
        } catch {
            throw EdgeHTTPError(
                .unauthorized,
                error.reason,
                headers: ["WWW-Authenticate": "Bearer error=\"invalid_token\""]
            )
        }
    }
}
