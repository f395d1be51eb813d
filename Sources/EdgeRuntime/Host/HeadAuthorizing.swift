/// A function that checks a request's credentials from its head alone (method, path, query,
/// headers), before the runtime reads any of its body.
///
/// The pipeline calls ``authorize(_:env:)`` right after routing, with an ``EdgeRequest`` whose
/// `body` is still empty; a throw (an ``EdgeHTTPError``, typically 401) answers the request
/// without reading the body. Functions with `"auth"` in the manifest get the same treatment
/// from their auth provider; this seam is for handlers with credentials of their own
/// (`kv.api`, `queues.api`).
public protocol HeadAuthorizing: EdgeFunction {
    /// Throws when the credentials in `request`'s head are missing or wrong.
    /// - Parameters:
    ///   - request: the request, with an empty `body`.
    ///   - env: the bindings (for the secret holding the expected token).
    func authorize(_ request: EdgeRequest, env: Env) throws
}
