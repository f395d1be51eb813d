import EdgeRuntime
import EdgeTestSupport
import Foundation
import KVStore
import LMDBStorage
import Testing

/// The HTTP contract of `serve`, against a real server on a loopback port.
@Suite("Runtime HTTP contract", .serialized)
struct RuntimeHTTPTests {
    static let manifest: JSONValue = [
        "name": "http-tests",
        "vars": ["GREETING": "hi"],
        "limits": ["max_body_bytes": 1024, "handler_timeout_seconds": 5],
        "kv_namespaces": [["binding": "KV"]],
        "auth_providers": ["clerk": ["preset": "clerk", "domain": "example.clerk.accounts.dev"]],
        "functions": [
            ["name": "echo", "handler": "test.echo", "routes": ["GET /echo/:id", "POST /echo/:id", "GET /files/*", "GET /echo/special"]],
            [
                "name": "slow", "handler": "test.slow", "routes": ["GET /slow"], "config": ["seconds": 5],
                "limits": ["handler_timeout_seconds": 0.2],
            ],
            ["name": "crash", "handler": "test.crash", "routes": ["GET /crash"]],
            ["name": "me", "handler": "test.echo", "routes": ["GET /me"], "auth": "clerk"],
            ["name": "later", "handler": "test.later", "routes": ["POST /later"]],
        ],
    ]

    @Test func healthAndRequestIDs() async throws {
        let s = try await RunningServer.start(manifest: Self.manifest, registry: TestFunctions.registry())
        let health = try await s.client.get("/_edge/health")
        #expect(health.status == 200)
        #expect(health.json == ["status": "ok"])
        let missing = try await s.client.get("/nowhere")
        #expect(missing.status == 404)
        #expect(missing.json["error"]?.stringValue?.isEmpty == false)
        #expect(missing.json["request_id"]?.stringValue == missing.headers["X-Request-Id"])
        let given = try await s.client.get("/nowhere", headers: ["X-Request-Id": "client-id-123"])
        #expect(given.headers["X-Request-Id"] == "client-id-123")
        #expect(given.json["request_id"] == "client-id-123")
        try await s.stopAndClean()
    }

    @Test func routesParamsWildcardsAnd405() async throws {
        let s = try await RunningServer.start(manifest: Self.manifest, registry: TestFunctions.registry())
        let echo = try await s.client.get("/echo/a%20b?x=1")
        #expect(echo.status == 200)
        #expect(echo.json["params"] == ["id": "a b"])
        #expect(echo.json["query"] == "x=1")
        #expect(echo.json["greeting"] == "hi")
        let special = try await s.client.get("/echo/special")
        #expect(special.json["params"] == [:])
        let files = try await s.client.get("/files/a/b/c.txt")
        #expect(files.json["params"] == ["*": "a/b/c.txt"])
        #expect(try await s.client.get("/files").status == 404)
        let wrong = try await s.client.request("DELETE", "/echo/1")
        #expect(wrong.status == 405)
        #expect(wrong.headers["Allow"] == "GET, POST")
        #expect(wrong.json["request_id"] != nil)
        let head = try await s.client.request("HEAD", "/echo/1")
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        try await s.stopAndClean()
    }

    @Test func bodiesOverTheLimitAre413WithoutReadingThem() async throws {
        let s = try await RunningServer.start(manifest: Self.manifest, registry: TestFunctions.registry())
        let ok = try await s.client.request("POST", "/echo/1", body: Data(repeating: 0x61, count: 1024))
        #expect(ok.status == 200)
        let over = try await s.client.request("POST", "/echo/1", body: Data(repeating: 0x61, count: 1025))
        #expect(over.status == 413)
        #expect(over.json["error"] != nil)
        // Declares 50 MB and sends none of it: the answer must come without waiting for the body.
        let raw = try await rawExchange(port: s.port, Array("POST /echo/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n".utf8))
        #expect(raw.hasPrefix("HTTP/1.1 413"))
        #expect(raw.contains("\"request_id\""))
        try await s.stopAndClean()
    }

    /// A request's body is what its framing says, whatever the method: a length or chunks are
    /// read (a GET may carry a body too), no framing at all is no body (RFC 9112 §6.3), and
    /// the next request on the connection still parses.
    @Test func bodiesFollowTheirFramingWhateverTheMethod() async throws {
        let s = try await RunningServer.start(manifest: Self.manifest, registry: TestFunctions.registry())
        let plain = try await s.client.get("/echo/1")
        #expect(plain.json["body"] == "")
        let lengthed = try await rawExchange(
            port: s.port,
            Array(
                "GET /echo/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".utf8
            )
        )
        #expect(lengthed.hasPrefix("HTTP/1.1 200"))
        #expect(lengthed.contains(#""body":"hello""#))
        let chunked = try await rawExchange(
            port: s.port,
            Array(
                "GET /echo/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n".utf8
            )
        )
        #expect(chunked.hasPrefix("HTTP/1.1 200"))
        #expect(chunked.contains(#""body":"abcde""#))
        // Two requests in one write: the first has no body, so the second is not taken for one.
        let connection = try RawConnection(port: s.port)
        connection.send("GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo/2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        let both = await connection.receive(timeout: 30, untilResponse: false).text
        #expect(both.components(separatedBy: "HTTP/1.1 200").count == 3)
        #expect(both.contains(#""body":"ok""#))
        try await s.stopAndClean()
    }

    @Test func handlerErrorsAre500WithoutInternalsAndTimeoutsAre504() async throws {
        let s = try await RunningServer.start(manifest: Self.manifest, registry: TestFunctions.registry())
        let crash = try await s.client.get("/crash")
        #expect(crash.status == 500)
        #expect(crash.json["error"] == "internal error")
        #expect(!crash.text.contains("hunter2"))
        let slow = try await s.client.get("/slow")
        #expect(slow.status == 504)
        #expect(slow.json["request_id"] != nil)
        try await s.stopAndClean()
    }

    @Test func authRoutesNeedAVerifiedToken() async throws {
        let s = try await RunningServer.start(manifest: Self.manifest, registry: TestFunctions.registry())
        let anonymous = try await s.client.get("/me")
        #expect(anonymous.status == 401)
        #expect(anonymous.json["error"] != nil)
        try await s.stopAndClean()

        struct Accepting: RequestAuthenticator {
            func authenticate(_ request: EdgeRequest) async throws -> JSONValue {
                guard request.bearerToken == "good" else { throw EdgeHTTPError(.unauthorized, "invalid token") }
                return ["sub": "user_1"]
            }
        }
        let t = try await RunningServer.start(manifest: Self.manifest, registry: TestFunctions.registry(), authenticators: ["clerk": Accepting()])
        #expect(try await t.client.get("/me", headers: ["Authorization": "Bearer bad"]).status == 401)
        let me = try await t.client.get("/me", headers: ["Authorization": "Bearer good"])
        #expect(me.status == 200)
        #expect(me.json["claims"] == ["sub": "user_1"])
        try await t.stopAndClean()
    }

    @Test func waitUntilWorkFinishesBeforeShutdownCompletes() async throws {
        let data = TemporaryFolder("later")
        defer { data.cleanup() }
        let s = try await RunningServer.start(manifest: Self.manifest, registry: TestFunctions.registry(), data: data)
        let accepted = try await s.client.request("POST", "/later")
        #expect(accepted.status == 202)
        try await s.stop()
        let environment = try LMDBEnvironment(path: data.path + "/lmdb")
        let kv = try await LMDBKVStore.open(environment: environment, binding: "KV")
        #expect(try await kv.getText("later") == "written after the response")
    }

    @Test func gracefulShutdownFinishesAnInFlightRequest() async throws {
        let manifest: JSONValue = ["functions": [["name": "hold", "handler": "test.hold", "routes": ["GET /hold"]]]]
        HoldFunction.gate.reset()
        let s = try await RunningServer.start(manifest: manifest, registry: TestFunctions.registry())
        let inFlight = Task { try await s.client.get("/hold") }
        #expect(await eventually { HoldFunction.gate.waiting == 1 })
        let stopping = Task { try await s.stop() }
        // The server is draining; the held request is still answered once released.
        try await Task.sleep(for: .milliseconds(100))
        HoldFunction.gate.open()
        let response = try await inFlight.value
        #expect(response.status == 200)
        #expect(response.text == "held and released")
        try await stopping.value
        s.data.cleanup()
    }

    @Test func metricsCountRequestsByRouteAndStatus() async throws {
        let s = try await RunningServer.start(manifest: Self.manifest, registry: TestFunctions.registry())
        _ = try await s.client.get("/echo/1")
        _ = try await s.client.get("/nowhere")
        let metrics = try await s.client.get("/_edge/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.text.contains(#"edge_requests_total{route="GET /echo/:id",method="GET",status="200"} 1"#))
        #expect(metrics.text.contains(#"status="404"}"#))
        #expect(metrics.text.contains("edge_request_duration_seconds"))
        try await s.stopAndClean()
    }
}
