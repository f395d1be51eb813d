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
///
/// Timers are lazy (as Netty's `IdleStateHandler`): the wanted deadline is a field, and one
/// event-loop task per connection fires at the latest `step` (the shortest of the header, body
/// and idle timeouts) after it was armed and re-checks it. So a request costs no timer
/// cancellation — NIO's is a linear search of the loop's scheduled tasks, which with thousands
/// of idle connections (each with its idle timer) would tax every request.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var machine: ConnectionStateMachine
    private var context: ChannelHandlerContext?
    /// The timer the state machine runs, and when it is due.
    private var wanted: (timer: ConnectionStateMachine.Timer, deadline: NIODeadline)?
    /// The event-loop task that checks `wanted`, and when it fires (never after `wanted`'s deadline).
    private var armed: (task: Scheduled<Void>, fires: NIODeadline)?
    private let step: TimeAmount

    init(timeouts: ConnectionTimeouts) {
        machine = ConnectionStateMachine(timeouts: timeouts)
        step = TimeAmount(min(timeouts.header, timeouts.body, timeouts.idle))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { perform(machine.opened()) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        perform(machine.opened())
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        wanted = nil
        disarm()
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
            want(timer, after: after, context: context)
        case .cancelTimer:
            wanted = nil  // the armed task finds nothing to do and stops
        case .close:
            wanted = nil
            context.close(promise: nil)
        case .failBodyRead(let linger):
            want(.linger, after: linger, context: context)
            context.fireErrorCaught(BodyReadTimeoutError())
        case .closeOutputAndLinger(let linger):
            want(.linger, after: linger, context: context)
            context.flush()
            context.close(mode: .output, promise: nil)
        }
    }

    private func want(_ timer: ConnectionStateMachine.Timer, after: Duration, context: ChannelHandlerContext) {
        let deadline = NIODeadline.now() + TimeAmount(after)
        wanted = (timer, deadline)
        // The armed task fires first and re-checks: the usual case, no timer operation at all.
        if let armed, armed.fires <= deadline { return }
        disarm()  // only for a deadline shorter than `step` (linger)
        arm(at: min(deadline, .now() + step), context: context)
    }

    private func arm(at fires: NIODeadline, context: ChannelHandlerContext) {
        let task = context.eventLoop.assumeIsolated().scheduleTask(deadline: fires) { [self] in
            armed = nil
            check()
        }
        armed = (task, fires)
    }

    private func check() {
        guard let wanted, let context else { return }
        let now = NIODeadline.now()
        if wanted.deadline <= now {
            self.wanted = nil
            perform(machine.timerFired(wanted.timer))
        } else {
            arm(at: min(wanted.deadline, now + step), context: context)
        }
    }

    private func disarm() {
        armed?.task.cancel()
        armed = nil
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
