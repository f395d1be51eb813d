import EdgeRuntime
import EdgeTestSupport
import Foundation
import Queues
import Testing

/// Handlers for manifest validation tests: one per kind, with configs that check references.
private struct RouteHandler: EdgeFunction {
    init(config: FunctionConfig) throws {
        _ = try config.queue("queue", required: false)
        if config["kv"] != nil { _ = try config.kvBinding() }
    }
}
private struct ConsumerHandler: EdgeFunction {
    static var kinds: FunctionKinds { .queue }
    init(config: FunctionConfig) throws {}
}
private struct CronHandler: EdgeFunction {
    static var kinds: FunctionKinds { .scheduled }
    init(config: FunctionConfig) throws { try config.requireSecret("CRON_SECRET") }
}

private func registry() -> FunctionRegistry {
    let r = FunctionRegistry()
    r.register("t.route", RouteHandler.self)
    r.register("t.consumer", ConsumerHandler.self)
    r.register("t.cron", CronHandler.self)
    return r
}

private func problems(_ json: String, environment: [String: String] = [:]) -> [String] {
    do {
        _ = try ManifestLoader(registry: registry()).validate(
            try JSONValue.parse(json),
            file: "functions.json",
            baseDirectory: ".",
            environment: environment,
            envFile: [:]
        )
        return []
    } catch let error as ManifestError {
        return error.lines
    } catch {
        return ["unexpected: \(error)"]
    }
}

@Suite("Manifest validation")
struct ManifestTests {
    @Test func aValidManifestLoads() throws {
        let json = """
            {"name": "shop", "vars": {"A": "1"}, "secrets": ["CRON_SECRET"],
             "limits": {"max_body_bytes": 2048, "handler_timeout_seconds": 2.5}, "kv": {"min_ttl_seconds": 30},
             "kv_namespaces": [{"binding": "KV"}],
             "queues": [{"name": "q", "consumer": {"function": "c", "max_batch_size": 5, "dead_letter_queue": "q-dlq"}}, {"name": "q-dlq"}],
             "functions": [
               {"name": "r", "handler": "t.route", "routes": ["POST /x/:id", "GET /x/*"], "config": {"queue": "q", "kv": "KV"},
                "limits": {"handler_timeout_seconds": 1}},
               {"name": "c", "handler": "t.consumer"},
               {"name": "cron", "handler": "t.cron"}],
             "crons": [{"schedule": "*/5 * * * *", "function": "cron"}]}
            """
        let (m, secrets) = try ManifestLoader(registry: registry()).validate(
            try JSONValue.parse(json),
            file: "functions.json",
            baseDirectory: ".",
            environment: ["CRON_SECRET": "s3"],
            envFile: [:]
        )
        #expect(m.name == "shop")
        #expect(secrets == ["CRON_SECRET": "s3"])
        #expect(m.kvMinTTLSeconds == 30)
        #expect(m.functions[0].limits == RuntimeLimits(maxBodyBytes: 2048, handlerTimeoutSeconds: 1))
        #expect(m.functions[1].limits.handlerTimeoutSeconds == 2.5)
        #expect(m.queues.first { $0.name == "q" }?.consumer?.maxBatchSize == 5)
        #expect(m.crons.first?.expression.next(afterUnixSeconds: 0) == 300)
    }

    @Test func everyProblemIsReportedOnceWithItsJSONPath() {
        let json = """
            {"secrets": ["MISSING", "CRON_SECRET"],
             "kv_namespaces": [{"binding": "KV"}, {"binding": "KV"}],
             "queues": [{"name": "q", "consumer": {"function": "r", "max_batch_size": 500, "dead_letter_queue": "nowhere"}},
                        {"name": "self", "consumer": {"function": "c", "dead_letter_queue": "self"}}],
             "functions": [
               {"name": "r", "handler": "t.route", "routes": ["GET /a/:id", "FETCH /b", "GET /a/:other"], "config": {"queue": "pay"}},
               {"name": "c", "handler": "t.nope"},
               {"name": "k", "handler": "t.route", "config": {"kv": "SESSIONS"}, "auth": "clerk"},
               {"name": "cron", "handler": "t.cron", "routes": ["GET /cron"]}],
             "crons": [{"schedule": "61 * * * *", "function": "cron"}, {"schedule": "* * * * *", "function": "r"},
                       {"schedule": "* * * * *", "function": "ghost"}],
             "extra": true}
            """
        let lines = problems(json, environment: ["CRON_SECRET": "x"])
        let expected = [
            "functions.json: extra: unknown key",
            "functions.json: secrets[0]: secret \"MISSING\" is not set",
            "functions.json: kv_namespaces[1].binding: binding \"KV\" is declared twice",
            "functions.json: queues[0].consumer.max_batch_size: must be between 1 and 100, got 500",
            "functions.json: queues[0].consumer.dead_letter_queue: queue \"nowhere\" is not declared",
            "functions.json: queues[1].consumer.dead_letter_queue: a queue cannot be its own dead-letter queue",
            "functions.json: functions[0].routes[1]: route \"FETCH /b\"",
            "functions.json: functions[0].routes[2]: route \"GET /a/:other\" clashes with functions[0].routes[0]",
            "functions.json: functions[0].config.queue: queue \"pay\" is not declared",
            "functions.json: functions[1].handler: unknown handler \"t.nope\"",
            "functions.json: functions[2].auth: auth provider \"clerk\" is not declared",
            "functions.json: functions[2].config.kv: KV binding \"SESSIONS\" is not declared",
            "functions.json: functions[3].routes: handler \"t.cron\" does not handle HTTP requests",
            "functions.json: crons[0].schedule:",
            "functions.json: crons[1].function: function \"r\" (handler \"t.route\") has no scheduled handler",
            "functions.json: crons[2].function: function \"ghost\" is not declared",
            "functions.json: queues[0].consumer.function: function \"r\" (handler \"t.route\") does not consume queues",
        ]
        for prefix in expected {
            #expect(lines.contains { $0.hasPrefix(prefix) }, "missing: \(prefix)\nin:\n\(lines.joined(separator: "\n"))")
        }
        #expect(lines.count == expected.count, "\(lines.joined(separator: "\n"))")
    }

    @Test func consoleIsABooleanOffByDefault() throws {
        func load(_ json: String) throws -> Manifest {
            try ManifestLoader(registry: registry()).validate(
                try JSONValue.parse(json),
                file: "functions.json",
                baseDirectory: ".",
                environment: [:],
                envFile: [:]
            ).manifest
        }
        #expect(try load("{}").console == false)
        #expect(try load(#"{"console": true}"#).console == true)
        #expect(problems(#"{"console": "yes"}"#) == ["functions.json: console: must be true or false, not a string"])
    }

    @Test func typeErrorsNameThePath() {
        let lines = problems(
            #"{"vars": {"A": 1}, "limits": {"max_body_bytes": "big"}, "functions": {"name": "x"}, "queues": [{"name": "q", "delivery_delay": 90000}]}"#
        )
        #expect(lines.contains("functions.json: vars.A: must be a string, not a number"))
        #expect(lines.contains("functions.json: limits.max_body_bytes: must be an integer, not a string"))
        #expect(lines.contains("functions.json: functions: must be an array, not an object"))
        #expect(lines.contains("functions.json: queues[0].delivery_delay: must be between 0 and 86400, got 90000"))
    }

    @Test func everyQueueProblemStartsWithItsFullJSONPath() {
        let json = #"""
            {"queues": [{"name": "bad/name"},
                        {"name": "p", "consumer": {"function": "c", "timeout_seconds": 0, "max_retries": 101, "retry_delay": -1,
                                                    "max_batch_timeout": 61, "max_concurrency": 0, "dead_letter_queue": "no/pe"}},
                        {"name": "self", "consumer": {"function": "c", "timeout_seconds": 86401, "dead_letter_queue": "self"}}],
             "functions": [{"name": "c", "handler": "t.consumer"}]}
            """#
        let lines = problems(json)
        for expected in [
            "functions.json: queues[0].name: queue name \"bad/name\" must be",
            "functions.json: queues[1].consumer.timeout_seconds: must be between 1 and 86400, got 0",
            "functions.json: queues[1].consumer.max_retries: must be between 0 and 100",
            "functions.json: queues[1].consumer.retry_delay: must be between 0 and 86400",
            "functions.json: queues[1].consumer.max_batch_timeout: must be between 0",
            "functions.json: queues[1].consumer.max_concurrency: must be between 1 and 250",
            "functions.json: queues[1].consumer.dead_letter_queue: queue name \"no/pe\" must be",
            "functions.json: queues[2].consumer.timeout_seconds: must be between 1 and 86400, got 86401",
            "functions.json: queues[2].consumer.dead_letter_queue: a queue cannot be its own dead-letter queue",
        ] {
            #expect(lines.contains { $0.hasPrefix(expected) }, "missing: \(expected)\nin:\n\(lines.joined(separator: "\n"))")
        }
        // No queue problem is reported under the entry alone or with the queue's name first.
        #expect(!lines.contains { $0.hasPrefix("functions.json: queues[") && $0.contains("]: queue \"") }, "\(lines)")
    }

    @Test func consumerTimeoutSecondsIsReadWithItsDefault() throws {
        let json = #"""
            {"queues": [{"name": "a", "consumer": {"function": "c", "timeout_seconds": 60}}, {"name": "b", "consumer": {"function": "c"}}],
             "functions": [{"name": "c", "handler": "t.consumer"}]}
            """#
        let (m, _) = try ManifestLoader(registry: registry()).validate(
            try JSONValue.parse(json),
            file: "functions.json",
            baseDirectory: ".",
            environment: [:],
            envFile: [:]
        )
        #expect(m.queues.first { $0.name == "a" }?.consumer?.timeoutSeconds == 60)
        #expect(m.queues.first { $0.name == "b" }?.consumer?.timeoutSeconds == 900)
    }

    @Test func aHandlerNeedingAnUndeclaredSecretSaysWhich() {
        let lines = problems(#"{"functions": [{"name": "cron", "handler": "t.cron"}]}"#)
        #expect(lines == ["functions.json: functions[0]: this handler needs secret \"CRON_SECRET\": declare it in secrets"])
    }

    @Test func theManifestCarriesEachAuthProviderParsed() throws {
        let json = """
            {"auth_providers": {"clerk": {"preset": "clerk", "domain": "x.clerk.accounts.dev"}},
             "functions": [{"name": "r", "handler": "t.route", "routes": ["GET /me"], "auth": "clerk"}]}
            """
        let (manifest, _) = try ManifestLoader(registry: registry()).validate(
            try JSONValue.parse(json),
            file: "functions.json",
            baseDirectory: ".",
            environment: [:],
            envFile: [:]
        )
        let clerk = try #require(manifest.authProviders["clerk"])
        #expect(clerk.preset == .clerk)
        #expect(clerk.domain == "x.clerk.accounts.dev")
        #expect(clerk.jwksURL == "https://x.clerk.accounts.dev/.well-known/jwks.json")
    }

    @Test func anInvalidAuthProviderIsOneProblemNotAlsoUndeclared() {
        let lines = problems(
            #"{"auth_providers": {"idp": {"jwks_url": "ftp://nope", "issuer": "x"}}, "functions": [{"name": "r", "handler": "t.route", "routes": ["GET /me"], "auth": "idp"}]}"#
        )
        #expect(lines == ["functions.json: auth_providers.idp.jwks_url: must be an absolute https URL"])
    }

    @Test func notJSONOrNotAnObjectIsOneClearLine() throws {
        let dir = TemporaryFolder("manifest")
        defer { dir.cleanup() }
        let path = dir.path + "/functions.json"
        try Data("{\"name\": ".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try ManifestLoader(registry: registry()).load(path: path, environment: [:])
            Issue.record("should fail")
        } catch let error as ManifestError {
            #expect(error.lines.count == 1)
            #expect(error.lines[0].hasPrefix("functions.json: not valid JSON"))
        }
        #expect(problems("[1, 2]") == ["functions.json: the manifest must be a JSON object, not an array"])
    }

    @Test func envFilesAreParsedAndTheEnvironmentWins() throws {
        let dir = TemporaryFolder("envfile")
        defer { dir.cleanup() }
        let envFile = dir.path + "/.dev.vars"
        try Data("# comment\nA=1\nexport B=\"two words\"\n\nC='x=y'\n".utf8).write(to: URL(fileURLWithPath: envFile))
        #expect(try SecretSource.parseEnvFile(at: envFile) == ["A": "1", "B": "two words", "C": "x=y"])
        #expect(SecretSource.resolve(["A", "B", "Z"], environment: ["A": "env"], envFile: ["A": "1", "B": "2"]) == ["A": "env", "B": "2"])
        try Data("A=1\nnot a pair\n".utf8).write(to: URL(fileURLWithPath: envFile))
        #expect(throws: ManifestError.self) { try SecretSource.parseEnvFile(at: envFile) }
    }

    @Test(arguments: [
        ("GET /a/:id/b", "/a/x/b", ["id": "x"]),
        ("GET /files/*", "/files/a/b", ["*": "a/b"]),
        ("GET /", "/", [:]),
    ])
    func routePatternsMatch(pattern: String, path: String, params: [String: String]) throws {
        let p = try RoutePattern(parsing: pattern)
        #expect(p.match(path.split(separator: "/").map(String.init)) == params)
    }

    @Test func routePatternsRejectBadShapes() {
        for bad in ["GET", "GET a", "GET /a/*/b", "GET /:", "GET /:a/:a", "get /x", "GET /a b"] {
            #expect(throws: RoutePatternError.self, "\(bad)") { try RoutePattern(parsing: bad) }
        }
        #expect(try! RoutePattern(parsing: "GET /admin/kv/*").basePath == "/admin/kv")
    }
}

@Suite("JSONValue")
struct JSONValueTests {
    @Test func serializesCompactSortedAndEscaped() throws {
        let value: JSONValue = ["b": [1, 2.5, true, nil], "a": "quote \" back \\ nl \n tab \t ctl \u{1} é", "n": -7, "big": 1e300, "whole": 3.0]
        let text = value.serializedString
        #expect(text == #"{"a":"quote \" back \\ nl \n tab \t ctl \u0001 é","b":[1,2.5,true,null],"big":1e+300,"n":-7,"whole":3}"#)
        // Foundation's parser reads it back to the same value.
        #expect(
            try JSONValue.parse(text) == [
                "b": [1, 2.5, true, nil], "a": "quote \" back \\ nl \n tab \t ctl \u{1} é", "n": -7, "big": 1e300, "whole": 3,
            ]
        )
        #expect(JSONValue.number(.infinity).serializedString == "null")
    }
}

@Suite("JSON parsing")
struct JSONParserTests {
    @Test func parsesEveryKindOfValue() throws {
        let text =
            #" { "s": "a\"b\\c\/d\n\u00e9\ud83d\ude00", "i": -42, "big": 9223372036854775808, "d": 1.5e3, "z": 0, "t": true, "f": false, "n": null, "a": [1, [], {}] } "#
        let v = try JSONValue.parse(text)
        #expect(v["s"] == "a\"b\\c/d\né😀")
        #expect(v["i"] == .integer(-42))
        #expect(v["big"] == .number(9_223_372_036_854_775_808))
        #expect(v["d"] == .number(1500))
        #expect(v["z"] == .integer(0))
        #expect(v["t"] == true && v["f"] == false && v["n"] == .null)
        #expect(v["a"] == [1, [], [:]])
        // What Foundation's own parser reads from the same text agrees.
        let foundation = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        #expect(foundation["s"] as? String == v["s"]?.stringValue)
    }

    @Test(arguments: [
        "", " ", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "01", "1.", "-", "1e", "tru", "nul", "\"abc", "\"\\x\"",
        "\"\\ud83d\"", "\"a\u{1}b\"", "[1] x", "{'a':1}", "NaN", "\"\\u12\"",
    ])
    func rejectsMalformedInput(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func stringsMustBeUTF8() throws {
        // Raw bytes inside a string without escapes: invalid UTF-8 is refused, valid is kept.
        let refused: [[UInt8]] = [[0xFF], [0x61, 0xC3, 0x28], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0x61, 0x80], [0xE2, 0x82]]
        for bytes in refused {
            #expect(throws: JSONParseError.self, "\(bytes)") { try JSONValue.parse(Data([0x22] + bytes + [0x22])) }
            #expect(throws: JSONParseError.self, "\(bytes) with an escape") { try JSONValue.parse(Data([0x22, 0x5C, 0x6E] + bytes + [0x22])) }
        }
        #expect(try JSONValue.parse(Data([0x22, 0x61, 0xC3, 0xA9, 0x7F, 0x22])) == .string("aé\u{7F}"))
        #expect(try JSONValue.parse(Data(#"{"key":"plain ASCII ~"}"#.utf8)) == ["key": "plain ASCII ~"])
    }

    @Test func refusesWhatNoOutsideJSONMayHoldAndAcceptsItsEdges() throws {
        for data in OutsideJSON.refused {
            #expect(throws: JSONParseError.self, "\(String(decoding: data.prefix(40), as: UTF8.self))") { try JSONValue.parse(data) }
        }
        for data in OutsideJSON.accepted { _ = try JSONValue.parse(data) }
        #expect(try JSONValue.parse("1e-400") == .number(0))
        #expect(throws: JSONParseError.self) { try JSONValue.parse("[1e400]") }
        do {
            _ = try JSONValue.parse("1e400")
        } catch let error as JSONParseError {
            #expect(error.description == "number out of range at byte 5")
        }
    }

    @Test func refusesHostileNesting() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
        let ok = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect((try? JSONValue.parse(ok)) != nil)
    }
}
