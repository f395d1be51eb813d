import EdgeRuntime
import Foundation
import KVStore
import Queues

/// The analytics providers and the payload kinds the runtime sends them.
enum AnalyticsKind: String, Sendable, Codable {
    /// Mixpanel `/track` events.
    case mixpanelTrack = "mixpanel.track"
    /// Mixpanel `/engage` profile updates.
    case mixpanelEngage = "mixpanel.engage"
    /// PostHog `/batch/` events.
    case posthogCapture = "posthog.capture"

    /// The usage counter's service and operation.
    var usage: (service: String, operation: String) {
        switch self {
        case .mixpanelTrack: ("mixpanel", "track")
        case .mixpanelEngage: ("mixpanel", "engage")
        case .posthogCapture: ("posthog", "capture")
        }
    }
}

/// What a send to the provider came to.
enum AnalyticsOutcome: Sendable, Equatable {
    case sent
    /// Worth trying again later (network error, 5xx, 429, Mixpanel `{"status": 0}`), after `retryAfter` seconds when the provider said so.
    case retry(String, retryAfter: Int?)
    /// Retrying cannot help (400 and other 4xx): the batch is logged and dropped (or dead-lettered by `analytics.retry`).
    case reject(String)
}

/// Payload shapes, compared with the official SDKs:
/// - mixpanel-python (`mixpanel/__init__.py`: `Mixpanel.track`, `Mixpanel.people_set`,
///   `Consumer._write_request`): an event is `{event, properties: {token, distinct_id, time,
///   $insert_id, mp_lib, $lib_version, …}}`; a profile update `{$token, $distinct_id, $time, $set}`;
///   both POSTed form-encoded as `data=<JSON array>&verbose=1&ip=0`, the answer `{"status": 1}`
///   or `{"status": 0, "error": …}`.
/// - posthog-python (`posthog/client.py` `Client.capture`/`_enqueue`, `posthog/request.py`
///   `batch_post`): `POST /batch/` JSON `{api_key, batch: [{event, distinct_id, properties:
///   {$lib, $lib_version, …}, timestamp, uuid, type: "capture"}], sentAt}`. We send `sent_at`
///   (the contract; PostHog's capture endpoint reads it) where request.py writes `sentAt`.
/// - mixpanel-python's `time` is unix seconds (`int(time.time())`) and its `$insert_id` is
///   `uuid4().hex`; we send milliseconds (Mixpanel accepts both; ms keeps ordering within a second)
///   and 32 random hex digits (128 bits from the CSPRNG), the same form.
enum AnalyticsPayloads {
    static let libName = "edge-run"
    static let libVersion = "0.1.0"

    /// Mixpanel's limit of events per `/track` call.
    static let mixpanelMaxBatch = 50
    /// Events per PostHog `/batch/` call (the SDK's default `flush_at` is 100).
    static let posthogMaxBatch = 100

    static func mixpanelBase(_ env: Env) -> String { trimmed(env.variable("MIXPANEL_API_BASE", default: "https://api.mixpanel.com")!) }
    static func posthogHost(_ env: Env) -> String { trimmed(env.variable("POSTHOG_HOST", default: "https://us.i.posthog.com")!) }
    private static func trimmed(_ s: String) -> String { s.hasSuffix("/") ? String(s.dropLast()) : s }

    /// One input event `{event, distinct_id, properties}` checked.
    /// - Throws: ``EdgeHTTPError`` 400 naming the problem.
    static func parseInput(_ value: JSONValue, index: Int) throws -> (event: String, distinctID: String?, properties: [String: JSONValue]) {
        guard let object = value.objectValue else { throw EdgeHTTPError(.badRequest, "events[\(index)] must be an object") }
        guard let name = object["event"]?.stringValue, !name.isEmpty else {
            throw EdgeHTTPError(.badRequest, "events[\(index)].event must be a non-empty string")
        }
        var properties: [String: JSONValue] = [:]
        if let p = object["properties"], !p.isNull {
            guard let o = p.objectValue else { throw EdgeHTTPError(.badRequest, "events[\(index)].properties must be an object") }
            properties = o
        }
        var distinctID: String?
        if let d = object["distinct_id"], !d.isNull {
            guard let s = d.stringValue ?? d.intValue.map({ String($0) }) else {
                throw EdgeHTTPError(.badRequest, "events[\(index)].distinct_id must be a string")
            }
            distinctID = s
        }
        return (name, distinctID ?? properties["distinct_id"]?.stringValue, properties)
    }

    /// The body's events: one object or an array of them (1…1000).
    static func inputEvents(_ body: JSONValue) throws -> [JSONValue] {
        let events = body.arrayValue ?? [body]
        guard !events.isEmpty else { throw EdgeHTTPError(.badRequest, "no events") }
        guard events.count <= 1000 else { throw EdgeHTTPError(.badRequest, "at most 1000 events per request") }
        return events
    }

    /// A valid `$insert_id`: 1…36 letters, digits and `-`.
    static func isValidInsertID(_ s: String) -> Bool {
        (1...36).contains(s.utf8.count)
            && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D }
    }

    /// A Mixpanel event: the caller's properties plus `token`, `distinct_id`, `time` (unix
    /// milliseconds unless given), `$insert_id` (kept when valid, else a new UUID), `mp_lib`, `$lib_version`.
    static func mixpanelEvent(name: String, distinctID: String?, properties: [String: JSONValue], token: String, nowMillis: Int64) -> JSONValue {
        var p = properties
        p["token"] = .string(token)
        p["distinct_id"] = .string(distinctID ?? "anonymous")
        if p["time"]?.doubleValue == nil { p["time"] = .integer(nowMillis) }
        if !(p["$insert_id"]?.stringValue.map(isValidInsertID) ?? false) { p["$insert_id"] = .string(Crypto.randomID()) }
        p["mp_lib"] = .string(libName)
        p["$lib_version"] = .string(libVersion)
        return ["event": .string(name), "properties": .object(p)]
    }

    /// A PostHog event: `{event, distinct_id, properties: {$lib, $lib_version, …}, timestamp, uuid, type}`.
    static func posthogEvent(
        name: String,
        distinctID: String?,
        properties: [String: JSONValue],
        now: Double,
        timestamp: String? = nil,
        uuid: String? = nil
    ) -> JSONValue {
        var p = properties
        p.removeValue(forKey: "distinct_id")
        p["$lib"] = .string(libName)
        p["$lib_version"] = .string(libVersion)
        return [
            "event": .string(name), "distinct_id": .string(distinctID ?? "anonymous"), "properties": .object(p),
            "timestamp": .string(timestamp ?? ISO8601Millis.format(Date(timeIntervalSince1970: now))),
            "uuid": .string(uuid ?? UUID().uuidString.lowercased()), "type": "capture",
        ]
    }

    /// The request that sends `items` of `kind`.
    static func request(kind: AnalyticsKind, items: [JSONValue], env: Env) -> FetchRequest {
        var request: FetchRequest
        switch kind {
        case .mixpanelTrack, .mixpanelEngage:
            let path = kind == .mixpanelTrack ? "/track" : "/engage"
            let form = FormEncoding.encode([("data", JSONValue.array(items).serializedString), ("verbose", "1"), ("ip", "0")])
            request = FetchRequest(
                method: "POST",
                url: mixpanelBase(env) + path,
                headers: ["Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"],
                body: form
            )
        case .posthogCapture:
            let body: JSONValue = [
                "api_key": .string(env.secret("POSTHOG_API_KEY") ?? ""), "batch": .array(items),
                "sent_at": .string(ISO8601Millis.format(Date(timeIntervalSince1970: env.clock.now()))),
            ]
            request = FetchRequest(
                method: "POST",
                url: posthogHost(env) + "/batch/",
                headers: ["Content-Type": "application/json", "User-Agent": "\(libName)/\(libVersion)"],
                body: Array(body.serialized())
            )
        }
        request.timeout = .seconds(10)
        // One attempt: a failed batch is retried through the analytics queue, not by holding it here.
        request.maxAttempts = 1
        return request
    }

    /// Sends `items` and classifies the answer.
    static func send(kind: AnalyticsKind, items: [JSONValue], env: Env) async -> AnalyticsOutcome {
        let response: FetchResponse
        do { response = try await env.fetch(request(kind: kind, items: items, env: env)) } catch {
            return .retry("\(error)", retryAfter: nil)
        }
        return outcome(kind: kind, response: response, now: env.clock.now())
    }

    /// Classifies an answer; a `Retry-After` (seconds or HTTP-date) is clamped to 0…86400 s.
    static func outcome(kind: AnalyticsKind, response: FetchResponse, now: Double) -> AnalyticsOutcome {
        switch response.status {
        case 200..<300:
            if kind != .posthogCapture, let status = (try? JSONValue.parse(Data(response.body)))?["status"], status.intValue == 0 {
                let error = (try? JSONValue.parse(Data(response.body)))?["error"]?.stringValue ?? "status 0"
                return .retry("Mixpanel answered status 0: \(error)", retryAfter: nil)
            }
            return .sent
        case 429, 408, 500...:
            let after = response.headers["Retry-After"].flatMap { RetryAfter.seconds($0, now: now) }
            return .retry("HTTP \(response.status)", retryAfter: after)
        default:
            return .reject("HTTP \(response.status): \(String(response.text.prefix(200)))")
        }
    }
}

/// A failed batch as it travels through the analytics queue: `analytics.retry` re-sends `items`
/// unchanged, so the provider deduplicates by their `$insert_id` / `uuid`.
struct SpilledBatch: Codable, Sendable {
    var kind: AnalyticsKind
    var items: [JSONValue]
    var error: String
}
