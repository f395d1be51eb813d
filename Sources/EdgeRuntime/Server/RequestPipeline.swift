import EdgeCore
import EdgeStorage
import Foundation
import HTTPTypes
import Hummingbird
import KVStore
import Logging
import NIOCore
import Queues
import Synchronization

/// A function ready to serve: its manifest entry and its handler instance. A class: a request
/// takes one reference to it, not a copy of the whole manifest entry (a retain per field).
final class LoadedFunction: Sendable {
    let spec: FunctionSpec
    let instance: any EdgeFunction
    /// `instance`'s optional seams, cast once here: a cast to a protocol existential per request
    /// is a conformance lookup in the runtime.
    let authorizing: (any HeadAuthorizing)?
    let inline: (any InlineAnswering)?

    init(spec: FunctionSpec, instance: any EdgeFunction) {
        self.spec = spec
        self.instance = instance
        authorizing = instance as? any HeadAuthorizing
        inline = instance as? any InlineAnswering
    }
}

/// One HTTP request through the runtime: request id, built-in endpoints, routing (404/405),
/// everything decided from the head before the body is read (503 while the function has
/// `max_runaway` handlers past their timeout, credentials 401, a declared length over the limit
/// 413), the body (413/408/400), the handler under its timeout (504), error mapping, metrics
/// and the access log.
struct RequestPipeline: Sendable {
    /// The serving manifest's routes, functions and `env` (one atomic load per request; a
    /// request keeps the generation it started with across a reload).
    let generations: GenerationSlot
    let metrics: EdgeMetrics
    let background: BackgroundWork
    let deadlines = DeadlineWatch()
    /// Handlers answered 504 and still running (`limits.max_runaway`).
    let runaway: RunawayHandlers
    /// Handler calls in flight, answered 503 when the shutdown grace runs out.
    let inFlight = InFlightCalls()
    /// `limits.body_read_timeout_seconds` (the connection enforces it; the 408 message names it).
    let bodyReadTimeoutSeconds: Double
    let logger: Logger
    /// `--test-scheduled`: `GET /__scheduled` runs the serving generation's crons now.
    let testScheduled: Bool
    /// The storage's own series for `/_edge/metrics` (LMDB map usage), read at scrape time.
    let storageMetrics: @Sendable () -> [StorageMetric]
    /// The live event bus (`/_edge/tail`): every answered request is published to it.
    let live: LiveEvents
    /// How often an idle tail stream gets a comment line.
    var tailHeartbeat: Duration = TailEndpoint.defaultHeartbeat
    /// Why the storage cannot be used (`nil`: it can), for `/_edge/health`.
    var storageProblem: @Sendable () async -> String? = { nil }
    /// `GET /_edge/health`'s request metrics.
    let healthMetrics: RouteRequestMetrics

    init(
        generations: GenerationSlot,
        metrics: EdgeMetrics,
        background: BackgroundWork,
        runaway: RunawayHandlers,
        bodyReadTimeoutSeconds: Double,
        logger: Logger,
        testScheduled: Bool,
        storageMetrics: @escaping @Sendable () -> [StorageMetric],
        live: LiveEvents
    ) {
        self.generations = generations
        self.metrics = metrics
        self.background = background
        self.runaway = runaway
        self.bodyReadTimeoutSeconds = bodyReadTimeoutSeconds
        self.logger = logger
        self.testScheduled = testScheduled
        self.storageMetrics = storageMetrics
        self.live = live
        healthMetrics = metrics.route("/_edge/health", method: "GET")
    }

    func respond(to request: Request, context: EdgeRequestContext) async -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        let generation = generations.generation
        generation.requests.add(1, ordering: .relaxed)
        defer { generation.requests.subtract(1, ordering: .releasing) }
        let requestID = Self.requestID(from: request.headers[Self.requestIDField])
        let method = request.method.rawValue
        let path = request.uri.path  // parsed out of the URI on each call: once here
        var route = "unmatched"
        var function: String?
        var resolved: RouteRequestMetrics?
        var answer: EdgeResponse
        var tracked: TrackedRequest?
        do {
            if path == TailEndpoint.path {
                route = TailEndpoint.path
                // A served tail is a stream, not an event of its own; a refused one is answered below.
                return try TailEndpoint.response(
                    request,
                    method: method,
                    requestID: requestID,
                    channel: context.channel,
                    pipeline: self,
                    generation: generation
                )
            }
            answer = try await handle(
                request,
                on: generation,
                method: method,
                path: path,
                requestID: requestID,
                remote: { context.remoteAddress?.ipAddress },
                route: &route,
                function: &function,
                resolved: &resolved,
                tracked: &tracked
            )
        } catch {
            let mapped = ErrorMapping.response(for: error)
            if mapped.internal {
                logger.error(
                    "request failed",
                    metadata: ["request_id": "\(requestID)", "route": "\(route)", "error": "\(String(reflecting: error))"]
                )
            }
            var headers = mapped.headers
            headers["Content-Type"] = "application/json"
            answer = EdgeResponse(status: mapped.status, headers: headers, body: ErrorMapping.body(message: mapped.message, requestID: requestID))
        }
        let elapsed = Int64(DispatchTime.now().uptimeNanoseconds - started)
        if let resolved, resolved.method == method {
            resolved.record(status: answer.status, nanoseconds: elapsed)
        } else {
            metrics.recordRequest(route: route, method: method, status: answer.status, nanoseconds: elapsed)
        }
        if let tracked {
            // The analytics middleware: buffered in memory, sent by the sink's flusher, never awaited here.
            tracked.sink.record(
                RequestAnalyticsEvent(
                    path: path,
                    method: method,
                    status: answer.status,
                    durationMs: Double(elapsed) / 1e6,
                    userID: tracked.userID,
                    ip: tracked.ip
                ),
                env: generation.env
            )
        }
        logger.info(
            "request",
            metadata: [
                "request_id": "\(requestID)", "method": "\(method)", "path": "\(path)", "route": "\(route)",
                "status": "\(answer.status)", "duration_ms": "\(String(format: "%.2f", Double(elapsed) / 1e6))",
            ]
        )
        live.publish {
            .request(
                method: method,
                path: path,
                route: route,
                function: function,
                status: answer.status,
                durationMs: Double(elapsed) / 1e6,
                requestID: requestID,
                time: generation.env.clock.now() - Double(elapsed) / 1e9
            )
        }
        return Self.makeResponse(answer, requestID: requestID, head: method == "HEAD")
    }

    private func handle(
        _ request: Request,
        on generation: Generation,
        method: String,
        path rawPath: String,
        requestID: String,
        remote: @escaping @Sendable () -> String?,
        route: inout String,
        function functionName: inout String?,
        resolved: inout RouteRequestMetrics?,
        tracked: inout TrackedRequest?
    ) async throws -> EdgeResponse {
        if let builtin = try await builtinEndpoint(request, on: generation, method: method, path: rawPath) {
            route = rawPath
            if rawPath == "/_edge/health" { resolved = healthMetrics }
            return builtin
        }
        guard let segments = Router.segments(of: rawPath) else { throw EdgeHTTPError(.badRequest, "malformed percent-encoding in path") }
        switch generation.router.match(method: method, segments: segments) {
        case .notFound:
            throw EdgeHTTPError(.notFound, "no route for \(method) \(rawPath)")
        case .methodNotAllowed(let allowed):
            throw EdgeHTTPError(.methodNotAllowed, "method \(method) is not allowed here", headers: ["Allow": allowed.joined(separator: ", ")])
        case .found(let index, let entry, let pattern, let params):
            route = pattern.source
            if entry < generation.routeMetrics.count { resolved = generation.routeMetrics[entry] }
            let function = generation.functions[index]
            functionName = function.spec.name
            let limits = function.spec.limits
            // Decide before reading: too many runaway handlers, then credentials, then the body.
            if runaway.count(function.spec.name) >= limits.maxRunaway {
                throw EdgeHTTPError(.serviceUnavailable, "function \(function.spec.name) has too many handlers still running past their timeout")
            }
            if let provider = function.spec.analytics, let sink = generation.analyticsSinks[provider] {
                tracked = TrackedRequest(sink: sink, ip: Self.clientIP(request.headers, remote: remote))
            }
            var headers = EdgeHeaders()
            headers.reserveCapacity(request.headers.count + 1)
            // HTTP/1's Host travels as the request's authority; handlers see it as a header
            // (twilio.status rebuilds the signed URL from it).
            if let authority = request.head.authority { headers.add(name: "Host", value: authority) }
            for field in request.headers { headers.add(name: field.name.rawName, value: field.value) }
            var edgeRequest = EdgeRequest(
                method: method,
                path: rawPath,
                query: request.uri.query ?? "",
                headers: headers,
                params: params,
                requestID: requestID,
                remoteAddressLookup: remote
            )
            edgeRequest.route = pattern.source
            if let provider = function.spec.auth {
                let authenticator = generation.authenticators[provider] ?? RejectingAuthenticator()
                edgeRequest.claims = try await authenticator.authenticate(edgeRequest)
                tracked?.userID = edgeRequest.claims?["sub"]?.stringValue
            }
            let env = generation.env
            if let authorizing = function.authorizing { try authorizing.authorize(edgeRequest, env: env) }
            edgeRequest.body = try await collectBody(request, limit: limits.maxBodyBytes)
            let context = ExecutionContext(tracker: background)
            let instance = function.instance
            let ready = edgeRequest
            if let inline = function.inline, inline.answersInline(ready) {
                return try await instance.fetch(ready, env: env, context: context)
            }
            do {
                return try await withDeadline(
                    seconds: limits.handlerTimeoutSeconds,
                    watch: deadlines,
                    runaway: runaway.slot(function.spec.name),
                    stopping: inFlight
                ) {
                    try await instance.fetch(ready, env: env, context: context)
                }
            } catch is TimeoutError {
                throw EdgeHTTPError(.gatewayTimeout, "handler timed out after \(limits.handlerTimeoutSeconds) s")
            } catch is ServerStoppingError {
                throw EdgeHTTPError(.serviceUnavailable, "the server is shutting down")
            }
        }
    }

    /// `/_edge/health`, `/_edge/metrics`, `/_edge/openapi.json`, `/__scheduled`, the console.
    private func builtinEndpoint(_ request: Request, on generation: Generation, method: String, path: String) async throws -> EdgeResponse? {
        switch path {
        case "/_edge/health":
            guard method == "GET" || method == "HEAD" else { throw EdgeHTTPError(.methodNotAllowed, "use GET", headers: ["Allow": "GET"]) }
            if let problem = await storageProblem() {
                return EdgeResponse(
                    status: 503,
                    headers: Self.jsonContentType,
                    body: JSONValue.object(["status": "degraded", "storage": .string(problem)]).serialized()
                )
            }
            return EdgeResponse(status: 200, headers: Self.jsonContentType, body: Self.healthBody)
        case "/_edge/metrics":
            guard method == "GET" || method == "HEAD" else { throw EdgeHTTPError(.methodNotAllowed, "use GET", headers: ["Allow": "GET"]) }
            let text = metrics.render(queues: try? await generation.env.queues.allStats(), storage: storageMetrics())
            return EdgeResponse(status: 200, headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8"], body: Data(text.utf8))
        case "/_edge/openapi.json":
            guard method == "GET" || method == "HEAD" else { throw EdgeHTTPError(.methodNotAllowed, "use GET", headers: ["Allow": "GET"]) }
            return EdgeResponse(status: 200, headers: Self.jsonContentType, body: generation.openAPIDocument)
        case "/__scheduled":
            guard testScheduled else { return nil }
            guard method == "GET" else { throw EdgeHTTPError(.methodNotAllowed, "use GET", headers: ["Allow": "GET"]) }
            let cron = FormEncoding.decode(request.uri.query ?? "").first { $0.name == "cron" }?.value
            let ran = try await generation.cron.runNow(schedule: cron)
            return .json(["ran": .integer(Int64(ran))])
        default:
            guard let console = generation.console, ConsoleEndpoints.handles(path) else { return nil }
            // The page and its files carry no data: the gate's 404 and 403 apply, not the token.
            if ConsoleEndpoints.needsToken(path) {
                try generation.admin.authorize(authorization: request.headers[.authorization], secrets: generation.env, method: method, path: path)
            } else {
                try generation.admin.admit(method: method, path: path)
            }
            return try await console.respond(method: method, path: path, query: request.uri.query ?? "")
        }
    }

    /// Reads the body up to `limit` bytes: a declared `Content-Length` over the limit is refused
    /// before reading anything; a streamed body is cut off as soon as it passes the limit. A body
    /// not complete within `limits.body_read_timeout_seconds` is 408; one the client cut short or
    /// framed wrongly (a bad chunk size) is 400 — never a 500, which means a handler failed.
    func collectBody(_ request: Request, limit: Int) async throws -> Data {
        func tooLarge() -> EdgeHTTPError { EdgeHTTPError(.payloadTooLarge, "request body is larger than \(limit) bytes") }
        let declared = request.headers[.contentLength]
        if let length = declared.flatMap(Int.init), length > limit { throw tooLarge() }
        // Neither a length nor chunked framing: an HTTP/1.1 request without a body (RFC 9112
        // §6.3), the usual GET. Nothing to wait for, so no body iterator is made for it.
        if declared == "0" || (declared == nil && request.headers[.transferEncoding] == nil) { return Data() }
        var collected = ByteBuffer()
        do {
            for try await chunk in request.body {
                if collected.readableBytes + chunk.readableBytes > limit { throw tooLarge() }
                var chunk = chunk
                collected.writeBuffer(&chunk)
            }
        } catch let error as EdgeHTTPError {
            throw error
        } catch is BodyReadTimeoutError {
            throw EdgeHTTPError(.requestTimeout, "request body not received within \(bodyReadTimeoutSeconds) s")
        } catch {
            throw EdgeHTTPError(.badRequest, "malformed or incomplete request body")
        }
        return Data(collected.readableBytesView)
    }

    static let requestIDField = HTTPField.Name("X-Request-Id")!
    static let healthBody = JSONValue.object(["status": "ok"]).serialized()
    static let jsonContentType: EdgeHeaders = ["Content-Type": "application/json"]

    /// A request the analytics middleware reports once it is answered.
    struct TrackedRequest {
        let sink: any RequestAnalyticsSink
        let ip: String?
        var userID: String?
    }

    /// `CF-Connecting-IP`, else the first `X-Forwarded-For` entry, else the peer address.
    static func clientIP(_ headers: HTTPFields, remote: () -> String?) -> String? {
        if let cf = HTTPField.Name("CF-Connecting-IP").flatMap({ headers[$0] }), !cf.isEmpty { return cf }
        if let xff = HTTPField.Name("X-Forwarded-For").flatMap({ headers[$0] }),
            let first = xff.split(separator: ",").first?.trimmingCharacters(in: .whitespaces), !first.isEmpty
        {
            return first
        }
        return remote()
    }

    /// A random per-process prefix and a counter: unique, cheap, and not guessable across restarts.
    static let requestIDPrefix = Crypto.randomID(byteCount: 6)
    static let requestCounter = Atomic<UInt64>(0)

    /// A client's `X-Request-Id` when it is short and plain, otherwise a new one.
    static func requestID(from header: String?) -> String {
        if let header, (1...128).contains(header.utf8.count),
            header.utf8.allSatisfy({
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E
            })
        {
            return header
        }
        return nextRequestID()
    }

    /// `requestIDPrefix` and the next counter value in hex, written straight into one string
    /// (a concatenation of two strings allocates and copies twice; this runs per request).
    static func nextRequestID() -> String {
        let n = requestCounter.add(1, ordering: .relaxed).newValue
        let digits = max(1, (UInt64.bitWidth - n.leadingZeroBitCount + 3) / 4)
        var prefix = requestIDPrefix
        return prefix.withUTF8 { head in
            String(unsafeUninitializedCapacity: head.count + digits) { buffer in
                _ = buffer.initialize(from: head)
                let hex: StaticString = "0123456789abcdef"
                for i in 0..<digits {
                    buffer[head.count + digits - 1 - i] = hex.utf8Start[Int((n >> (4 * UInt64(i))) & 0xF)]
                }
                return head.count + digits
            }
        }
    }

    /// The field name of `name`; the usual ones without validating and lower-casing it again.
    private static func fieldName(_ name: String) -> HTTPField.Name? {
        switch name {
        case "Content-Type": .contentType
        default: HTTPField.Name(name)
        }
    }

    static func makeResponse(_ answer: EdgeResponse, requestID: String, head: Bool) -> Response {
        var fields = HTTPFields()
        fields.reserveCapacity(answer.headers.fields.count + 2)
        for field in answer.headers {
            guard let name = fieldName(field.name) else { continue }
            if name == .contentLength || name == requestIDField { continue }
            fields.append(HTTPField(name: name, value: field.value))
        }
        fields.append(HTTPField(name: requestIDField, value: requestID))
        if head {
            fields[.contentLength] = String(answer.body.count)
            return Response(status: .init(code: answer.status), headers: fields, body: ResponseBody())
        }
        return Response(
            status: .init(code: answer.status),
            headers: fields,
            body: ResponseBody(byteBuffer: answer.body.withUnsafeBytes { ByteBuffer(bytes: $0) })
        )
    }
}

/// The request context: Hummingbird's core storage plus the peer address.
public struct EdgeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The peer's address (looked up only when asked for).
    public var remoteAddress: SocketAddress? { channel.remoteAddress }
}
