import EdgeRuntime
import EdgeTestSupport
import Foundation
import Testing

@Suite("wasm: HTTP by WAGI")
struct WasmHTTPTests {
    @Test func aTextModuleAnswersWithItsCGIHeadersAndBody() async throws {
        let wasm = try Modules.compile(Modules.writing("Content-Type: text/plain\nX-Made-By: wat\n\nhello from wat\n"))
        let s = try await WasmServer.single(wasm)
        let r = try await s.client.get("/fn")
        #expect(r.status == 200)
        #expect(r.text == "hello from wat\n")
        #expect(r.headers["Content-Type"] == "text/plain")
        #expect(r.headers["X-Made-By"] == "wat")
        try await s.stopAndClean()
    }

    @Test func aStatusHeaderSetsTheStatusAndLocationAloneRedirects() async throws {
        let created = try Modules.compile(Modules.writing("Status: 201 Created\r\nLocation: /things/1\r\nContent-Length: 999\r\n\r\n{}"))
        let s = try await WasmServer.single(created)
        let r = try await s.client.get("/fn")
        #expect(r.status == 201)
        #expect(r.headers["Location"] == "/things/1")
        #expect(r.text == "{}")  // the guest's own Content-Length is dropped: the server frames the body
        try await s.stopAndClean()

        let redirect = try await WasmServer.single(try Modules.compile(Modules.writing("Location: /elsewhere\n\n")))
        #expect(try await redirect.client.get("/fn").status == 302)
        try await redirect.stopAndClean()
    }

    @Test func outputWithoutAHeaderBlockIsA500() async throws {
        let s = try await WasmServer.single(try Modules.compile(Modules.writing("just a body")))
        let r = try await s.client.get("/fn")
        #expect(r.status == 500)
        #expect(r.json["request_id"]?.stringValue?.isEmpty == false)
        try await s.stopAndClean()
    }

    @Test func aNonZeroExitIsA500AndExitZeroKeepsTheOutput() async throws {
        let failing = try Modules.compile(Modules.writing("Content-Type: text/plain\n\nhalf", then: "(call $proc_exit (i32.const 3))"))
        let s = try await WasmServer.single(failing)
        let r = try await s.client.get("/fn")
        #expect(r.status == 500)
        #expect(r.json["error"] == "the function failed")
        try await s.stopAndClean()

        let fine = try Modules.compile(Modules.writing("Content-Type: text/plain\n\nall", then: "(call $proc_exit (i32.const 0))"))
        let t = try await WasmServer.single(fine)
        #expect(try await t.client.get("/fn").text == "all")
        try await t.stopAndClean()
    }

    @Test func aTrapIsA500AndTheServerGoesOn() async throws {
        let s = try await WasmServer.single(try Modules.compile(Modules.start("unreachable")))
        let r = try await s.client.get("/fn")
        #expect(r.status == 500)
        #expect(r.json["error"] == "the function failed")
        #expect(try await s.client.get("/_edge/health").status == 200)
        #expect(try await s.client.get("/fn").status == 500)
        try await s.stopAndClean()
    }

    @Test func stderrDoesNotReachTheResponse() async throws {
        let wasm = try Modules.compile(
            Modules.writing(
                "a warning\nand another",
                fd: 2,
                then: """
                    (i32.store (i32.const 0) (i32.const 2048))
                    (i32.store (i32.const 4) (i32.const 4))
                    (i32.store (i32.const 2048) (i32.const 0x0a0a3a41))
                    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                    """
            )
        )
        let s = try await WasmServer.single(wasm)
        let r = try await s.client.get("/fn")
        #expect(r.status == 200)
        #expect(r.text.isEmpty)
        #expect(r.headers["A"] == "")
        try await s.stopAndClean()
    }

    @Test func eachRequestGetsAFreshInstance() async throws {
        // A global counter that the module increments and prints: always 1 with a fresh instance.
        let wasm = try Modules.compile(
            Modules.start(
                """
                (global.set $n (i32.add (global.get $n) (i32.const 1)))
                (i32.store8 (i32.const 1050) (i32.add (i32.const 48) (global.get $n)))
                (i32.store (i32.const 0) (i32.const 1024))
                (i32.store (i32.const 4) (i32.const 27))
                (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                """,
                extra: """
                    (global $n (mut i32) (i32.const 0))
                    (data (i32.const 1024) "Content-Type: text/plain\\n\\nX")
                    """
            )
        )
        let s = try await WasmServer.single(wasm)
        for _ in 0..<3 { #expect(try await s.client.get("/fn").text == "1") }
        try await s.stopAndClean()
    }

    @Test func memoryWrittenOrGrownByOneRequestIsNotSeenByTheNext() async throws {
        // Prints memory.size (pages) and the byte at 2000, then writes that byte and grows the
        // memory by a page: a fresh instance always answers "10" (one page, a zero byte).
        let wasm = try Modules.compile(
            Modules.start(
                """
                (i32.store8 (i32.const 1050) (i32.add (i32.const 48) (memory.size)))
                (i32.store8 (i32.const 1051) (i32.add (i32.const 48) (i32.load8_u (i32.const 2000))))
                (i32.store8 (i32.const 2000) (i32.const 7))
                (drop (memory.grow (i32.const 1)))
                (i32.store8 (i32.const 70000) (i32.const 7))
                (i32.store (i32.const 0) (i32.const 1024))
                (i32.store (i32.const 4) (i32.const 28))
                (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                """,
                extra: """
                    (data (i32.const 1024) "Content-Type: text/plain\\n\\nXY")
                    """
            )
        )
        // The default limit (reserved memory) and a small one (software-checked memory).
        for config: [String: JSONValue] in [[:], ["memory_limit_mb": 1]] {
            let s = try await WasmServer.single(wasm, config: config)
            for _ in 0..<4 { #expect(try await s.client.get("/fn").text == "10") }
            try await s.stopAndClean()
        }
    }

    @Test func manyConcurrentInvocationsOfACModuleAllAnswer() async throws {
        // Guest threads each have their own engine and interpreter stack: many at once, each
        // translating wasi-libc, must all answer their own request.
        let s = try await WasmServer.start(
            modules: ["hello.wasm": try Modules.fixture("hello.wasm")],
            manifest: [
                "functions": [["name": "hello", "handler": "wasm", "routes": ["GET /hello/:name"], "config": ["module": "hello.wasm"]]]
            ]
        )
        let answers = try await withThrowingTaskGroup(of: (Int, Int, String).self) { group in
            for i in 0..<24 {
                group.addTask {
                    let r = try await s.raw("GET", "/hello/n\(i)")
                    return (i, r.status, r.body)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.count == 24)
        for (i, status, body) in answers {
            #expect(status == 200)
            #expect(body == "hello, n\(i)!\n")
        }
        try await s.stopAndClean()
    }
}
