import EdgeRuntime
import EdgeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Reloading `edge-run serve` with SIGHUP and `--watch`: the manifest and the env file are read
/// again; an invalid manifest is refused and logged, the running one serves on.
@Suite("Reload without restart (edge-run serve)", .serialized)
struct ReloadProcessTests {
    static let firstToken = "tok-first-5b1c"
    static let secondToken = "tok-second-9e2d"

    /// The KV admin API at `GET <base>/*`, behind `ADMIN_TOKEN`.
    static func manifest(base: String, handler: String = "kv.api") -> JSONValue {
        [
            "secrets": ["ADMIN_TOKEN"],
            "kv_namespaces": [["binding": "KV"]],
            "functions": [
                ["name": "admin", "handler": .string(handler), "routes": [.string("GET \(base)/*")], "config": ["token_secret": "ADMIN_TOKEN"]]
            ],
        ]
    }

    struct Files {
        let folder = TemporaryFolder("reload")
        var manifest: String { folder.path + "/functions.json" }
        var envFile: String { folder.path + "/secrets.env" }

        /// Writes `json` as an editor does: a new file renamed over the old one.
        func write(_ json: JSONValue) throws {
            let temporary = manifest + ".tmp"
            try json.serialized().write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, manifest) == 0 else { throw TestFailure("rename failed") }
        }

        /// A folder with the `/admin/kv` manifest and ``firstToken``.
        static func first() throws -> Files {
            let files = Files()
            try files.write(ReloadProcessTests.manifest(base: "/admin/kv"))
            try files.writeToken(ReloadProcessTests.firstToken)
            return files
        }

        func writeToken(_ token: String) throws {
            try Data("ADMIN_TOKEN=\(token)\n".utf8).write(to: URL(fileURLWithPath: envFile))
        }

        func serve(watch: Bool = false) async throws -> ServeProcess {
            try await ServeProcess.start(
                [
                    "--manifest", manifest, "--env-file", envFile, "--port", "0", "--data", folder.path + "/data",
                    "--log-level", "info",
                ] + (watch ? ["--watch"] : [])
            )
        }
    }

    static func status(_ server: ServeProcess, _ path: String, token: String) async -> Int? {
        try? await TestClient(base: server.base).get(path, headers: ["Authorization": "Bearer \(token)"]).status
    }

    @Test func sighupReadsTheManifestAndEnvFileAgain() async throws {
        let files = try Files.first()
        defer { files.folder.cleanup() }
        let server = try await files.serve()
        defer { Task { await server.stop() } }
        #expect(await Self.status(server, "/admin/kv/KV/keys", token: Self.firstToken) == 200)

        try files.write(Self.manifest(base: "/v2/kv"))
        try files.writeToken(Self.secondToken)
        server.send(SIGHUP)
        #expect(await eventually { await Self.status(server, "/v2/kv/KV/keys", token: Self.secondToken) == 200 }, "\(server.log)")
        #expect(await Self.status(server, "/v2/kv/KV/keys", token: Self.firstToken) == 401, "the old secret value is gone")
        #expect(await Self.status(server, "/admin/kv/KV/keys", token: Self.secondToken) == 404, "the removed route is gone")
        let log = server.log
        #expect(log.contains("reloaded manifest (generation 2): +routes GET /v2/kv/*"), "\(log)")
        #expect(log.contains("-routes GET /admin/kv/*"), "\(log)")
        #expect(!log.contains(Self.firstToken) && !log.contains(Self.secondToken), "secrets are never logged")
        server.send(SIGTERM)
        #expect(try await server.waitForExit() == 0)
    }

    @Test func anInvalidManifestIsRefusedAndLoggedWithItsPath() async throws {
        let files = try Files.first()
        defer { files.folder.cleanup() }
        let server = try await files.serve()
        defer { Task { await server.stop() } }

        try files.write(Self.manifest(base: "/v2/kv", handler: "kv.nope"))
        server.send(SIGHUP)
        #expect(await eventually { server.log.contains(EdgeServer.reloadRefused) }, "\(server.log)")
        let refusal = server.log.split(separator: "\n").filter { $0.contains(EdgeServer.reloadRefused) }
        #expect(refusal.contains { $0.contains("error") && $0.contains("functions[0].handler") }, "\(refusal)")
        #expect(await Self.status(server, "/admin/kv/KV/keys", token: Self.firstToken) == 200, "the running manifest serves on")
        #expect(await Self.status(server, "/v2/kv/KV/keys", token: Self.firstToken) == 404)
        #expect(try await TestClient(base: server.base).get("/_edge/health").status == 200)
        #expect(server.process.isRunning)

        // Fixed: the next SIGHUP takes it.
        try files.write(Self.manifest(base: "/v2/kv"))
        server.send(SIGHUP)
        #expect(await eventually { await Self.status(server, "/v2/kv/KV/keys", token: Self.firstToken) == 200 })
    }

    @Test func watchReloadsOnAFileEditWithoutASignal() async throws {
        let files = try Files.first()
        defer { files.folder.cleanup() }
        let server = try await files.serve(watch: true)
        defer { Task { await server.stop() } }
        #expect(await Self.status(server, "/admin/kv/KV/keys", token: Self.firstToken) == 200)

        try files.write(Self.manifest(base: "/v2/kv"))
        #expect(await eventually { await Self.status(server, "/v2/kv/KV/keys", token: Self.firstToken) == 200 }, "\(server.log)")
        #expect(await Self.status(server, "/admin/kv/KV/keys", token: Self.firstToken) == 404)

        try files.writeToken(Self.secondToken)
        #expect(await eventually { await Self.status(server, "/v2/kv/KV/keys", token: Self.secondToken) == 200 }, "an env file edit reloads too")
        #expect(server.log.contains("reloaded manifest (generation 3)"), "one reload per edit: \(server.log)")
        #expect(!server.log.contains("generation 4"), "one reload per edit")
    }
}
