import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// A request body did not arrive within `limits.body_read_timeout_seconds` (the pipeline answers 408).
struct BodyReadTimeoutError: Error, CustomStringConvertible {
    var description: String { "request body not received in time" }
}

/// Bounds every wait of one HTTP/1 connection — header, body, keep-alive idle, lingering close —
/// and ends the connection after answering a request whose body it did not read (so an early
/// 401/413 never waits for, or drains, a body). Sits between the HTTP codec and Hummingbird's
/// handlers; a ``RawBytesObserver`` at the front of the pipeline tells it when request bytes
/// arrive. All state lives in ``ConnectionStateMachine``; this class performs its actions.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var machine: ConnectionStateMachine
    private var scheduled: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(timeouts: ConnectionTimeouts) { machine = ConnectionStateMachine(timeouts: timeouts) }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { perform(machine.opened()) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        perform(machine.opened())
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    /// Called by ``RawBytesObserver`` before the bytes are decoded.
    func bytesReceived() { perform(machine.bytesReceived()) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: perform(machine.headReceived())
        case .body: break
        case .end: perform(machine.endReceived())
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        perform(machine.readComplete())
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var response):
            if machine.responseHeadWritten() {
                response.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(response)), promise: promise)
            } else {
                context.write(data, promise: promise)
            }
        case .body:
            context.write(data, promise: promise)
        case .end:
            context.write(data, promise: promise)
            perform(machine.responseEndWritten())
        }
    }

    private func perform(_ action: ConnectionStateMachine.Action) {
        guard let context else { return }
        switch action {
        case .none:
            break
        case .schedule(let timer, let after):
            schedule(timer, after: after, context: context)
        case .cancelTimer:
            cancelTimer()
        case .close:
            cancelTimer()
            context.close(promise: nil)
        case .failBodyRead(let linger):
            schedule(.linger, after: linger, context: context)
            context.fireErrorCaught(BodyReadTimeoutError())
        case .closeOutputAndLinger(let linger):
            schedule(.linger, after: linger, context: context)
            context.flush()
            context.close(mode: .output, promise: nil)
        }
    }

    private func schedule(_ timer: ConnectionStateMachine.Timer, after: Duration, context: ChannelHandlerContext) {
        cancelTimer()
        scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(after)) { [self] in
            scheduled = nil
            perform(machine.timerFired(timer))
        }
    }

    private func cancelTimer() {
        scheduled?.cancel()
        scheduled = nil
    }
}

/// The first handler of a connection: tells the ``ConnectionGuard`` when raw request bytes
/// arrive, so the header timeout starts with a request's first byte, not with its parsed head.
final class RawBytesObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let connection: ConnectionGuard

    init(_ connection: ConnectionGuard) { self.connection = connection }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.bytesReceived()
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension ConnectionGuard: Sendable {}

@available(*, unavailable)
extension RawBytesObserver: Sendable {}
