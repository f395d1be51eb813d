import EdgeRuntime
import EdgeTestSupport
import Foundation
import Functions
import WAT

/// Small modules written in WebAssembly text, compiled with WasmKit's own WAT parser (so the
/// tests need no wasm toolchain), and the committed example modules under `Fixtures/`.
enum Modules {
    /// The WASI and `edge_run` imports the text modules below use.
    static let imports = """
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
        """

    /// A module whose `_start` writes `text` to stdout (fd 1), then runs `then`.
    static func writing(_ text: String, fd: Int = 1, then: String = "", extra: String = "", memoryPages: Int = 1) -> String {
        let escaped = text.utf8.map { String(format: "\\%02x", $0) }.joined()
        return """
            (module
              \(imports)
              \(extra)
              (memory (export "memory") \(memoryPages))
              (data (i32.const 1024) "\(escaped)")
              (func (export "_start")
                (i32.store (i32.const 0) (i32.const 1024))
                (i32.store (i32.const 4) (i32.const \(text.utf8.count)))
                (drop (call $fd_write (i32.const \(fd)) (i32.const 0) (i32.const 1) (i32.const 8)))
                \(then)))
            """
    }

    /// A module whose `_start` is `body` (with the imports above and one page of memory).
    static func start(_ body: String, extra: String = "", memoryPages: Int = 1, maxPages: Int? = nil) -> String {
        """
        (module
          \(imports)
          \(extra)
          (memory (export "memory") \(memoryPages) \(maxPages.map(String.init) ?? ""))
          (func (export "_start") \(body)))
        """
    }

    static func compile(_ wat: String) throws -> [UInt8] { try wat2wasm(wat) }

    /// The repository's root (from this file's path).
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A built example, `Examples/wasm/dist/<name>` (committed; `Examples/wasm/build.sh` rebuilds it).
    static func fixture(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: repository.appendingPathComponent("Examples/wasm/dist/\(name)")))
    }
}

/// A server whose manifest has the given wasm modules written beside it.
enum WasmServer {
    /// Writes each `(file, bytes)` into a fresh data folder and starts the server on `manifest`
    /// (module paths are relative to that folder).
    static func start(
        modules: [String: [UInt8]],
        manifest: JSONValue,
        secrets: [String: String] = [:],
        fetcher: (any HTTPFetching)? = nil,
        testScheduled: Bool = false
    ) async throws -> RunningServer {
        let data = TemporaryFolder("wasm")
        for (file, bytes) in modules { try Data(bytes).write(to: URL(fileURLWithPath: "\(data.path)/\(file)")) }
        return try await RunningServer.start(manifest: manifest, secrets: secrets, testScheduled: testScheduled, fetcher: fetcher, data: data)
    }

    /// One wasm function `fn` with `routes`, the module `fn.wasm`, and `config` merged in.
    static func single(
        _ wasm: [UInt8],
        routes: [String] = ["GET /fn", "POST /fn"],
        config: [String: JSONValue] = [:],
        limits: [String: JSONValue]? = nil,
        manifest extra: [String: JSONValue] = [:]
    ) async throws -> RunningServer {
        var c: [String: JSONValue] = ["module": "fn.wasm"]
        for (k, v) in config { c[k] = v }
        var function: [String: JSONValue] = ["name": "fn", "handler": "wasm", "routes": .array(routes.map { .string($0) }), "config": .object(c)]
        if let limits { function["limits"] = .object(limits) }
        var manifest: [String: JSONValue] = ["functions": [.object(function)]]
        for (k, v) in extra { manifest[k] = v }
        return try await start(modules: ["fn.wasm": wasm], manifest: .object(manifest))
    }

    /// The manifest problems of `manifest` with `modules` beside it (empty when it is valid).
    static func problems(modules: [String: [UInt8]], manifest: JSONValue) throws -> [String] {
        let folder = TemporaryFolder("wasm-check")
        defer { folder.cleanup() }
        for (file, bytes) in modules { try Data(bytes).write(to: URL(fileURLWithPath: "\(folder.path)/\(file)")) }
        do {
            _ = try ManifestLoader(registry: BuiltinFunctions.registry()).validate(
                manifest,
                file: "functions.json",
                baseDirectory: folder.path,
                environment: [:],
                envFile: [:]
            )
            return []
        } catch let error as ManifestError {
            return error.problems.map { "\($0.path): \($0.message)" }
        }
    }
}

extension RunningServer {
    /// Sends `method path` with `body` on a fresh connection and returns the status and body.
    /// Unlike ``TestClient`` this has no circuit breaker: tests that expect many 500s use it.
    func raw(_ method: String, _ path: String, body: String = "") async throws -> (status: Int, body: String) {
        let request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let answer = try await rawExchange(port: port, Array(request.utf8), timeout: 30)
        let status = Int(answer.split(separator: " ", maxSplits: 2).dropFirst().first ?? "") ?? 0
        let text = answer.range(of: "\r\n\r\n").map { String(answer[$0.upperBound...]) } ?? ""
        return (status, text)
    }
}
