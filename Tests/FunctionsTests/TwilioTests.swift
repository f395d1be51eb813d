import EdgeCore
import EdgeRuntime
import EdgeTestSupport
import Foundation
import KVStore
import Queues
import Synchronization
import Testing

@testable import Functions

/// A fake Twilio Messages API: 201 with `SM<n>` sids unless the rule set with ``fail(_:)`` answers.
final class FakeTwilio: Sendable {
    typealias Rule = @Sendable (FakeProvider.Recorded) -> FakeProvider.Reply?

    private final class State: Sendable {
        let nextID = Mutex(0)
        let rule = Mutex<Rule?>(nil)
    }

    let provider: FakeProvider
    private let state: State

    init() async throws {
        let state = State()
        self.state = state
        provider = try await FakeProvider.start { recorded in
            if let reply = state.rule.withLock({ $0 })?(recorded) { return reply }
            let n = state.nextID.withLock { n -> Int in
                n += 1
                return n
            }
            let sid = "SM" + String(format: "%032d", n)
            return .json(["sid": .string(sid), "status": "queued", "account_sid": "AC123"], status: 201)
        }
    }

    func fail(_ rule: Rule?) { state.rule.withLock { $0 = rule } }
    var calls: [FakeProvider.Recorded] { provider.requests }
}

@Suite("Twilio: twilio.sms and twilio.status")
struct TwilioTests {
    static let token = "12345"
    static let secrets = ["TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": token]

    static func manifest(api: String) -> JSONValue {
        [
            "vars": ["TWILIO_API_BASE": .string(api), "TWILIO_FROM_NUMBER": "+15557654321"],
            "secrets": ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"],
            "kv_namespaces": [["binding": "KV"]],
            "functions": [
                ["name": "sms", "handler": "twilio.sms", "routes": ["POST /sms"], "config": ["status_callback": "/twilio/status"]],
                ["name": "status", "handler": "twilio.status", "routes": ["POST /twilio/status"]],
                [
                    "name": "status-public", "handler": "twilio.status", "routes": ["POST /myapp.php"],
                    "config": ["public_url": "https://mycompany.com"],
                ],
                [
                    "name": "status-public-slash", "handler": "twilio.status", "routes": ["POST /hooks/status"],
                    "config": ["public_url": "https://hooks.example.com/"],
                ],
            ],
        ]
    }

    static func start(_ fake: FakeTwilio, clock: ManualClock = ManualClock()) async throws -> RunningServer {
        try await RunningServer.start(manifest: manifest(api: fake.provider.url()), secrets: secrets, clock: clock)
    }

    static func record(_ s: RunningServer, _ key: String) async throws -> JSONValue? {
        try await s.server.kvStores["KV"]!.get(key).flatMap { try JSONValue.parse($0) }
    }

    // MARK: twilio.sms

    @Test func sendsTheFormWithBasicAuthAndLogsTheMessage() async throws {
        let fake = try await FakeTwilio()
        let clock = ManualClock()
        let s = try await Self.start(fake, clock: clock)
        let r = try await s.client.request(
            "POST",
            "/sms",
            headers: ["X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"],
            json: ["to": "+15551230000", "body": "Hello & welcome+1 ✓"]
        )
        #expect(r.status == 201)
        let sid = "SM" + String(repeating: "0", count: 31) + "1"
        #expect(r.json == ["sid": .string(sid), "status": "queued"])
        let call = try #require(fake.calls.first)
        #expect(fake.calls.count == 1)
        #expect(call.method == "POST")
        #expect(call.path == "/2010-04-01/Accounts/AC123/Messages.json")
        #expect(call.headers["authorization"] == "Basic " + Data("AC123:12345".utf8).base64EncodedString())
        #expect(call.headers["content-type"] == "application/x-www-form-urlencoded")
        #expect(
            call.text == "To=%2B15551230000&From=%2B15557654321&Body=Hello%20%26%20welcome%2B1%20%E2%9C%93"
                + "&StatusCallback=https%3A%2F%2Fapi.example.com%2Ftwilio%2Fstatus"
        )
        let record = try #require(try await Self.record(s, "sms:\(sid)"))
        #expect(record["sid"] == .string(sid))
        #expect(record["to"] == "+15551230000")
        #expect(record["from"] == "+15557654321")
        #expect(record["body"] == "Hello & welcome+1 ✓")
        #expect(record["status"] == "queued")
        #expect(record["sent_at"] == .string(ISO8601Millis.format(Date(timeIntervalSince1970: clock.now()))))
        try await s.stopAndClean()
        try await fake.provider.stop()
    }

    @Test func badNumbersAndBodiesAreRefusedWithoutCallingTwilio() async throws {
        let fake = try await FakeTwilio()
        let s = try await Self.start(fake)
        let bad: [JSONValue] = [
            ["to": "15551230000", "body": "x"], ["to": "+0155512300", "body": "x"], ["to": "+1", "body": "x"],
            ["to": "+1555123000012345", "body": "x"], ["to": "+1 555 123 0000", "body": "x"], ["to": 15_551_230_000, "body": "x"],
            ["body": "x"], ["to": "+15551230000"], ["to": "+15551230000", "body": ""],
            ["to": "+15551230000", "body": .string(String(repeating: "a", count: 1601))],
            ["to": "+15551230000", "body": .string(String(repeating: "😀", count: 801))],  // 1602 UTF-16 units
        ]
        for body in bad {
            let r = try await s.client.request("POST", "/sms", json: body)
            #expect(r.status == 400, "\(body)")
            #expect(r.json["error"]?.stringValue?.isEmpty == false)
        }
        #expect(try await s.client.request("POST", "/sms", body: Data("nope".utf8)).status == 400)
        #expect(fake.calls.isEmpty)
        let longest = try await s.client.request("POST", "/sms", json: ["to": "+447700900123", "body": .string(String(repeating: "a", count: 1600))])
        #expect(longest.status == 201)
        #expect(fake.calls.count == 1)
        try await s.stopAndClean()
        try await fake.provider.stop()
    }

    @Test func twentyConcurrentRequestsGetExactlyFivePast() async throws {
        let fake = try await FakeTwilio()
        let clock = ManualClock()
        let s = try await Self.start(fake, clock: clock)
        let statuses = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for i in 0..<20 {
                group.addTask {
                    let r = try await s.client.request("POST", "/sms", json: ["to": "+15551230000", "body": .string("message \(i)")])
                    return (r.status, r.headers["Retry-After"])
                }
            }
            var out: [(Int, String?)] = []
            for try await result in group { out.append(result) }
            return out
        }
        #expect(statuses.filter { $0.0 == 201 }.count == 5)
        #expect(statuses.filter { $0.0 == 429 }.count == 15)
        #expect(statuses.filter { $0.0 == 429 }.allSatisfy { $0.1 == "3600" })
        #expect(fake.calls.count == 5)
        // Another number has its own window; the first number's window ends an hour after its first message.
        #expect(try await s.client.request("POST", "/sms", json: ["to": "+15559870000", "body": "hi"]).status == 201)
        clock.advance(by: 1800)
        let later = try await s.client.request("POST", "/sms", json: ["to": "+15551230000", "body": "still limited"])
        #expect(later.status == 429)
        #expect(later.headers["Retry-After"] == "1800")
        #expect(later.json["error"]?.stringValue == "at most 5 messages per hour to +15551230000")
        clock.advance(by: 1800)
        #expect(try await s.client.request("POST", "/sms", json: ["to": "+15551230000", "body": "new hour"]).status == 201)
        try await s.stopAndClean()
        try await fake.provider.stop()
    }

    @Test func twilioErrorsBecome400Or502WithTheirMessage() async throws {
        let fake = try await FakeTwilio()
        let s = try await Self.start(fake)
        fake.fail { _ in
            .json(
                [
                    "code": 21211, "message": "The 'To' number +15005550001 is not a valid phone number.",
                    "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400,
                ],
                status: 400
            )
        }
        let refused = try await s.client.request("POST", "/sms", json: ["to": "+15005550001", "body": "x"])
        #expect(refused.status == 400)
        #expect(refused.json["error"] == "The 'To' number +15005550001 is not a valid phone number. (Twilio error 21211)")
        // A refused message does not use up the number's quota.
        #expect(try await s.server.kvStores["KV"]!.getText("sms-rate:+15005550001") == "0")

        fake.fail { _ in .json(["code": 20003, "message": "Authenticate", "status": 401], status: 401) }
        let unauthorized = try await s.client.request("POST", "/sms", json: ["to": "+15551230000", "body": "x"])
        #expect(unauthorized.status == 502)
        #expect(unauthorized.json["error"] == "Authenticate (Twilio error 20003)")

        fake.fail { _ in FakeProvider.Reply(status: 503, body: Data("<html>down</html>".utf8)) }
        let down = try await s.client.request("POST", "/sms", json: ["to": "+15551230000", "body": "x"])
        #expect(down.status == 502)
        #expect(down.json["error"] == "Twilio answered 503")

        fake.fail { _ in
            FakeProvider.Reply(
                status: 429,
                headers: ["Retry-After": "7", "Content-Type": "application/json"],
                body: Data(#"{"code":20429,"message":"Too Many Requests","status":429}"#.utf8)
            )
        }
        let busy = try await s.client.request("POST", "/sms", json: ["to": "+15551230000", "body": "x"])
        #expect(busy.status == 429)
        #expect(busy.headers["Retry-After"] == "7")
        #expect(fake.calls.count == 4)  // never retried: a POST without an idempotency key
        try await s.stopAndClean()
        try await fake.provider.stop()
    }

    // MARK: twilio.status

    struct Fixture: Decodable {
        let description: String
        let path: String
        let query: String
        let headers: [String: String]
        let params: [[String]]
        let body: String
        let expect: Int
    }

    static func fixtures() throws -> (token: String, cases: [Fixture]) {
        struct File: Decodable {
            let token: String
            let cases: [Fixture]
        }
        let url = try #require(Bundle.module.url(forResource: "twilio-status-fixtures", withExtension: "json", subdirectory: "Fixtures"))
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
        return (file.token, file.cases)
    }

    @Test func statusCallbacksAreVerifiedAgainstPythonComputedSignatures() async throws {
        let (token, cases) = try Self.fixtures()
        #expect(token == Self.token)
        #expect(cases.count >= 14)
        let fake = try await FakeTwilio()
        let clock = ManualClock()
        let s = try await Self.start(fake, clock: clock)
        for c in cases {
            var headers = c.headers
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            let path = c.query.isEmpty ? c.path : "\(c.path)?\(c.query)"
            let r = try await s.client.request("POST", path, headers: headers, body: Data(c.body.utf8))
            #expect(r.status == c.expect, "\(c.description): \(r.json)")
            let params = Dictionary(c.params.map { ($0[0], $0[1]) }, uniquingKeysWith: { a, _ in a })
            guard let sid = params["MessageSid"] else { continue }
            let record = try await Self.record(s, "sms:\(sid)")
            if c.expect == 200 {
                #expect(record?["status"] == params["MessageStatus"].map(JSONValue.string), "\(c.description)")
                #expect(record?["to"] == "+15551230000")
                #expect(record?["updated_at"] == .string(ISO8601Millis.format(Date(timeIntervalSince1970: clock.now()))))
                if let code = params["ErrorCode"] { #expect(record?["error_code"] == .string(code)) }
            } else {
                #expect(record == nil, "\(c.description): a refused callback must not write")
            }
        }
        try await s.stopAndClean()
        try await fake.provider.stop()
    }

    @Test func aCallbackUpdatesTheSentMessageAndNeverMovesItsStatusBack() async throws {
        let fake = try await FakeTwilio()
        let s = try await Self.start(fake)
        let sent = try await s.client.request("POST", "/sms", json: ["to": "+15551230000", "body": "hi"])
        let sid = try #require(sent.json["sid"]?.stringValue)
        func callback(_ status: String) async throws -> Int {
            let params = [("MessageSid", sid), ("MessageStatus", status), ("To", "+15551230000")]
            let url = "http://sms.example.com/twilio/status"
            let signature = TwilioSignature.sign(url: url, parameters: params.map { (name: $0.0, value: $0.1) }, authToken: Self.token)
            return try await s.client.request(
                "POST",
                "/twilio/status",
                headers: [
                    "Host": "sms.example.com", "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded",
                ],
                body: Data(FormEncoding.encode(params).utf8)
            ).status
        }
        #expect(try await callback("delivered") == 200)
        #expect(try await callback("sent") == 200)  // late and older: ignored
        let record = try #require(try await Self.record(s, "sms:\(sid)"))
        #expect(record["status"] == "delivered")
        #expect(record["body"] == "hi")
        #expect(record["sent_at"] != nil)
        try await s.stopAndClean()
        try await fake.provider.stop()
    }
}
