import Synchronization

/// Handler types by name (`stripe.webhook`, `kv.api`, or a user's own `billing.sync`).
///
/// The stock binary registers the built-in catalogue; a user's executable registers its own
/// types beside them before serving.
public final class FunctionRegistry: Sendable {
    private let types = Mutex<[String: any EdgeFunction.Type]>([:])

    public init() {}

    /// Registers `type` under `handler`, replacing an earlier registration.
    public func register(_ handler: String, _ type: any EdgeFunction.Type) {
        types.withLock { $0[handler] = type }
    }

    /// The type registered under `handler`.
    public func type(for handler: String) -> (any EdgeFunction.Type)? {
        types.withLock { $0[handler] }
    }

    /// Every registered handler name, sorted.
    public var handlerNames: [String] { types.withLock { $0.keys.sorted() } }
}
