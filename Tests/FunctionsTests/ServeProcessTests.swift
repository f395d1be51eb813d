import EdgeRuntime
import EdgeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `edge-run serve` as a process: one server per data directory, and where development secrets
/// may come from.
@Suite("edge-run serve: data directory lock and .dev.vars")
struct ServeProcessTests {
    static let manifest = """
        {"secrets": ["ADMIN_TOKEN"], "kv_namespaces": [{"binding": "KV"}],
         "functions": [{"name": "kv-admin", "handler": "kv.api", "routes": ["GET /admin/kv/*"], "config": {"token_secret": "ADMIN_TOKEN"}}]}
        """

    /// A folder with `functions.json` and, when given, `.dev.vars`.
    static func project(devVars: String? = nil) throws -> TemporaryFolder {
        let folder = TemporaryFolder("serve")
        try Data(manifest.utf8).write(to: URL(fileURLWithPath: folder.path + "/functions.json"))
        if let devVars { try Data(devVars.utf8).write(to: URL(fileURLWithPath: folder.path + "/.dev.vars")) }
        return folder
    }

    /// The environment of this process without `ADMIN_TOKEN`, plus `extra`.
    static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["ADMIN_TOKEN"] = nil
        return env.merging(extra) { $1 }
    }

    static func serve(
        _ folder: TemporaryFolder,
        _ extra: [String],
        env: [String: String] = environment(),
        log: String = "serve"
    ) throws -> ServeProcess {
        try ServeProcess(
            [
                "--manifest", folder.path + "/functions.json", "--port", "0", "--data", folder.path + "/data",
                "--log-level", "notice",
            ] + extra,
            logPath: folder.path + "/\(log).log",
            environment: env
        )
    }

    /// Whether the server on `port` accepts `token` on its admin API.
    static func accepts(port: Int, token: String) async throws -> Bool {
        try await TestClient(base: "http://127.0.0.1:\(port)").get("/admin/kv/KV/keys", headers: ["Authorization": "Bearer \(token)"]).status == 200
    }

    @Test func aSecondServerOnTheSameDataDirectoryExitsAtOnceAndTheCLIStillWorks() async throws {
        let folder = try Self.project()
        defer { folder.cleanup() }
        let data = folder.path + "/data"
        let env = Self.environment(["ADMIN_TOKEN": "t"])
        let first = try Self.serve(folder, [], env: env, log: "first")
        let port = try await first.waitUntilServing()

        let second = try Self.serve(folder, [], env: env, log: "second")
        #expect(try await second.waitForExit(timeout: 10) == 1)
        let refusal = "data directory \(data) is in use by edge-run serve (pid \(first.pid))"
        #expect(second.log.split(separator: "\n").map(String.init).contains(refusal), "\(second.log)")
        #expect(!second.log.contains("edge-run serving"))
        #expect(try String(contentsOfFile: data + "/serve.lock", encoding: .utf8) == "\(first.pid)\n")

        // The CLI takes no lock: it works beside the server.
        #expect(try runEdgeRun(["kv", "put", "--binding", "KV", "--data", data, "greeting", "hello"]).status == 0)
        #expect(String(decoding: try runEdgeRun(["kv", "get", "--binding", "KV", "--data", data, "greeting"]).stdout, as: UTF8.self) == "hello")
        #expect(try runEdgeRun(["queues", "list", "--data", data]).status == 0)
        #expect(try await Self.accepts(port: port, token: "t"))

        // Killed with SIGKILL, the server leaves its lock file behind, but the kernel released the lock.
        first.send(SIGKILL)
        try await first.waitForExit()
        let third = try Self.serve(folder, [], env: env, log: "third")
        let thirdPort = try await third.waitUntilServing()
        #expect(try await Self.accepts(port: thirdPort, token: "t"))
        await third.stop()
        await second.stop()
    }

    @Test func devVarsAreRefusedOffLoopbackUnlessTheSecretsComeFromElsewhere() async throws {
        let folder = try Self.project(devVars: "ADMIN_TOKEN=from-dev-vars\n")
        defer { folder.cleanup() }
        // A public address with the secret only in .dev.vars: exit 1 naming the file.
        let refused = try Self.serve(folder, ["--host", "0.0.0.0"], log: "refused")
        #expect(try await refused.waitForExit(timeout: 10) == 1)
        let line = refused.log.trimmingCharacters(in: .newlines)
        #expect(line.contains(".dev.vars") && line.contains("ADMIN_TOKEN") && line.contains("--env-file"), "\(line)")
        #expect(!line.contains("from-dev-vars"))

        // The environment's secret: fine, and .dev.vars is not read.
        let fromEnvironment = try Self.serve(folder, ["--host", "0.0.0.0"], env: Self.environment(["ADMIN_TOKEN": "from-env"]), log: "env")
        let port = try await fromEnvironment.waitUntilServing()
        #expect(try await Self.accepts(port: port, token: "from-env"))
        await fromEnvironment.stop()

        // An explicit --env-file (even the same file): fine.
        let explicit = try Self.serve(folder, ["--host", "0.0.0.0", "--env-file", folder.path + "/.dev.vars"], log: "explicit")
        let explicitPort = try await explicit.waitUntilServing()
        #expect(try await Self.accepts(port: explicitPort, token: "from-dev-vars"))
        await explicit.stop()

        // On loopback it is read automatically.
        let local = try Self.serve(folder, ["--host", "127.0.0.1"], log: "local")
        let localPort = try await local.waitUntilServing()
        #expect(try await Self.accepts(port: localPort, token: "from-dev-vars"))
        await local.stop()
    }

    @Test func loopbackAddresses() {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"] {
            #expect(DevelopmentSecrets.isLoopback(host: host), "\(host)")
        }
        for host in ["0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "example.com", "localhost.example.com", "", "::2", "::ffff:10.0.0.1"] {
            #expect(!DevelopmentSecrets.isLoopback(host: host), "\(host)")
        }
    }
}
