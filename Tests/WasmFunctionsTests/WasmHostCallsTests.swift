import EdgeRuntime
import EdgeTestSupport
import Foundation
import Testing

/// The examples in `Examples/wasm` (built C and WAT, committed under `Fixtures/`) served by a
/// real server: WAGI, every `edge_run` host call, queue batches and crons.
@Suite("wasm: examples and edge_run host calls")
struct WasmHostCallsTests {
    static let auth = ["Authorization": "Bearer t"]

    static func manifest(_ functions: [JSONValue], queues: [JSONValue] = [["name": "jobs"]], crons: [JSONValue] = []) -> JSONValue {
        [
            "secrets": ["ADMIN_TOKEN"],
            "vars": ["PLAIN_VAR": "not for wasm"],
            "kv_namespaces": [["binding": "KV"]],
            "queues": .array(queues),
            "functions": .array(
                functions + [
                    ["name": "kv-admin", "handler": "kv.api", "routes": ["GET /admin/kv/*"], "config": ["token_secret": "ADMIN_TOKEN"]],
                    [
                        "name": "q-admin", "handler": "queues.api", "routes": ["GET /admin/q/*", "POST /admin/q/*"],
                        "config": ["token_secret": "ADMIN_TOKEN"],
                    ],
                ]
            ),
            "crons": .array(crons),
        ]
    }

    static func start(
        _ modules: [String],
        _ manifest: JSONValue,
        fetcher: (any HTTPFetching)? = nil,
        testScheduled: Bool = false
    ) async throws -> RunningServer {
        var files: [String: [UInt8]] = [:]
        for m in modules { files[m] = try Modules.fixture(m) }
        return try await WasmServer.start(
            modules: files,
            manifest: manifest,
            secrets: ["ADMIN_TOKEN": "t"],
            fetcher: fetcher,
            testScheduled: testScheduled
        )
    }

    @Test func theCAndWATHelloExamplesAnswer() async throws {
        let s = try await Self.start(
            ["hello.wasm", "hello-wat.wasm"],
            Self.manifest([
                ["name": "hello", "handler": "wasm", "routes": ["GET /hello/:name"], "config": ["module": "hello.wasm", "env": ["GREETING": "hi"]]],
                ["name": "wat", "handler": "wasm", "routes": ["GET /wat"], "config": ["module": "hello-wat.wasm"]],
            ])
        )
        let hello = try await s.client.get("/hello/ada%20l")
        #expect(hello.status == 200)
        #expect(hello.text == "hi, ada l!\n")
        #expect(hello.headers["Content-Type"] == "text/plain; charset=utf-8")
        #expect(try await s.client.get("/wat").text == "hello from wat\n")
        try await s.stopAndClean()
    }

    @Test func theGuestSeesTheWAGIEnvironmentAndNothingElse() async throws {
        let s = try await Self.start(
            ["echo.wasm"],
            Self.manifest([
                ["name": "echo", "handler": "wasm", "routes": ["POST /echo/:id/*"], "config": ["module": "echo.wasm", "env": ["MODE": "test"]]]
            ])
        )
        let r = try await s.client.request(
            "POST",
            "/echo/42/a/b?x=1&y=%20",
            headers: ["X-Thing": "yes", "Content-Type": "text/plain"],
            body: Data("the body".utf8)
        )
        #expect(r.status == 200)
        let parts = r.text.components(separatedBy: "--\n")
        let env = Set(parts[0].split(separator: "\n").map(String.init))
        #expect(parts.last == "the body")
        for line in [
            "REQUEST_METHOD=POST", "PATH_INFO=/echo/42/a/b", "QUERY_STRING=x=1&y=%20", "X_MATCHED_ROUTE=POST /echo/:id/*",
            "X_PARAM_ID=42", "X_PARAM_WILDCARD=a/b", "HTTP_X_THING=yes", "CONTENT_TYPE=text/plain", "CONTENT_LENGTH=8",
            "EDGE_EVENT=http", "EDGE_FUNCTION=echo", "MODE=test", "GATEWAY_INTERFACE=CGI/1.1", "SERVER_NAME=127.0.0.1",
        ] {
            #expect(env.contains(line), "missing \(line)")
        }
        #expect(env.contains("EDGE_REQUEST_ID=\(r.headers["X-Request-Id"] ?? "?")"))
        // Only what the contract lists: no process environment, no manifest vars, no secrets.
        #expect(!env.contains { $0.hasPrefix("PATH=") || $0.hasPrefix("HOME=") || $0.hasPrefix("PLAIN_VAR=") || $0.hasPrefix("ADMIN_TOKEN=") })
        try await s.stopAndClean()
    }

    @Test func theKVCounterUsesGetPutIncrementDeleteAndList() async throws {
        let s = try await Self.start(
            ["counter.wasm"],
            Self.manifest([
                [
                    "name": "counter", "handler": "wasm",
                    "routes": [
                        "GET /counters", "GET /counters/:name", "POST /counters/:name",
                        "PUT /counters/:name", "DELETE /counters/:name",
                    ],
                    "config": ["module": "counter.wasm", "kv": ["KV"]],
                ]
            ])
        )
        #expect(try await s.client.request("POST", "/counters/a").json == ["name": "a", "count": 1])
        #expect(try await s.client.request("POST", "/counters/a").json == ["name": "a", "count": 2])
        #expect(try await s.client.get("/counters/a").json == ["name": "a", "count": 2])
        #expect(try await s.client.get("/admin/kv/KV/values/count:a", headers: Self.auth).text == "2")
        #expect(try await s.client.request("PUT", "/counters/b", body: Data("41".utf8)).status == 200)
        #expect(try await s.client.request("POST", "/counters/b").json == ["name": "b", "count": 42])
        let list = try await s.client.get("/counters").json
        #expect(list["keys"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["count:a", "count:b"])
        #expect(list["list_complete"] == true)
        #expect(try await s.client.request("DELETE", "/counters/a").status == 200)
        #expect(try await s.client.get("/counters/a").status == 404)
        // A value over the binding's rules (a key of 600 bytes) is the guest's error to handle.
        #expect(try await s.client.request("PUT", "/counters/" + String(repeating: "k", count: 600), body: Data("1".utf8)).status == 400)
        try await s.stopAndClean()
    }

    @Test func bindingsAndQueuesNotListedInTheConfigAreRefused() async throws {
        // The same counter without "kv" in its config: every KV call answers EDGE_ERR_DENIED.
        let s = try await Self.start(
            ["counter.wasm", "cron.wasm"],
            Self.manifest(
                [
                    ["name": "counter", "handler": "wasm", "routes": ["POST /counters/:name"], "config": ["module": "counter.wasm"]],
                    ["name": "tick", "handler": "wasm", "config": ["module": "cron.wasm", "kv": ["KV"]]],
                ],
                crons: [["schedule": "* * * * *", "function": "tick"]]
            ),
            testScheduled: true
        )
        let r = try await s.client.request("POST", "/counters/a")
        #expect(r.status == 500)
        #expect(r.json == ["error": "increment failed"])
        // The cron may write KV but not send to "jobs": its send is refused and it exits 3.
        _ = try await s.client.get("/__scheduled")
        #expect(try await s.client.get("/admin/kv/KV/values/last-tick", headers: Self.auth).status == 200)
        #expect(try await s.client.get("/admin/q/jobs/messages", headers: Self.auth).json["messages"]?.arrayValue?.isEmpty == true)
        try await s.stopAndClean()
    }

    @Test func fetchGoesThroughTheRuntimeAndRelaysStatusHeadersAndBody() async throws {
        let fake = try await FakeProvider.start { request in
            FakeProvider.Reply(status: 201, headers: ["Content-Type": "application/json"], body: Data("{\"echo\":\"\(request.text)\"}".utf8))
        }
        let s = try await Self.start(
            ["proxy.wasm"],
            Self.manifest([
                [
                    "name": "proxy", "handler": "wasm", "routes": ["POST /proxy"],
                    "config": ["module": "proxy.wasm", "env": ["UPSTREAM": .string(fake.url("/up"))]],
                ]
            ])
        )
        let r = try await s.client.request("POST", "/proxy", body: Data("ping".utf8))
        #expect(r.status == 201)
        #expect(r.headers["Content-Type"] == "application/json")
        #expect(r.json == ["echo": "ping"])
        let seen = try #require(fake.requests.first)
        #expect(seen.method == "POST")
        #expect(seen.path == "/up")
        #expect(seen.headers["x-from"] == "wasm")
        #expect(seen.text == "ping")
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func aFailedFetchIsAStatusForTheGuest() async throws {
        let s = try await Self.start(
            ["proxy.wasm"],
            Self.manifest([
                [
                    "name": "proxy", "handler": "wasm", "routes": ["POST /proxy"],
                    "config": ["module": "proxy.wasm", "env": ["UPSTREAM": "ftp://nope"]],
                ]
            ])
        )
        let r = try await s.client.request("POST", "/proxy", body: Data("x".utf8))
        #expect(r.status == 502)
        #expect(r.json == ["error": "fetch failed", "code": -4])
        try await s.stopAndClean()
    }

    @Test func aCronRunsTheModuleWhichSendsToAQueueWhoseWasmConsumerAcks() async throws {
        let s = try await Self.start(
            ["cron.wasm", "consumer.wasm"],
            Self.manifest(
                [
                    ["name": "tick", "handler": "wasm", "config": ["module": "cron.wasm", "kv": ["KV"], "queues": ["jobs"]]],
                    ["name": "consume", "handler": "wasm", "config": ["module": "consumer.wasm", "kv": ["KV"]]],
                ],
                queues: [["name": "jobs", "consumer": ["function": "consume", "max_batch_timeout": 0, "max_retries": 1, "retry_delay": 0]]],
                crons: [["schedule": "*/5 * * * *", "function": "tick"]]
            ),
            testScheduled: true
        )
        #expect(try await s.client.get("/__scheduled?cron=*/5%20*%20*%20*%20*").json == ["ran": 1])
        let tick = try await s.client.get("/admin/kv/KV/values/last-tick", headers: Self.auth)
        #expect(tick.status == 200)
        #expect(tick.text.hasSuffix("Z") && tick.text.count == 24)
        #expect(await eventually { (try? await s.client.get("/admin/kv/KV/values/consumed", headers: Self.auth).text) == "1" })
        let batch = try await s.client.get("/admin/kv/KV/values/last-batch", headers: Self.auth).json
        #expect(batch["queue"] == "jobs")
        let message = try #require(batch["messages"]?.arrayValue?.first)
        #expect(message["body"]?["type"] == "tick")
        #expect(message["body"]?["cron"] == "*/5 * * * *")
        #expect(message["attempts"] == 1)
        #expect(message["content_type"] == "json")
        try await s.stopAndClean()
    }

    @Test func aConsumerCanRetryOneMessageAndAFailedBatchIsRetriedWhole() async throws {
        let s = try await Self.start(
            ["consumer.wasm"],
            Self.manifest(
                [
                    ["name": "consume", "handler": "wasm", "config": ["module": "consumer.wasm", "kv": ["KV"]]]
                ],
                queues: [
                    [
                        "name": "jobs",
                        "consumer": [
                            "function": "consume", "max_batch_size": 10, "max_batch_timeout": 1, "max_retries": 1,
                            "retry_delay": 0, "dead_letter_queue": "dlq",
                        ],
                    ], ["name": "dlq"],
                ]
            )
        )
        let sent = try await s.client.request(
            "POST",
            "/admin/q/jobs/messages/batch",
            headers: Self.auth,
            json: [
                "messages": [
                    ["body": "fine", "content_type": "text"], ["body": "please retry-me", "content_type": "text"],
                ]
            ]
        )
        #expect(sent.status == 202)
        // "fine" is acked; "retry-me" is delivered twice (1 + max_retries) and dead-lettered.
        #expect(
            await eventually(timeout: 20) {
                let dlq = try? await s.client.get("/admin/q/dlq/messages", headers: Self.auth).json["messages"]?.arrayValue
                return dlq?.count == 1
            }
        )
        let dead = try await s.client.get("/admin/q/dlq/messages", headers: Self.auth).json["messages"]?.arrayValue?.first
        #expect(dead?["body"] == "please retry-me")
        #expect(dead?["attempts"] == 2)
        #expect(try await s.client.get("/admin/kv/KV/values/consumed", headers: Self.auth).text == "3")

        _ = try await s.client.request("POST", "/admin/q/jobs/messages", headers: Self.auth, json: ["body": ["op": "fail-batch"]])
        #expect(
            await eventually(timeout: 20) {
                (try? await s.client.get("/admin/q/dlq/messages", headers: Self.auth).json["messages"]?.arrayValue?.count) == 2
            }
        )
        try await s.stopAndClean()
    }
}
