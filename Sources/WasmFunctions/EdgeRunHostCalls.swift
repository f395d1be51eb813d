import EdgeRuntime
import Foundation
import KVStore
import Logging
import Queues
import WasmKit

/// What a guest's `edge_run` host calls may reach: the KV bindings and queues its config lists.
struct HostAccess: Sendable {
    /// The runtime's bindings (`nil` only in benchmarks, for modules that make no host calls).
    let environment: Env?
    let kvBindings: Set<String>
    let queues: Set<String>

    init(env: Env?, kvBindings: Set<String>, queues: Set<String>) {
        environment = env
        self.kvBindings = kvBindings
        self.queues = queues
    }

    var env: Env {
        get throws(GuestFault) {
            guard let environment else { throw GuestFault("host calls are not available here") }
            return environment
        }
    }

    /// `edge_run.fetch` calls per invocation (as Workers limits subrequests).
    static let maxFetches = 50
    /// Response bytes an invocation may hold from its fetches at once.
    static let maxResponseBytes = 16 << 20
}

/// The host calls of import module `edge_run`: a small, stable ABI described in `docs/wasm.md`
/// and `Examples/wasm/include/edge_run.h`. Strings and buffers are `(pointer, length)` pairs in
/// the guest's memory, checked before use; results are an `i32` status (0 or a negative
/// ``Status``); a value too large for the guest's buffer is `bufferTooSmall` with the needed
/// length written to `*out_len`, so the guest can retry with a larger buffer.
enum EdgeRunHostCalls {
    static let moduleName = "edge_run"

    /// The ABI's status codes (stable: new codes may be added, these never change).
    enum Status: Int32 {
        case ok = 0
        case notFound = -1
        case bufferTooSmall = -2
        case denied = -3
        case invalid = -4
        case tooLarge = -5
        case failed = -6
        case limit = -7
        case badHandle = -8
        var value: Value { .i32(UInt32(bitPattern: rawValue)) }
    }

    static let signatures: [String: FunctionType] = {
        let i = ValueType.i32
        let l = ValueType.i64
        func t(_ p: [ValueType], _ r: [ValueType] = [.i32]) -> FunctionType { FunctionType(parameters: p, results: r) }
        return [
            "kv_get": t([i, i, i, i, i, i, i]),
            "kv_put": t([i, i, i, i, i, i, l]),
            "kv_delete": t([i, i, i, i]),
            "kv_list": t([i, i, i, i, i, i, i, i, i, i]),
            "kv_increment": t([i, i, i, i, l, l, i]),
            "queue_send": t([i, i, i, i, i, i]),
            "fetch": t([i, i, i, i]),
            "response_status": t([i]),
            "response_header": t([i, i, i, i, i, i]),
            "response_body": t([i, i, i, i]),
            "log": t([i, i, i], []),
        ]
    }()

    static func implementation(_ name: String) -> WASIPreview1.Body? {
        switch name {
        case "kv_get": return kvGet
        case "kv_put": return kvPut
        case "kv_delete": return kvDelete
        case "kv_list": return kvList
        case "kv_increment": return kvIncrement
        case "queue_send": return queueSend
        case "fetch": return fetch
        case "response_status":
            return { inv, a in
                guard let response = inv.response(a[0].i32) else { return [Status.badHandle.value] }
                return [.i32(UInt32(clamping: response.status))]
            }
        case "response_header": return responseHeader
        case "response_body":
            return { inv, a in
                guard let response = inv.response(a[0].i32) else { return [Status.badHandle.value] }
                return [try output(response.body, inv, a[1].i32, a[2].i32, a[3].i32)]
            }
        case "log": return log
        default: return nil
        }
    }

    // MARK: KV

    /// The KV store of the binding named at `(a[0], a[1])`, if the config lists it.
    private static func store(_ inv: GuestInvocation, _ a: [Value]) throws -> (any KVStore)? {
        let binding = try inv.guestMemory().string(a[0].i32, a[1].i32, "binding name")
        guard inv.host.kvBindings.contains(binding) else {
            inv.logger.warning(
                "KV binding \"\(binding)\" is not listed in this function's config",
                metadata: ["function": "\(inv.functionName)", "request_id": "\(inv.requestID)"]
            )
            return nil
        }
        return try inv.host.env.kv(binding)
    }

    private static func kvGet(_ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        guard let kv = try store(inv, a) else { return [Status.denied.value] }
        let key = try inv.guestMemory().string(a[2].i32, a[3].i32, "key")
        try inv.guestMemory().check(a[4].i32, UInt64(a[5].i32), "kv_get out")
        try inv.guestMemory().check(a[6].i32, 4, "kv_get out_len")
        let value = try call(inv) { try await kv.get(key) }
        guard case .success(let data) = value else { return [value.failure!] }
        guard let data else { return [Status.notFound.value] }
        return [try output(Array(data), inv, a[4].i32, a[5].i32, a[6].i32)]
    }

    private static func kvPut(_ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        guard let kv = try store(inv, a) else { return [Status.denied.value] }
        let memory = try inv.guestMemory()
        let key = try memory.string(a[2].i32, a[3].i32, "key")
        let value = Data(try memory.read(a[4].i32, a[5].i32, "value"))
        let ttl = Int64(bitPattern: a[6].i64)
        guard ttl >= 0 else { return [Status.invalid.value] }
        let options = KVPutOptions(expirationTtl: ttl == 0 ? nil : ttl)
        return [try call(inv) { try await kv.put(key, value: value, options: options) }.status]
    }

    private static func kvDelete(_ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        guard let kv = try store(inv, a) else { return [Status.denied.value] }
        let key = try inv.guestMemory().string(a[2].i32, a[3].i32, "key")
        return [try call(inv) { try await kv.delete(key) }.status]
    }

    private static func kvList(_ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        guard let kv = try store(inv, a) else { return [Status.denied.value] }
        let memory = try inv.guestMemory()
        let prefix = try memory.string(a[2].i32, a[3].i32, "prefix")
        let cursor = try memory.string(a[4].i32, a[5].i32, "cursor")
        let limit = Int(Int32(bitPattern: a[6].i32))
        try memory.check(a[7].i32, UInt64(a[8].i32), "kv_list out")
        try memory.check(a[9].i32, 4, "kv_list out_len")
        guard (0...1000).contains(limit) else { return [Status.invalid.value] }
        let options = KVListOptions(
            prefix: prefix.isEmpty ? nil : prefix,
            limit: limit == 0 ? 1000 : limit,
            cursor: cursor.isEmpty ? nil : cursor
        )
        let listed = try call(inv) { try await kv.list(options).jsonData() }
        guard case .success(let json) = listed else { return [listed.failure!] }
        return [try output(Array(json), inv, a[7].i32, a[8].i32, a[9].i32)]
    }

    private static func kvIncrement(_ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        guard let kv = try store(inv, a) else { return [Status.denied.value] }
        let memory = try inv.guestMemory()
        let key = try memory.string(a[2].i32, a[3].i32, "key")
        let by = Int64(bitPattern: a[4].i64)
        let ttl = Int64(bitPattern: a[5].i64)
        try memory.check(a[6].i32, 8, "kv_increment out")
        guard ttl >= 0 else { return [Status.invalid.value] }
        let result = try call(inv) { try await kv.increment(key, by: by, expirationTtl: ttl == 0 ? nil : ttl) }
        guard case .success(let value) = result else { return [result.failure!] }
        try memory.writeU64(UInt64(bitPattern: value), at: a[6].i32, "kv_increment out")
        return [Status.ok.value]
    }

    // MARK: Queues

    private static func queueSend(_ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        let memory = try inv.guestMemory()
        let queue = try memory.string(a[0].i32, a[1].i32, "queue name")
        guard inv.host.queues.contains(queue) else {
            inv.logger.warning(
                "queue \"\(queue)\" is not listed in this function's config",
                metadata: ["function": "\(inv.functionName)", "request_id": "\(inv.requestID)"]
            )
            return [Status.denied.value]
        }
        let body = Data(try memory.read(a[2].i32, a[3].i32, "message body"))
        let types: [UInt32: MessageContentType] = [0: .json, 1: .text, 2: .bytes]
        guard let type = types[a[4].i32] else { return [Status.invalid.value] }
        let delay = Int32(bitPattern: a[5].i32)
        guard (0...86_400).contains(delay) else { return [Status.invalid.value] }
        if type == .json, (try? JSONValue.parse(body)) == nil { return [Status.invalid.value] }
        let env = try inv.host.env
        return [
            try call(inv) {
                _ = try await env.queue(queue).send(body: body, contentType: type, delaySeconds: delay == 0 ? nil : Int(delay))
            }.status
        ]
    }

    // MARK: fetch

    /// `fetch(request_json, body)`: the request is `{"method", "url", "headers": {name: value}}`.
    private static func fetch(_ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        let memory = try inv.guestMemory()
        let description = try memory.read(a[0].i32, a[1].i32, "fetch request")
        let body = try memory.read(a[2].i32, a[3].i32, "fetch body")
        guard inv.responses.count < HostAccess.maxFetches else { return [Status.limit.value] }
        guard let json = try? JSONValue.parse(Data(description)), let url = json["url"]?.stringValue,
            url.hasPrefix("http://") || url.hasPrefix("https://")
        else { return [Status.invalid.value] }
        var headers = FetchHeaders()
        if let object = json["headers"]?.objectValue {
            for (name, value) in object.sorted(by: { $0.key < $1.key }) {
                guard let value = value.stringValue else { return [Status.invalid.value] }
                headers.add(name: name, value: value)
            }
        }
        var request = FetchRequest(
            method: json["method"]?.stringValue ?? "GET",
            url: url,
            headers: headers,
            body: body.isEmpty ? nil : body
        )
        request.maxResponseBytes = HostAccess.maxResponseBytes - inv.responseBytes
        let remaining = Double(inv.stop.remainingNanoseconds) / 1e9
        request.timeout = .milliseconds(Int64(max(1, min(remaining, 30) * 1000)))
        let env = try inv.host.env
        let prepared = request
        let result = try call(inv) { try await env.fetch(prepared) }
        guard case .success(let response) = result else { return [result.failure!] }
        inv.responses.append(response)
        inv.responseBytes += response.body.count
        return [.i32(UInt32(inv.responses.count - 1))]
    }

    private static func responseHeader(_ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        guard let response = inv.response(a[0].i32) else { return [Status.badHandle.value] }
        let name = try inv.guestMemory().string(a[1].i32, a[2].i32, "header name")
        try inv.guestMemory().check(a[3].i32, UInt64(a[4].i32), "response_header out")
        try inv.guestMemory().check(a[5].i32, 4, "response_header out_len")
        guard let value = response.headers[name] else { return [Status.notFound.value] }
        return [try output(Array(value.utf8), inv, a[3].i32, a[4].i32, a[5].i32)]
    }

    // MARK: log

    private static func log(_ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        let text = try inv.guestMemory().string(a[1].i32, min(a[2].i32, 4096), "log message")
        let levels: [UInt32: Logger.Level] = [0: .debug, 1: .info, 2: .warning, 3: .error]
        inv.logger.log(
            level: levels[a[0].i32] ?? .info,
            "\(text)",
            metadata: ["function": "\(inv.functionName)", "request_id": "\(inv.requestID)", "stream": "log"]
        )
        return []
    }

    // MARK: Helpers

    /// Writes `bytes` to the guest's `(out, capacity)` buffer and its length to `*outLength`;
    /// when they do not fit, writes only the length and answers `bufferTooSmall`.
    private static func output(_ bytes: [UInt8], _ inv: GuestInvocation, _ out: UInt32, _ capacity: UInt32, _ outLength: UInt32) throws -> Value {
        let memory = try inv.guestMemory()
        try memory.check(out, UInt64(capacity), "output buffer")
        try memory.writeU32(UInt32(clamping: bytes.count), at: outLength, "out_len")
        guard bytes.count <= Int(capacity) else { return Status.bufferTooSmall.value }
        try memory.write(bytes, at: out, "output buffer")
        return Status.ok.value
    }

    /// Runs an async store, queue or fetch operation for the guest, turning its errors into
    /// statuses (the guest decides what to do); only a stop ends the guest.
    private static func call<T: Sendable>(_ inv: GuestInvocation, _ operation: @escaping @Sendable () async throws -> T) throws -> HostResult<T> {
        do {
            return .success(try inv.blocking(operation))
        } catch let stopped as GuestStopped {
            throw stopped
        } catch let error as KVError {
            let tooLarge: Set<KVError.Code> = [.valueTooLarge, .metadataTooLarge]
            return .failed(tooLarge.contains(error.code) ? .tooLarge : .invalid)
        } catch let error as QueueError {
            return .failed(error.code == .messageTooLarge ? .tooLarge : error.code == .invalidConfiguration ? .failed : .invalid)
        } catch let error as FetchError {
            inv.logger.info("fetch failed: \(error)", metadata: ["function": "\(inv.functionName)", "request_id": "\(inv.requestID)"])
            return .failed(error.code == .invalidRequest ? .invalid : error.code == .tooLarge ? .tooLarge : .failed)
        } catch {
            inv.logger.error("host call failed: \(error)", metadata: ["function": "\(inv.functionName)", "request_id": "\(inv.requestID)"])
            return .failed(.failed)
        }
    }
}

/// The outcome of a host operation: its value, or the status the guest gets.
enum HostResult<T> {
    case success(T)
    case failed(EdgeRunHostCalls.Status)

    var failure: Value? { if case .failed(let s) = self { return s.value } else { return nil } }
    var status: Value { failure ?? EdgeRunHostCalls.Status.ok.value }
}

extension GuestInvocation {
    func response(_ handle: UInt32) -> FetchResponse? {
        Int(handle) < responses.count ? responses[Int(handle)] : nil
    }
}
