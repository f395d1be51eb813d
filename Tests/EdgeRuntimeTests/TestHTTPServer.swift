import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A scriptable HTTP/1.1 server on 127.0.0.1 and an ephemeral port, for fetch tests.
///
/// Routes (every request counts a hit under its path, query excluded):
/// - `/echo`: 200, body = request body; headers `X-Method`, `X-Got-Content-Type` (or `none`),
///   `X-Got-Custom`, `X-Got-Expect` (or `none`), `X-Got-Idempotency-Key`, and `X-Multi` twice.
/// - `/slow/<ms>`: 200 `slow` after `ms` milliseconds.
/// - `/bytes/<n>` (Content-Length) and `/chunked/<n>` (chunked): `n` bytes of `a`.
/// - `/flaky/<key>/<failures>/<status>`: `status` for the first `failures` hits, then 200 `ok`.
/// - `/retry-after/<key>?value=<v>`: the first hit 503 with `Retry-After: v`, then 200 `ok`.
/// - `/status/<code>`: that status.
/// - `/scripted/<name>`: the response last set with ``script(_:status:headers:body:)`` (404 until then).
final class TestHTTPServer: Sendable {
    let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let hitCounts: HitCounter
    private let scripts: ScriptedResponses

    static func start() async throws -> TestHTTPServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let hits = HitCounter()
        let scripts = ScriptedResponses()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(hits: hits, scripts: scripts))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TestHTTPServer(group: group, channel: channel, hits: hits, scripts: scripts)
    }

    private init(group: MultiThreadedEventLoopGroup, channel: any Channel, hits: HitCounter, scripts: ScriptedResponses) {
        self.group = group
        self.channel = channel
        self.hitCounts = hits
        self.scripts = scripts
        port = channel.localAddress!.port!
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Sets what `/scripted/<name>` answers from now on.
    func script(_ name: String, status: Int = 200, headers: [(String, String)] = [], body: [UInt8]) {
        scripts.set(name, ScriptedResponse(status: status, headers: headers, body: body))
    }

    /// Requests seen for `path` (without query).
    func hits(_ path: String) -> Int { hitCounts.count(path) }

    func shutdown() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }
}

struct ScriptedResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
}

final class ScriptedResponses: Sendable {
    private let responses = Mutex<[String: ScriptedResponse]>([:])
    func set(_ name: String, _ response: ScriptedResponse) { responses.withLock { $0[name] = response } }
    func get(_ name: String) -> ScriptedResponse? { responses.withLock { $0[name] } }
}

final class HitCounter: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    func hit(_ path: String) -> Int {
        counts.withLock {
            $0[path, default: 0] += 1
            return $0[path]!
        }
    }
    func count(_ path: String) -> Int { counts.withLock { $0[path, default: 0] } }
}

private final class Handler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let hits: HitCounter
    private let scripts: ScriptedResponses
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(hits: HitCounter, scripts: ScriptedResponses) {
        self.hits = hits
        self.scripts = scripts
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            respond(context: context, head: head)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let parts = head.uri.split(separator: "?", maxSplits: 1)
        let path = String(parts.first ?? "")
        let query = parts.count > 1 ? String(parts[1]) : ""
        let count = hits.hit(path)
        let segments = path.split(separator: "/").map(String.init)
        var headers = HTTPHeaders()
        switch segments.first {
        case "echo":
            headers.add(name: "X-Method", value: head.method.rawValue)
            headers.add(name: "X-Got-Content-Type", value: head.headers["Content-Type"].first ?? "none")
            headers.add(name: "X-Got-Custom", value: head.headers["X-Custom"].joined(separator: ","))
            headers.add(name: "X-Got-Expect", value: head.headers["Expect"].first ?? "none")
            headers.add(name: "X-Got-Idempotency-Key", value: head.headers["Idempotency-Key"].first ?? "none")
            headers.add(name: "X-Multi", value: "one")
            headers.add(name: "X-Multi", value: "two")
            send(context, .ok, headers, body)
        case "slow":
            let ms = Int64(segments[1]) ?? 0
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(ms)) {
                self.send(context, .ok, headers, Array("slow".utf8))
            }
        case "bytes":
            send(context, .ok, headers, Array(repeating: UInt8(ascii: "a"), count: Int(segments[1]) ?? 0))
        case "chunked":
            sendChunked(context, Array(repeating: UInt8(ascii: "a"), count: Int(segments[1]) ?? 0))
        case "flaky":
            let failures = Int(segments[2]) ?? 0
            let status = HTTPResponseStatus(statusCode: Int(segments[3]) ?? 503)
            send(context, count <= failures ? status : .ok, headers, Array("ok".utf8))
        case "retry-after":
            if count == 1 {
                let value = query.hasPrefix("value=") ? String(query.dropFirst(6)).removingPercentEncoding ?? "" : "1"
                headers.add(name: "Retry-After", value: value)
                send(context, .serviceUnavailable, headers, Array("busy".utf8))
            } else {
                send(context, .ok, headers, Array("ok".utf8))
            }
        case "scripted":
            guard segments.count > 1, let scripted = scripts.get(segments[1]) else {
                send(context, .notFound, headers, [])
                return
            }
            for (name, value) in scripted.headers { headers.add(name: name, value: value) }
            send(context, HTTPResponseStatus(statusCode: scripted.status), headers, scripted.body)
        case "status":
            send(context, HTTPResponseStatus(statusCode: Int(segments[1]) ?? 500), headers, Array("status".utf8))
        default:
            send(context, .notFound, headers, [])
        }
    }

    private func send(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ headers: HTTPHeaders, _ body: [UInt8]) {
        var headers = headers
        headers.add(name: "Content-Length", value: String(body.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    private func sendChunked(_ context: ChannelHandlerContext, _ body: [UInt8]) {
        var headers = HTTPHeaders()
        headers.add(name: "Transfer-Encoding", value: "chunked")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        var offset = 0
        while offset < body.count {
            let end = min(offset + 16_384, body.count)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body[offset..<end])))), promise: nil)
            offset = end
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
