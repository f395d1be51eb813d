import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `GET /_edge/tail[?function=F&status=S&queue=Q]`: the live events as a `text/event-stream`,
/// one JSON event per `data:` line, a comment line (`: heartbeat`) when nothing happened for
/// ``defaultHeartbeat``. Behind ``AdminSurface``.
///
/// The stream ends when the client goes (its subscription is removed at once) and when the
/// server starts shutting down (``LiveEvents/close()``), so it never holds up the shutdown
/// grace. The connection's timers do not cut it: while an answer is being written no header,
/// body or idle deadline runs (see ``ConnectionStateMachine``).
enum TailEndpoint {
    static let path = "/_edge/tail"
    static let defaultHeartbeat: Duration = .seconds(15)
    static let contentType = "text/event-stream; charset=utf-8"

    /// The filter of the query (`function`, `status`, `queue`; empty values ignored).
    /// - Throws: ``EdgeHTTPError`` 400 for a bad `status`.
    static func filter(query: String) throws -> LiveEventFilter {
        var filter = LiveEventFilter()
        for (name, value) in FormEncoding.decode(query) where !value.isEmpty {
            switch name {
            case "function": filter.function = value
            case "queue": filter.queue = value
            case "status": filter.statuses = try LiveEventFilter.statuses(value)
            default: continue
            }
        }
        return filter
    }

    /// One SSE frame: `data: <json>\n\n`, or a comment for a heartbeat.
    static func frame(_ event: LiveEvent) -> ByteBuffer {
        guard event.kind != .heartbeat else { return ByteBuffer(string: ": heartbeat\n\n") }
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(event.json.serialized())
        buffer.writeString("\n\n")
        return buffer
    }

    /// Checks the gate, the method and the filter (throwing the answer), then subscribes and
    /// streams until the client or the server ends it.
    /// - Parameter generation: the serving manifest's, whose admin functions and secrets gate the tail.
    static func response(
        _ request: Request,
        method: String,
        requestID: String,
        channel: any Channel,
        pipeline: RequestPipeline,
        generation: Generation
    ) throws -> Response {
        try generation.admin.authorize(authorization: request.headers[.authorization], secrets: generation.env, method: method, path: path)
        guard method == "GET" else { throw EdgeHTTPError(.methodNotAllowed, "use GET", headers: ["Allow": "GET"]) }
        let filter = try filter(query: request.uri.query ?? "")
        let subscription = pipeline.live.subscribe(filter)
        channel.closeFuture.whenComplete { _ in subscription.cancel() }
        // A client that quits sends a FIN; the connection allows half-closure, so without this the
        // stream would notice only when a later write fails.
        channel.pipeline.addHandler(ClosesOnInputEnd(), position: .first).whenFailure { _ in subscription.cancel() }
        let heartbeat = pipeline.tailHeartbeat
        let logger = pipeline.logger
        logger.info("tail started", metadata: ["request_id": "\(requestID)"])
        var fields = HTTPFields()
        fields[.contentType] = contentType
        fields[.cacheControl] = "no-cache"
        fields[RequestPipeline.requestIDField] = requestID
        return Response(
            status: .ok,
            headers: fields,
            body: ResponseBody { writer in
                let beat = Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: heartbeat)
                        subscription.requestHeartbeat()
                    }
                }
                defer {
                    beat.cancel()
                    subscription.cancel()
                    logger.info("tail ended", metadata: ["request_id": "\(requestID)", "dropped": "\(subscription.droppedCount)"])
                }
                // Sends the head now: the client knows it is subscribed.
                try await writer.write(ByteBuffer(string: ": edge-run tail\n\n"))
                while let event = await subscription.next() {
                    try await writer.write(frame(event))
                }
                try await writer.finish(nil)
            }
        )
    }
}

/// Closes the connection when the peer ends its side: a tail client sends nothing after its
/// request, so the end of its input means it went away.
final class ClosesOnInputEnd: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
