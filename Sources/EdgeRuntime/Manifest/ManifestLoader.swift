import EdgeCore
import Foundation
import Queues

/// Reads and validates `functions.json`, collecting every problem with its JSON path.
public struct ManifestLoader {
    public let registry: FunctionRegistry

    public init(registry: FunctionRegistry) { self.registry = registry }

    /// Loads `path` and checks it against `registry`; secrets must be in `environment` or `envFile`.
    /// - Returns: the manifest and the resolved secret values.
    /// - Throws: ``ManifestError`` listing every problem.
    /// - Parameter requireSecrets: `false` skips the check that secret values are set (`routes`).
    public func load(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        envFile: String? = nil,
        requireSecrets: Bool = true
    ) throws -> (manifest: Manifest, secrets: [String: String]) {
        let file = (path as NSString).lastPathComponent
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ManifestError(file: path, problems: [("", "cannot read the manifest")])
        }
        let json: JSONValue
        do { json = try JSONValue.parse(data) } catch {
            throw ManifestError(file: file, problems: [("", "not valid JSON: \(Self.jsonReason(error))")])
        }
        let envValues = try envFile.map(SecretSource.parseEnvFile(at:)) ?? [:]
        let base = (path as NSString).deletingLastPathComponent
        return try validate(
            json,
            file: file,
            baseDirectory: base.isEmpty ? "." : base,
            environment: environment,
            envFile: envValues,
            requireSecrets: requireSecrets
        )
    }

    static func jsonReason(_ error: any Error) -> String {
        if let error = error as? JSONParseError { return error.description }
        if case DecodingError.dataCorrupted(let context) = error {
            let underlying = (context.underlyingError as NSError?)?.userInfo["NSDebugDescription"] as? String
            return underlying ?? context.debugDescription
        }
        return "\(error)"
    }

    /// Validates an already-parsed manifest.
    public func validate(
        _ json: JSONValue,
        file: String,
        baseDirectory: String,
        environment: [String: String],
        envFile: [String: String],
        requireSecrets: Bool = true
    ) throws -> (manifest: Manifest, secrets: [String: String]) {
        var p = Problems()
        guard let root = json.objectValue else {
            throw ManifestError(file: file, problems: [("", "the manifest must be a JSON object, not \(json.typeName)")])
        }
        p.unknownKeys(
            root,
            at: "",
            allowed: [
                "name", "vars", "secrets", "limits", "kv", "kv_namespaces", "auth_providers",
                "queues", "functions", "crons", "console", "$schema", "description", "compatibility_date",
            ]
        )
        var manifest = Manifest(
            name: p.string(root["name"], at: "name") ?? "edge-run",
            vars: [:],
            secrets: [],
            limits: RuntimeLimits(),
            kvMinTTLSeconds: 60,
            kvBindings: [],
            authProviders: [:],
            queues: [],
            functions: [],
            crons: [],
            baseDirectory: baseDirectory
        )

        // vars
        if let vars = p.object(root["vars"], at: "vars") {
            for (k, v) in vars.sorted(by: { $0.key < $1.key }) {
                if let s = p.string(v, at: "vars.\(k)") { manifest.vars[k] = s }
            }
        }
        // secrets
        var secretValues: [String: String] = [:]
        if let secrets = p.array(root["secrets"], at: "secrets") {
            for (i, v) in secrets.enumerated() {
                guard let name = p.string(v, at: "secrets[\(i)]") else { continue }
                if manifest.secrets.contains(name) {
                    p.add("secrets[\(i)]", "secret \"\(name)\" is declared twice")
                    continue
                }
                manifest.secrets.append(name)
                if let value = SecretSource.value(of: name, environment: environment, envFile: envFile) {
                    secretValues[name] = value
                } else if requireSecrets {
                    p.add("secrets[\(i)]", "secret \"\(name)\" is not set (set it in the environment or the --env-file)")
                }
            }
        }
        manifest.console = p.bool(root["console"], at: "console") ?? false
        // limits, kv
        if let limits = p.object(root["limits"], at: "limits") {
            (manifest.limits, manifest.serverLimits, manifest.setsMaxBodyBytes) = p.topLevelLimits(limits, at: "limits")
        }
        if let kv = p.object(root["kv"], at: "kv") {
            p.unknownKeys(kv, at: "kv", allowed: ["min_ttl_seconds"])
            if let v = kv["min_ttl_seconds"] {
                manifest.kvMinTTLSeconds = p.int(v, at: "kv.min_ttl_seconds", in: 1...31_536_000).map(Int64.init) ?? 60
            }
        }
        if let namespaces = p.array(root["kv_namespaces"], at: "kv_namespaces") {
            for (i, v) in namespaces.enumerated() {
                guard let ns = p.object(v, at: "kv_namespaces[\(i)]") else { continue }
                p.unknownKeys(ns, at: "kv_namespaces[\(i)]", allowed: ["binding", "id"])
                guard let binding = p.string(ns["binding"], at: "kv_namespaces[\(i)].binding", required: true) else { continue }
                if !Self.isIdentifier(binding) {
                    p.add("kv_namespaces[\(i)].binding", "\"\(binding)\" must be letters, digits and _")
                    continue
                }
                if binding.hasPrefix("__") {
                    p.add("kv_namespaces[\(i)].binding", "names starting with __ are reserved for the runtime")
                    continue
                }
                if manifest.kvBindings.contains(binding) {
                    p.add("kv_namespaces[\(i)].binding", "binding \"\(binding)\" is declared twice")
                    continue
                }
                manifest.kvBindings.append(binding)
            }
        }
        // Every entry is declared (a function naming it is not "undeclared"), the valid ones parsed.
        var declaredAuthProviders: Set<String> = []
        if let providers = p.object(root["auth_providers"], at: "auth_providers") {
            for (name, v) in providers.sorted(by: { $0.key < $1.key }) {
                guard let o = p.object(v, at: "auth_providers.\(name)") else { continue }
                declaredAuthProviders.insert(name)
                do { manifest.authProviders[name] = try AuthProviderConfig(json: o) } catch {
                    p.add("auth_providers.\(name).\(error.key)", error.message)
                }
            }
        }
        manifest.queues = parseQueues(root["queues"], p: &p)
        manifest.functions = parseFunctions(root["functions"], manifest: manifest, declaredAuthProviders: declaredAuthProviders, p: &p)
        manifest.crons = parseCrons(root["crons"], manifest: manifest, p: &p)
        checkConsumers(manifest, p: &p)

        if !p.items.isEmpty { throw ManifestError(file: file, problems: p.items) }
        return (manifest, secretValues)
    }

    static func isIdentifier(_ s: String) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    // MARK: Queues

    private func parseQueues(_ value: JSONValue?, p: inout Problems) -> [QueueConfig] {
        guard let list = p.array(value, at: "queues") else { return [] }
        var queues: [QueueConfig] = []
        for (i, v) in list.enumerated() {
            let at = "queues[\(i)]"
            guard let q = p.object(v, at: at) else { continue }
            p.unknownKeys(q, at: at, allowed: ["name", "delivery_delay", "retention", "consumer"])
            guard let name = p.string(q["name"], at: "\(at).name", required: true) else { continue }
            var config = QueueConfig(name: name)
            if let d = q["delivery_delay"] { config.deliveryDelay = p.int(d, at: "\(at).delivery_delay", in: 0...86_400) ?? 0 }
            if let r = q["retention"] { config.retention = p.int(r, at: "\(at).retention", in: 60...1_209_600) ?? QueueConfig.defaultRetention }
            if let c = p.object(q["consumer"], at: "\(at).consumer") {
                let cat = "\(at).consumer"
                p.unknownKeys(
                    c,
                    at: cat,
                    allowed: [
                        "function", "max_batch_size", "max_batch_timeout", "max_retries", "retry_delay", "dead_letter_queue", "max_concurrency",
                        "timeout_seconds",
                    ]
                )
                var consumer = ConsumerConfig()
                consumer.function = p.string(c["function"], at: "\(cat).function", required: true)
                if let v = c["max_batch_size"] { consumer.maxBatchSize = p.int(v, at: "\(cat).max_batch_size", in: 1...100) ?? 10 }
                if let v = c["max_batch_timeout"] { consumer.maxBatchTimeout = p.double(v, at: "\(cat).max_batch_timeout", in: 0...60) ?? 5 }
                if let v = c["max_retries"] { consumer.maxRetries = p.int(v, at: "\(cat).max_retries", in: 0...100) ?? 3 }
                if let v = c["retry_delay"] { consumer.retryDelay = p.int(v, at: "\(cat).retry_delay", in: 0...86_400) ?? 0 }
                if let v = c["max_concurrency"] { consumer.maxConcurrency = p.int(v, at: "\(cat).max_concurrency", in: 1...250) ?? 1 }
                if let v = c["timeout_seconds"] {
                    consumer.timeoutSeconds =
                        p.int(v, at: "\(cat).timeout_seconds", in: ConsumerConfig.timeoutRange) ?? ConsumerConfig.defaultTimeoutSeconds
                }
                consumer.deadLetterQueue = p.string(c["dead_letter_queue"], at: "\(cat).dead_letter_queue")
                config.consumer = consumer
            }
            if queues.contains(where: { $0.name == name }) {
                p.add("\(at).name", "queue \"\(name)\" is declared twice")
                continue
            }
            // Every problem the ranges above did not report, at its setting's full path.
            for problem in config.problems {
                let path = "\(at).\(problem.path)"
                if !p.items.contains(where: { $0.path == path }) { p.add(path, problem.message) }
            }
            queues.append(config)
        }
        for (i, q) in queues.enumerated() {
            if let dlq = q.consumer?.deadLetterQueue, dlq != q.name, !queues.contains(where: { $0.name == dlq }) {
                p.add("queues[\(i)].consumer.dead_letter_queue", "queue \"\(dlq)\" is not declared")
            }
        }
        return queues
    }

    // MARK: Functions

    private func parseFunctions(
        _ value: JSONValue?,
        manifest: Manifest,
        declaredAuthProviders: Set<String>,
        p: inout Problems
    ) -> [FunctionSpec] {
        guard let list = p.array(value, at: "functions") else { return [] }
        var functions: [FunctionSpec] = []
        var routes: [(pattern: RoutePattern, path: String)] = []
        for (i, v) in list.enumerated() {
            let at = "functions[\(i)]"
            guard let f = p.object(v, at: at) else { continue }
            p.unknownKeys(f, at: at, allowed: ["name", "handler", "routes", "config", "auth", "analytics", "limits"])
            let name = p.string(f["name"], at: "\(at).name", required: true)
            let handler = p.string(f["handler"], at: "\(at).handler", required: true)
            if let name, functions.contains(where: { $0.name == name }) { p.add("\(at).name", "function \"\(name)\" is declared twice") }
            var spec = FunctionSpec(
                name: name ?? "",
                handler: handler ?? "",
                routes: [],
                config: [:],
                auth: nil,
                analytics: nil,
                limits: manifest.limits,
                index: i
            )
            if let rs = p.array(f["routes"], at: "\(at).routes") {
                for (j, r) in rs.enumerated() {
                    guard let text = p.string(r, at: "\(at).routes[\(j)]") else { continue }
                    do {
                        let pattern = try RoutePattern(parsing: text)
                        if let other = routes.first(where: { $0.pattern.clashes(with: pattern) }) {
                            p.add("\(at).routes[\(j)]", "route \"\(pattern)\" clashes with \(other.path) (\"\(other.pattern)\")")
                        } else if pattern.path.hasPrefix("/_edge/") || pattern.path == "/__scheduled" {
                            p.add("\(at).routes[\(j)]", "route \"\(pattern)\" is reserved for the runtime")
                        } else {
                            routes.append((pattern, "\(at).routes[\(j)]"))
                        }
                        spec.routes.append(pattern)
                    } catch { p.add("\(at).routes[\(j)]", error.description) }
                }
            }
            spec.config = p.object(f["config"], at: "\(at).config") ?? [:]
            if let auth = p.string(f["auth"], at: "\(at).auth") {
                if !declaredAuthProviders.contains(auth) { p.add("\(at).auth", "auth provider \"\(auth)\" is not declared in auth_providers") }
                spec.auth = auth
            }
            if let analytics = p.string(f["analytics"], at: "\(at).analytics") {
                if !["mixpanel", "posthog"].contains(analytics) { p.add("\(at).analytics", "must be \"mixpanel\" or \"posthog\"") }
                spec.analytics = analytics
            }
            if let limits = p.object(f["limits"], at: "\(at).limits") {
                spec.limits = p.functionLimits(limits, at: "\(at).limits", base: manifest.limits)
                spec.setsMaxBodyBytes = limits["max_body_bytes"] != nil
            }
            // A handler's own default (kv.api: 25 MiB) applies only when no manifest level sets one.
            if !spec.setsMaxBodyBytes, !manifest.setsMaxBodyBytes, let type = handler.flatMap(registry.type(for:)),
                let size = type.defaultMaxBodyBytes
            {
                spec.limits.maxBodyBytes = max(spec.limits.maxBodyBytes, size)
            }
            if let handler {
                if let type = registry.type(for: handler) {
                    if !spec.routes.isEmpty && !type.kinds.contains(.fetch) {
                        p.add("\(at).routes", "handler \"\(handler)\" does not handle HTTP requests")
                    }
                    let config = FunctionConfig(
                        functionName: spec.name,
                        values: spec.config,
                        declarations: manifest.declarations,
                        authProvider: spec.auth,
                        authProviderConfig: spec.auth.flatMap { manifest.authProviders[$0] },
                        limits: spec.limits
                    )
                    do { _ = try type.init(config: config) } catch let error as FunctionConfigError {
                        p.add(error.key.map { "\(at).config.\($0)" } ?? "\(at)", error.message)
                    } catch {
                        p.add("\(at).config", "\(error)")
                    }
                } else {
                    p.add("\(at).handler", "unknown handler \"\(handler)\"")
                }
            }
            functions.append(spec)
        }
        return functions
    }

    // MARK: Crons and consumers

    private func parseCrons(_ value: JSONValue?, manifest: Manifest, p: inout Problems) -> [CronSpec] {
        guard let list = p.array(value, at: "crons") else { return [] }
        var crons: [CronSpec] = []
        for (i, v) in list.enumerated() {
            let at = "crons[\(i)]"
            guard let c = p.object(v, at: at) else { continue }
            p.unknownKeys(c, at: at, allowed: ["schedule", "function"])
            guard let schedule = p.string(c["schedule"], at: "\(at).schedule", required: true),
                let function = p.string(c["function"], at: "\(at).function", required: true)
            else { continue }
            var expression: CronExpression?
            do { expression = try CronExpression(schedule) } catch { p.add("\(at).schedule", error.message) }
            if let spec = manifest.function(named: function) {
                if let type = registry.type(for: spec.handler), !type.kinds.contains(.scheduled) {
                    p.add("\(at).function", "function \"\(function)\" (handler \"\(spec.handler)\") has no scheduled handler")
                }
            } else {
                p.add("\(at).function", "function \"\(function)\" is not declared")
            }
            if let expression { crons.append(CronSpec(schedule: schedule, expression: expression, function: function)) }
        }
        return crons
    }

    private func checkConsumers(_ manifest: Manifest, p: inout Problems) {
        for (i, q) in manifest.queues.enumerated() {
            guard let name = q.consumer?.function else { continue }
            guard let spec = manifest.function(named: name) else {
                p.add("queues[\(i)].consumer.function", "function \"\(name)\" is not declared")
                continue
            }
            if let type = registry.type(for: spec.handler), !type.kinds.contains(.queue) {
                p.add("queues[\(i)].consumer.function", "function \"\(name)\" (handler \"\(spec.handler)\") does not consume queues")
            }
        }
    }
}
