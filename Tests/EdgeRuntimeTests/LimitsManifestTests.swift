import EdgeRuntime
import Foundation
import Testing

/// A route handler with a large body limit of its own (as `kv.api` has).
private struct BigBodyHandler: EdgeFunction {
    static var defaultMaxBodyBytes: Int? { 25 << 20 }
    init(config: FunctionConfig) throws {}
}
private struct PlainHandler: EdgeFunction {
    init(config: FunctionConfig) throws {}
}

private func load(_ json: String) throws -> Manifest {
    let registry = FunctionRegistry()
    registry.register("t.big", BigBodyHandler.self)
    registry.register("t.plain", PlainHandler.self)
    return try ManifestLoader(registry: registry).validate(
        try JSONValue.parse(json),
        file: "functions.json",
        baseDirectory: ".",
        environment: [:],
        envFile: [:]
    ).manifest
}

private func problems(_ json: String) -> [String] {
    do {
        _ = try load(json)
        return []
    } catch let error as ManifestError { return error.lines } catch { return ["unexpected: \(error)"] }
}

@Suite("Manifest limits (hardening)")
struct LimitsManifestTests {
    @Test func defaultsWhenNothingIsSet() throws {
        let m = try load(#"{"functions": [{"name": "p", "handler": "t.plain", "routes": ["GET /p"]}]}"#)
        #expect(m.serverLimits == ServerLimits(shutdownGraceSeconds: 10, bodyReadTimeoutSeconds: 30, idleTimeoutSeconds: 60, maxConnections: 10_000))
        #expect(m.limits.maxRunaway == 64)
        #expect(m.functions[0].limits.maxRunaway == 64)
    }

    @Test func newLimitsAreReadAndAFunctionOverridesMaxRunaway() throws {
        let m = try load(
            """
            {"limits": {"shutdown_grace_seconds": 2.5, "body_read_timeout_seconds": 1, "idle_timeout_seconds": 0.5,
                        "max_connections": 3, "max_runaway": 5},
             "functions": [{"name": "a", "handler": "t.plain", "routes": ["GET /a"], "limits": {"max_runaway": 2}},
                           {"name": "b", "handler": "t.plain", "routes": ["GET /b"]}]}
            """
        )
        #expect(m.serverLimits == ServerLimits(shutdownGraceSeconds: 2.5, bodyReadTimeoutSeconds: 1, idleTimeoutSeconds: 0.5, maxConnections: 3))
        #expect(m.functions[0].limits.maxRunaway == 2)
        #expect(m.functions[1].limits.maxRunaway == 5)
    }

    @Test func outOfRangeWrongTypeAndMisplacedKeysNameTheirPath() {
        let lines = problems(
            """
            {"limits": {"shutdown_grace_seconds": -1, "body_read_timeout_seconds": 0, "idle_timeout_seconds": "long",
                        "max_connections": 0, "max_runaway": 1.5, "max_threads": 4},
             "functions": [{"name": "a", "handler": "t.plain", "routes": ["GET /a"],
                            "limits": {"max_connections": 5, "idle_timeout_seconds": 1, "max_runaway": 0, "colour": 1}}]}
            """
        )
        #expect(lines.contains("functions.json: limits.shutdown_grace_seconds: must be between 0.0 and 3600.0, got -1.0"))
        #expect(lines.contains { $0.hasPrefix("functions.json: limits.body_read_timeout_seconds: must be between") })
        #expect(lines.contains("functions.json: limits.idle_timeout_seconds: must be a number, not a string"))
        #expect(lines.contains("functions.json: limits.max_connections: must be between 1 and 1000000, got 0"))
        #expect(lines.contains { $0.hasPrefix("functions.json: limits.max_runaway: must be an integer") })
        #expect(lines.contains { $0.hasPrefix("functions.json: limits.max_threads: unknown key") })
        #expect(lines.contains("functions.json: functions[0].limits.max_connections: applies to the whole server: set it in the top-level limits"))
        #expect(
            lines.contains("functions.json: functions[0].limits.idle_timeout_seconds: applies to the whole server: set it in the top-level limits")
        )
        #expect(lines.contains("functions.json: functions[0].limits.max_runaway: must be between 1 and 100000, got 0"))
        #expect(lines.contains { $0.hasPrefix("functions.json: functions[0].limits.colour: unknown key") })
        #expect(lines.count == 10)
    }

    @Test func storagePoolSizeIsServerWideWithDefault8() throws {
        #expect(try load(#"{"functions": []}"#).serverLimits.storagePoolSize == 8)
        #expect(try load(#"{"limits": {"storage_pool_size": 3}, "functions": []}"#).serverLimits.storagePoolSize == 3)
        let lines = problems(
            #"{"limits": {"storage_pool_size": 0}, "functions": [{"name": "a", "handler": "t.plain", "routes": ["GET /a"], "limits": {"storage_pool_size": 2}}]}"#
        )
        #expect(lines.contains("functions.json: limits.storage_pool_size: must be between 1 and 1000, got 0"), "\(lines)")
        #expect(
            lines.contains("functions.json: functions[0].limits.storage_pool_size: applies to the whole server: set it in the top-level limits"),
            "\(lines)"
        )
    }

    @Test func aTopLevelMaxBodyBytesBeatsAHandlersOwnDefault() throws {
        let unset = try load(#"{"functions": [{"name": "k", "handler": "t.big", "routes": ["PUT /k"]}]}"#)
        #expect(unset.functions[0].limits.maxBodyBytes == 25 << 20)
        let topLevel = try load(#"{"limits": {"max_body_bytes": 4096}, "functions": [{"name": "k", "handler": "t.big", "routes": ["PUT /k"]}]}"#)
        #expect(topLevel.functions[0].limits.maxBodyBytes == 4096)
        let own = try load(
            """
            {"limits": {"max_body_bytes": 4096},
             "functions": [{"name": "k", "handler": "t.big", "routes": ["PUT /k"], "limits": {"max_body_bytes": 8192}}]}
            """
        )
        #expect(own.functions[0].limits.maxBodyBytes == 8192)
    }
}
