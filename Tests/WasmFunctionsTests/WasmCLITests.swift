import EdgeRuntime
import EdgeTestSupport
import Foundation
import Testing

/// The `edge-run` binary with wasm functions, as a user runs it.
@Suite("wasm: edge-run check and serve")
struct WasmCLITests {
    @Test func checkNamesTheJSONPathOfEveryModuleProblem() throws {
        let folder = TemporaryFolder("wasm-cli")
        defer { folder.cleanup() }
        let bad = try Modules.compile("(module (import \"env\" \"now\" (func (result i64))) (memory (export \"memory\") 1))")
        try Data(bad).write(to: URL(fileURLWithPath: folder.path + "/bad.wasm"))
        let manifest: JSONValue = [
            "functions": [
                ["name": "bad", "handler": "wasm", "routes": ["GET /bad"], "config": ["module": "bad.wasm"]],
                ["name": "gone", "handler": "wasm", "routes": ["GET /gone"], "config": ["module": "fns/gone.wasm", "kv": ["NOPE"]]],
            ]
        ]
        let path = folder.path + "/functions.json"
        try manifest.serialized().write(to: URL(fileURLWithPath: path))
        let result = try runEdgeRun(["check", "--manifest", path])
        #expect(result.status != 0)
        #expect(
            result.stderr.split(separator: "\n").map(String.init) == [
                "functions.json: functions[0].config.module: bad.wasm: imports env.now: edge-run offers only wasi_snapshot_preview1 (WASI preview 1) and edge_run functions; exports no function _start (build it as a WASI command)",
                "functions.json: functions[1].config.kv: KV binding \"NOPE\" is not declared in kv_namespaces",
            ]
        )
    }

    @Test func theBundledManifestServesItsWasmRouteAndGuestStderrIsLoggedWithTheRequestID() async throws {
        let root = Modules.repository
        let data = TemporaryFolder("wasm-serve")
        defer { data.cleanup() }
        let server = try await ServeProcess.start(
            ["--manifest", root.appendingPathComponent("functions.json").path, "--port", "0", "--data", data.path, "--log-level", "notice"],
            environment: ["ADMIN_TOKEN": "t", "WEBHOOK_SIGNING_SECRET": "s"]
        )
        let client = TestClient(base: server.base)
        let hello = try await client.get("/hello/ada")
        #expect(hello.status == 200)
        #expect(hello.text == "hello from wasm, ada!\n")
        await server.stop()

        // A module that writes to stderr: each line reaches the log with the request id.
        let folder = TemporaryFolder("wasm-stderr")
        defer { folder.cleanup() }
        let wasm = try Modules.compile(Modules.writing("first line\nsecond line", fd: 2, then: Modules.writeHeadersCall, extra: Modules.headersData))
        try Data(wasm).write(to: URL(fileURLWithPath: folder.path + "/fn.wasm"))
        let manifest: JSONValue = ["functions": [["name": "noisy", "handler": "wasm", "routes": ["GET /noisy"], "config": ["module": "fn.wasm"]]]]
        try manifest.serialized().write(to: URL(fileURLWithPath: folder.path + "/functions.json"))
        let noisy = try await ServeProcess.start(["--manifest", folder.path + "/functions.json", "--port", "0", "--data", folder.path + "/data"])
        let r = try await TestClient(base: noisy.base).get("/noisy")
        #expect(r.status == 200)
        let id = try #require(r.headers["X-Request-Id"])
        #expect(await eventually { noisy.log.contains("second line") })
        let lines = noisy.log.split(separator: "\n").filter { $0.contains("first line") || $0.contains("second line") }
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { $0.contains("request_id=\(id)") && $0.contains("function=noisy") })
        await noisy.stop()
    }
}
