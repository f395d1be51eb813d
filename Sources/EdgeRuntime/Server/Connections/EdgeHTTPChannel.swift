import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Counts open connections against `limits.max_connections`.
final class ConnectionLimiter: Sendable {
    let maximum: Int
    private let open = Atomic<Int>(0)

    init(maximum: Int) { self.maximum = maximum }

    /// Takes a slot. - Returns: `false` when all `maximum` are taken.
    func tryOpen() -> Bool {
        var current = open.load(ordering: .relaxed)
        while current < maximum {
            let (exchanged, original) = open.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func closed() { open.subtract(1, ordering: .relaxed) }

    var count: Int { open.load(ordering: .relaxed) }
}

/// The connection was refused because `limits.max_connections` are open.
struct ConnectionLimitReached: Error {}

/// Hummingbird's HTTP/1 channel with the runtime's connection rules: at most
/// `max_connections` open (more are closed as soon as they are accepted, the others keep
/// working), and every wait bounded by a ``ConnectionGuard``.
struct EdgeHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let http1: HTTP1Channel
    let timeouts: ConnectionTimeouts
    let limiter: ConnectionLimiter

    var responder: HTTPChannelHandler.Responder { http1.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard limiter.tryOpen() else {
            logger.debug("connection refused: max_connections reached", metadata: ["max_connections": "\(limiter.maximum)"])
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ConnectionLimitReached())
        }
        let limiter = self.limiter
        channel.closeFuture.whenComplete { _ in limiter.closed() }
        let timeouts = self.timeouts
        return http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let connection = ConnectionGuard(timeouts: timeouts)
            try operations.addHandler(RawBytesObserver(connection), position: .first)
            let state = try operations.handler(type: HTTPConnectionStateHandler.self)
            try operations.addHandler(connection, position: .before(state))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with the runtime's connection limits (see ``EdgeHTTPChannel``).
    static func edgeHTTP1(timeouts: ConnectionTimeouts, limiter: ConnectionLimiter) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            EdgeHTTPChannel(http1: HTTP1Channel(responder: responder), timeouts: timeouts, limiter: limiter)
        }
    }
}
