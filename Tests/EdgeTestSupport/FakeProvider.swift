import EdgeRuntime
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// A programmable HTTP server playing a provider (Stripe, Resend, a webhook receiver, a JWKS
/// endpoint, a flaky upstream for the fetcher…) on a free loopback port: every request is
/// recorded, and `respond` decides each answer (it may take its time: a slow upstream).
public final class FakeProvider: Sendable {
    /// One request as received (a chunked body arrives whole).
    public struct Recorded: Sendable {
        public let method: String
        public let path: String
        public let query: String
        /// Lower-cased names; a repeated header's values joined with `, ` (RFC 9110 §5.3).
        public let headers: [String: String]
        public let body: Data

        public var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// An answer.
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [String: String]
        /// Header lines sent after `headers`, in order; a name may repeat (`X-Multi: one`, `X-Multi: two`).
        public var headerLines: [(name: String, value: String)]
        public var body: Data
        /// Sends the body in chunks of this many bytes (`Transfer-Encoding: chunked`, no
        /// `Content-Length`).
        public var chunkSize: Int?
        public init(
            status: Int = 200,
            headers: [String: String] = [:],
            headerLines: [(name: String, value: String)] = [],
            body: Data = Data(),
            chunkSize: Int? = nil
        ) {
            self.status = status
            self.headers = headers
            self.headerLines = headerLines
            self.body = body
            self.chunkSize = chunkSize
        }
        public static func json(_ value: JSONValue, status: Int = 200) -> Reply {
            Reply(status: status, headers: ["Content-Type": "application/json"], body: value.serialized())
        }
    }

    public typealias Responder = @Sendable (Recorded) async -> Reply

    public let port: Int
    private let task: Task<Void, any Error>
    private let stopper: Mutex<(@Sendable () async -> Void)?>

    /// Starts the fake; `respond` answers every request (default: 200, empty).
    public static func start(_ respond: @escaping Responder = { _ in Reply() }) async throws -> FakeProvider {
        let box = FakeProviderBox()
        box.responder.withLock { $0 = respond }
        let ready = AsyncStream<Int>.makeStream()
        let responderBox = box
        let router = CallbackResponder<BasicRequestContext> { request, context in
            var req = request
            let body = try await req.collectBody(upTo: 64 << 20)
            var headers: [String: String] = [:]
            for field in request.headers {
                let name = field.name.rawName.lowercased()
                headers[name] = headers[name].map { "\($0), \(field.value)" } ?? field.value
            }
            let rec = Recorded(
                method: request.method.rawValue,
                path: request.uri.path,
                query: request.uri.query ?? "",
                headers: headers,
                body: Data(body.readableBytesView)
            )
            responderBox.record(rec)
            let reply = await responderBox.responder.withLock { $0 }(rec)
            var fields = HTTPFields()
            for (k, v) in reply.headers { if let name = HTTPField.Name(k) { fields[name] = v } }
            for (k, v) in reply.headerLines { if let name = HTTPField.Name(k) { fields.append(HTTPField(name: name, value: v)) } }
            guard let chunkSize = reply.chunkSize else {
                return Response(status: .init(code: reply.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: reply.body)))
            }
            let bytes = reply.body
            return Response(
                status: .init(code: reply.status),
                headers: fields,
                body: ResponseBody { writer in
                    var offset = bytes.startIndex
                    while offset < bytes.endIndex {
                        let end = min(offset + chunkSize, bytes.endIndex)
                        try await writer.write(ByteBuffer(bytes: bytes[offset..<end]))
                        offset = end
                    }
                    try await writer.finish(nil)
                }
            )
        }
        let app = Application(
            responder: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                ready.continuation.yield(channel.localAddress?.port ?? 0)
                ready.continuation.finish()
            },
            logger: {
                var l = Logger(label: "fake-provider")
                l.logLevel = .critical
                return l
            }()
        )
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: Logger(label: "fake")))
        let task = Task { try await group.run() }
        var port = 0
        for await p in ready.stream { port = p }
        return FakeProvider(box: box, port: port, task: task, stop: { await group.triggerGracefulShutdown() })
    }

    private let box: FakeProviderBox

    private init(box: FakeProviderBox, port: Int, task: Task<Void, any Error>, stop: @escaping @Sendable () async -> Void) {
        self.box = box
        self.port = port
        self.task = task
        self.stopper = Mutex(stop)
    }

    /// `http://127.0.0.1:<port>` + `path`.
    public func url(_ path: String = "") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Replaces how requests are answered.
    public func respond(_ respond: @escaping Responder) { box.responder.withLock { $0 = respond } }

    /// Every request so far.
    public var requests: [Recorded] { box.recorded.withLock { $0 } }

    /// How many requests came for `path` (query excluded), this one included when asked from
    /// the responder.
    public func hits(_ path: String) -> Int { box.recorded.withLock { $0.count { $0.path == path } } }

    public func stop() async throws {
        if let stop = stopper.withLock({ $0 }) { await stop() }
        try await task.value
    }
}

/// The mutable parts of a ``FakeProvider`` shared with its request handler.
final class FakeProviderBox: Sendable {
    let recorded = Mutex<[FakeProvider.Recorded]>([])
    let responder = Mutex<FakeProvider.Responder>({ _ in FakeProvider.Reply() })
    func record(_ r: FakeProvider.Recorded) { recorded.withLock { $0.append(r) } }
}
