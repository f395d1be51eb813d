import EdgeRuntime
import EdgeTestSupport
import Foundation
import Testing

/// The hardening rules (docs/runtime.md) for the request path: credentials before bodies, body/header/idle
/// timeouts, connection limits, malformed HTTP, runaway handlers, the kv.api body limit.
@Suite("Hardening: HTTP request path")
struct HardeningHTTPTests {
    static let token = "admin-token-for-tests"
    /// How long a test waits for what the server must do (an answer, a close). Generous: a wait
    /// ends as soon as it happens, and with the whole suite running on 2 cores a 1 s timer can
    /// fire seconds late.
    static let patience = 30.0

    static let manifest = manifest(limits: ["body_read_timeout_seconds": 1, "idle_timeout_seconds": 1])

    static func manifest(limits: JSONValue) -> JSONValue {
        [
            "secrets": ["ADMIN_TOKEN"],
            "limits": limits,
            "kv_namespaces": [["binding": "KV"]],
            "queues": [["name": "jobs"]],
            "auth_providers": ["clerk": ["preset": "clerk", "domain": "example.clerk.accounts.dev"]],
            "functions": [
                [
                    "name": "kv-admin", "handler": "kv.api", "routes": ["GET /admin/kv/*", "PUT /admin/kv/*"],
                    "config": ["token_secret": "ADMIN_TOKEN"],
                ],
                ["name": "queues-admin", "handler": "queues.api", "routes": ["POST /admin/queues/*"], "config": ["token_secret": "ADMIN_TOKEN"]],
                ["name": "echo", "handler": "test.echo", "routes": ["POST /echo/:id", "GET /echo/:id"]],
                ["name": "me", "handler": "test.echo", "routes": ["POST /me"], "auth": "clerk"],
                ["name": "stubborn", "handler": "test.stubborn", "routes": ["GET /stubborn"], "limits": ["handler_timeout_seconds": 0.2]],
            ],
        ]
    }

    static func start(_ manifest: JSONValue = manifest, configure: (inout ServeOptions) -> Void = { _ in }) async throws -> RunningServer {
        let registry = TestFunctions.registry()
        registry.register("test.stubborn", StubbornFunction.self)
        return try await RunningServer.start(manifest: manifest, secrets: ["ADMIN_TOKEN": token], registry: registry, configure: configure)
    }

    /// Headers that declare a 10 MB body, none of which is ever sent.
    static func head(_ method: String, _ path: String, _ extra: String = "") -> String {
        "\(method) \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\(extra)\r\n"
    }

    @Test func wrongOrMissingCredentialsAre401WithoutReadingTheBody() async throws {
        let s = try await Self.start()
        let cases = [
            Self.head("PUT", "/admin/kv/KV/values/k"),
            Self.head("PUT", "/admin/kv/KV/values/k", "Authorization: Bearer wrong\r\n"),
            Self.head("POST", "/admin/queues/jobs/messages", "Authorization: Bearer wrong\r\n"),
            Self.head("POST", "/me"),
        ]
        for request in cases {
            let connection = try RawConnection(port: s.port)
            connection.send(request)
            let answer = await connection.receive(timeout: Self.patience, untilResponse: true)
            #expect(answer.text.hasPrefix("HTTP/1.1 401"), "\(request)")
            #expect(answer.text.contains("\"request_id\""))
            // The body is never wanted: the server ends the connection instead of draining it.
            #expect(answer.text.lowercased().contains("connection: close"))
            #expect(await connection.receive(timeout: Self.patience).closed)
        }
        // The right token still gets its body read.
        let put = try await s.client.request("PUT", "/admin/kv/KV/values/k", headers: ["Authorization": "Bearer \(Self.token)"], body: Data("v".utf8))
        #expect(put.status == 200)
        try await s.stopAndClean()
    }

    @Test func aBodyNotReceivedInTimeIs408() async throws {
        let s = try await Self.start()
        let connection = try RawConnection(port: s.port)
        connection.send("POST /echo/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b")
        let answer = await connection.receive(timeout: Self.patience, untilResponse: true)
        #expect(answer.text.hasPrefix("HTTP/1.1 408"))
        let body = answer.text.components(separatedBy: "\r\n\r\n").last ?? ""
        #expect((try? JSONValue.parse(body))?["error"]?.stringValue?.contains("not received") == true)
        #expect(await connection.receive(timeout: Self.patience).closed)
        try await s.stopAndClean()
    }

    @Test func headersNotCompleteInTimeCloseTheConnection() async throws {
        let s = try await Self.start { $0.headerTimeoutSeconds = 1 }
        let partial = try RawConnection(port: s.port)
        partial.send("GET /echo/1 HTTP/1.1\r\nHost: x\r\n")
        let silent = try RawConnection(port: s.port)
        let answer = await partial.receive(timeout: Self.patience)
        #expect(answer.closed)
        #expect(answer.text.isEmpty)
        #expect(await silent.receive(timeout: Self.patience).closed)
        // Others were served meanwhile.
        #expect(try await s.client.get("/echo/1").status == 200)
        try await s.stopAndClean()
    }

    @Test func idleKeepAliveConnectionsAreClosed() async throws {
        let s = try await Self.start()
        let connection = try RawConnection(port: s.port)
        connection.send("GET /_edge/health HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(await connection.receive(timeout: Self.patience, untilResponse: true).text.hasPrefix("HTTP/1.1 200"))
        // Still usable right away (keep-alive) …
        connection.send("GET /_edge/health HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(await connection.receive(timeout: Self.patience, untilResponse: true).text.hasPrefix("HTTP/1.1 200"))
        // … and closed once idle for idle_timeout_seconds (1 s).
        let idle = await connection.receive(timeout: Self.patience)
        #expect(idle.closed)
        #expect(idle.text.isEmpty)
        try await s.stopAndClean()
    }

    @Test func connectionsBeyondMaxConnectionsAreClosedWhileTheOthersKeepWorking() async throws {
        let s = try await Self.start(Self.manifest(limits: ["max_connections": 2]))
        let first = try RawConnection(port: s.port)
        let second = try RawConnection(port: s.port)
        for connection in [first, second] {
            connection.send("GET /_edge/health HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await connection.receive(timeout: Self.patience, untilResponse: true).text.hasPrefix("HTTP/1.1 200"))
        }
        let third = try RawConnection(port: s.port)
        third.send("GET /_edge/health HTTP/1.1\r\nHost: x\r\n\r\n")
        let refused = await third.receive(timeout: Self.patience)
        #expect(refused.closed)
        #expect(refused.text.isEmpty)
        // The two open ones keep working, half-sent requests on neither slow them.
        first.send("GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(await first.receive(timeout: Self.patience, untilResponse: true).text.hasPrefix("HTTP/1.1 200"))
        // A slot freed is a slot for the next connection.
        second.finishSending()
        #expect(await second.receive(timeout: Self.patience).closed)
        let served = await eventually(timeout: Self.patience) {
            guard let next = try? RawConnection(port: s.port) else { return false }
            next.send("GET /_edge/health HTTP/1.1\r\nHost: x\r\n\r\n")
            return await next.receive(timeout: 5, untilResponse: true).text.hasPrefix("HTTP/1.1 200")
        }
        #expect(served)
        try await s.stopAndClean()
    }

    @Test func malformedBodiesAre400NeverA500() async throws {
        let s = try await Self.start()
        let badChunk = try RawConnection(port: s.port)
        badChunk.send("POST /echo/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
        let chunkAnswer = await badChunk.receive(timeout: Self.patience, untilResponse: true)
        #expect(chunkAnswer.text.hasPrefix("HTTP/1.1 400"), "\(chunkAnswer.text)")

        let cutShort = try RawConnection(port: s.port)
        cutShort.send("POST /echo/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b")
        cutShort.finishSending()
        let cutAnswer = await cutShort.receive(timeout: Self.patience, untilResponse: true)
        #expect(cutAnswer.text.hasPrefix("HTTP/1.1 400"), "\(cutAnswer.text)")

        let metrics = try await s.client.get("/_edge/metrics")
        #expect(!metrics.text.contains(#"status="500""#))
        #expect(!metrics.text.contains(#"route="POST /echo/:id",method="POST",status="200""#), "a cut-short body must not reach the handler")
        try await s.stopAndClean()
    }

    @Test func anExplicitTopLevelMaxBodyBytesAppliesToKVAPI() async throws {
        let s = try await Self.start(Self.manifest(limits: ["max_body_bytes": 1024]))
        let auth = ["Authorization": "Bearer \(Self.token)"]
        #expect(try await s.client.request("PUT", "/admin/kv/KV/values/small", headers: auth, body: Data(count: 1024)).status == 200)
        let over = try await s.client.request("PUT", "/admin/kv/KV/values/big", headers: auth, body: Data(count: 2048))
        #expect(over.status == 413)
        try await s.stopAndClean()
    }

    @Test func runawayHandlersAreCountedAndAtMaxRunawayNewRequestsAre503() async throws {
        StubbornFunction.gate.reset()
        let s = try await Self.start(Self.manifest(limits: ["max_runaway": 2]))
        let runaway = #"edge_runaway_handlers{function="stubborn"}"#
        for _ in 0..<2 { #expect(try await s.client.get("/stubborn").status == 504) }
        #expect(try await s.client.get("/_edge/metrics").text.contains("\(runaway) 2"))
        let refused = try await s.client.get("/stubborn")
        #expect(refused.status == 503)
        #expect(refused.json["error"]?.stringValue?.contains("stubborn") == true)
        #expect(refused.json["request_id"] != nil)
        #expect(StubbornFunction.gate.waiting == 2, "the refused request never reached the handler")
        #expect(try await s.client.get("/echo/1").status == 200, "other functions are not affected")
        // The runaways finish: the gauge goes back to 0 and the function answers again.
        StubbornFunction.gate.open()
        #expect(await eventually { (try? await s.client.get("/_edge/metrics").text.contains("\(runaway) 0")) == true })
        let again = try await s.client.get("/stubborn")
        #expect(again.status == 200)
        #expect(again.text == "done")
        try await s.stopAndClean()
    }
}

/// Ignores cancellation: runs past its timeout until its gate opens (runaway handlers).
struct StubbornFunction: EdgeFunction {
    static let gate = Gate()
    init(config: FunctionConfig) throws {}
    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        await Self.gate.wait()
        return .text("done")
    }
}
