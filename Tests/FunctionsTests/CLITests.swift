import EdgeTestSupport
import Foundation
import Testing

/// `edge-run check`, `routes` and `serve` as a user runs them.
@Suite("edge-run CLI")
struct CLITests {
    static func write(_ text: String, to folder: TemporaryFolder, name: String = "functions.json") throws -> String {
        let path = folder.path + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func checkPrintsOneLinePerProblemAndExitsNonZero() throws {
        let folder = TemporaryFolder("cli")
        defer { folder.cleanup() }
        let path = try Self.write(
            """
            {"secrets": ["NOT_SET_ANYWHERE_123"], "queues": [{"name": "jobs"}],
             "functions": [{"name": "w", "handler": "cron.enqueue", "config": {"queue": "pay"}},
                           {"name": "x", "handler": "no.such"}]}
            """,
            to: folder
        )
        let result = try runEdgeRun(["check", "--manifest", path])
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(
            lines == [
                "functions.json: secrets[0]: secret \"NOT_SET_ANYWHERE_123\" is not set (set it in the environment or the --env-file)",
                "functions.json: functions[0].config.queue: queue \"pay\" is not declared",
                "functions.json: functions[1].handler: unknown handler \"no.such\"",
            ]
        )
    }

    @Test func checkAndRoutesOnAGoodManifestWithAnEnvFile() throws {
        let folder = TemporaryFolder("cli")
        defer { folder.cleanup() }
        let path = try Self.write(
            """
            {"secrets": ["ADMIN_TOKEN"], "kv_namespaces": [{"binding": "KV"}],
             "functions": [{"name": "kv-admin", "handler": "kv.api", "routes": ["GET /admin/kv/*", "PUT /admin/kv/*"],
                            "config": {"token_secret": "ADMIN_TOKEN"}}]}
            """,
            to: folder
        )
        let env = try Self.write("ADMIN_TOKEN=abc\n", to: folder, name: "secrets.env")
        let missing = try runEdgeRun(["check", "--manifest", path])
        #expect(missing.status != 0)
        let ok = try runEdgeRun(["check", "--manifest", path, "--env-file", env])
        #expect(ok.status == 0, "\(ok.stderr)")
        // .dev.vars beside the manifest is read by default.
        _ = try Self.write("ADMIN_TOKEN=abc\n", to: folder, name: ".dev.vars")
        #expect(try runEdgeRun(["check", "--manifest", path]).status == 0)
        let routes = try runEdgeRun(["routes", "--manifest", path])
        #expect(String(decoding: routes.stdout, as: UTF8.self) == "GET /admin/kv/* kv-admin\nPUT /admin/kv/* kv-admin\n")
    }

    @Test func theBundledManifestChecks() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let result = try runEdgeRun(["check", "--manifest", root.appendingPathComponent("functions.json").path])
        #expect(result.status == 0, "\(result.stderr)")
    }
}
