import EdgeCore
import EdgeRuntime
import EdgeTestSupport
import Foundation
import KVStore
import Queues
import Synchronization
import Testing

@testable import Functions

/// A fake Resend: answers `POST /emails/batch` with one id per email (`em_1`, `em_2`, …)
/// unless the failure rule set with ``fail(_:)`` gives another answer.
final class FakeResend: Sendable {
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
            let emails = recorded.json.arrayValue ?? []
            let data = emails.map { _ in
                state.nextID.withLock { n -> JSONValue in
                    n += 1
                    return ["id": .string("em_\(n)")]
                }
            }
            return .json(["data": .array(data)])
        }
    }

    /// Makes the fake answer with the rule's reply whenever it gives one (nil: accept everything).
    func fail(_ rule: Rule?) { state.rule.withLock { $0 = rule } }

    /// Every call so far.
    var calls: [FakeProvider.Recorded] { provider.requests }
}

@Suite("Resend: resend.send, resend.batch, resend.webhook")
struct ResendTests {
    static let from = "Shop <noreply@example.com>"
    static let auth = ["Authorization": "Bearer admin"]
    static let webhookSecret = "whsec_" + Data("resend-webhook-fixture-key".utf8).base64EncodedString()
    static let secrets = ["RESEND_API_KEY": "re_test_key", "RESEND_WEBHOOK_SECRET": webhookSecret, "ADMIN_TOKEN": "admin"]
    static let templates: JSONValue = ["note": "<p>{{text}}</p>{{#items}}<i>{{.}}</i>{{/items}}"]

    static func manifest(api: String, batchSize: Int = 1, batchTimeout: Int = 60, retryDelay: Int? = nil, dir: Bool = true) -> JSONValue {
        var batchConfig: [String: JSONValue] = ["templates": templates]
        if dir { batchConfig["templates_dir"] = "templates" }
        if let retryDelay { batchConfig["retry_delay"] = .integer(Int64(retryDelay)) }
        var sendConfig: [String: JSONValue] = ["queue": "emails", "templates": templates]
        if dir { sendConfig["templates_dir"] = "templates" }
        return [
            "vars": ["RESEND_API_BASE": .string(api), "FROM_EMAIL": .string(from)],
            "secrets": ["RESEND_API_KEY", "RESEND_WEBHOOK_SECRET", "ADMIN_TOKEN"],
            "kv_namespaces": [["binding": "KV"]],
            "queues": [
                [
                    "name": "emails",
                    "consumer": [
                        "function": "email-batch", "max_batch_size": .integer(Int64(batchSize)),
                        "max_batch_timeout": .integer(Int64(batchTimeout)), "max_retries": 2,
                        "dead_letter_queue": "emails-dlq",
                    ],
                ],
                ["name": "emails-dlq"],
            ],
            "functions": [
                ["name": "send", "handler": "resend.send", "routes": ["POST /emails"], "config": .object(sendConfig)],
                ["name": "email-batch", "handler": "resend.batch", "config": .object(batchConfig)],
                ["name": "resend-events", "handler": "resend.webhook", "routes": ["POST /webhooks/resend"]],
                [
                    "name": "admin", "handler": "queues.api", "routes": ["GET /q", "GET /q/*", "POST /q/*"],
                    "config": ["token_secret": "ADMIN_TOKEN"],
                ],
            ],
        ]
    }

    /// A data folder holding `templates/receipt.mustache`.
    static func dataWithTemplates() -> TemporaryFolder {
        let data = TemporaryFolder("resend")
        try? FileManager.default.createDirectory(atPath: data.path + "/templates", withIntermediateDirectories: true)
        FileManager.default.createFile(
            atPath: data.path + "/templates/receipt.mustache",
            contents: Data("<h1>Receipt {{order}}</h1><a href=\"{{url}}\">view</a>".utf8)
        )
        return data
    }

    static func start(
        _ fake: FakeResend,
        clock: ManualClock,
        batchSize: Int = 1,
        batchTimeout: Int = 60,
        retryDelay: Int? = nil
    ) async throws -> RunningServer {
        try await RunningServer.start(
            manifest: manifest(api: fake.provider.url(), batchSize: batchSize, batchTimeout: batchTimeout, retryDelay: retryDelay),
            secrets: secrets,
            clock: clock,
            data: dataWithTemplates()
        )
    }

    static func email(_ template: String, to: JSONValue = "ann@example.com", data: JSONValue = [:], tags: JSONValue? = nil) -> JSONValue {
        var body: [String: JSONValue] = ["to": to, "subject": "Hello", "template": .string(template), "data": data]
        if let tags { body["tags"] = tags }
        return .object(body)
    }

    static func record(_ s: RunningServer, _ id: String) async throws -> JSONValue? {
        try await s.server.kvStores["KV"]!.get("email:\(id)").flatMap { try JSONValue.parse($0) }
    }

    static func deadLetters(_ s: RunningServer) async throws -> [JSONValue] {
        try await s.client.get("/q/emails-dlq/messages", headers: auth).json["messages"]?.arrayValue ?? []
    }

    // MARK: resend.send

    @Test func sendValidatesAndEnqueues() async throws {
        let fake = try await FakeResend()
        let clock = ManualClock()
        let s = try await Self.start(fake, clock: clock, batchSize: 100)
        let bad: [(JSONValue, String)] = [
            (Self.email("welcome", to: "not-an-email"), "not a valid email address"),
            (Self.email("welcome", to: "ann@localhost"), "not a valid email address"),
            (Self.email("welcome", to: "Ann <ann@exa mple.com>"), "not a valid email address"),
            (Self.email("welcome", to: .array([])), "1 to 50"),
            (Self.email("welcome", to: .array(Array(repeating: "a@example.com", count: 51))), "1 to 50"),
            (Self.email("nope"), "unknown template \"nope\""),
            (Self.email("welcome", data: "x"), "data must be an object"),
            (Self.email("welcome", tags: [["name": "bad tag!", "value": "x"]]), "tag \"bad tag!\""),
            (["to": "ann@example.com", "template": "welcome"], "subject is required"),
            (["to": "ann@example.com", "subject": "a\r\nBcc: x@example.com", "template": "welcome"], "one line"),
        ]
        for (body, message) in bad {
            let r = try await s.client.request("POST", "/emails", json: body)
            #expect(r.status == 400, "\(body)")
            #expect(r.json["error"]?.stringValue?.contains(message) == true, "\(r.json)")
        }
        let notJSON = try await s.client.request("POST", "/emails", body: Data("{".utf8))
        #expect(notJSON.status == 400)

        let ok = try await s.client.request(
            "POST",
            "/emails",
            json: Self.email(
                "receipt",
                to: ["Ann Example <ann@example.com>", "bob+tag@mail.example.co.uk"],
                data: ["order": 42],
                tags: ["category": "receipt"]
            )
        )
        #expect(ok.status == 202)
        let id = try #require(ok.json["id"]?.stringValue)
        let queued = try await s.client.get("/q/emails/messages", headers: Self.auth).json["messages"]?.arrayValue ?? []
        #expect(queued.count == 1)
        #expect(queued.first?["id"]?.stringValue == id)
        // The message is the normalised request: `to` a list, tags as [{name, value}].
        #expect(
            queued.first?["body"] == [
                "to": ["Ann Example <ann@example.com>", "bob+tag@mail.example.co.uk"], "subject": "Hello", "template": "receipt",
                "data": ["order": 42], "tags": [["name": "category", "value": "receipt"]],
            ]
        )
        #expect(fake.calls.isEmpty)
        try await s.stopAndClean()
        try await fake.provider.stop()
    }

    // MARK: resend.batch

    @Test func batchRendersGroupsByTemplateAndRecordsSentIDs() async throws {
        let fake = try await FakeResend()
        let clock = ManualClock()
        let s = try await Self.start(fake, clock: clock, batchSize: 4)
        let bodies: [JSONValue] = [
            Self.email(
                "welcome",
                to: "ann@example.com",
                data: ["name": "<script>alert(1)</script> & \"Co\""],
                tags: [["name": "kind", "value": "onboarding"]]
            ),
            Self.email("receipt", to: "bob@example.com", data: ["order": "A-1", "url": "https://x.example/?a=1&b=\"2\""]),
            Self.email("welcome", to: "cy@example.com", data: ["name": "Cy"]),
            Self.email("note", to: "di@example.com", data: ["text": "5 > 3", "items": ["a<b", 2, 2.5, true]]),
        ]
        var ids: [String] = []
        for body in bodies {
            let r = try await s.client.request("POST", "/emails", json: body)
            #expect(r.status == 202)
            ids.append(r.json["id"]?.stringValue ?? "")
        }
        try #require(await eventually { fake.calls.count == 3 })
        let calls = fake.calls
        // One call per template, in order of first appearance; the two welcomes share a call.
        for call in calls {
            #expect(call.method == "POST")
            #expect(call.path == "/emails/batch")
            #expect(call.headers["authorization"] == "Bearer re_test_key")
            #expect(call.headers["content-type"] == "application/json")
            #expect(call.headers["idempotency-key"]?.hasPrefix("edge-run-") == true)
            #expect(call.headers["idempotency-key"]?.count == 41)
        }
        #expect(Set(calls.compactMap { $0.headers["idempotency-key"] }).count == 3)
        let welcome = try #require(calls[0].json.arrayValue)
        #expect(welcome.count == 2)
        #expect(welcome[0]["from"] == .string(Self.from))
        #expect(welcome[0]["to"] == ["ann@example.com"])
        #expect(welcome[0]["subject"] == "Hello")
        #expect(welcome[0]["tags"] == [["name": "kind", "value": "onboarding"]])
        let html = try #require(welcome[0]["html"]?.stringValue)
        #expect(html.contains("<h1>Welcome, &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;!</h1>"))
        #expect(!html.contains("<script>"))
        #expect(welcome[1]["to"] == ["cy@example.com"])
        #expect(welcome[1]["html"]?.stringValue?.contains("<h1>Welcome, Cy!</h1>") == true)
        #expect(welcome[1]["tags"] == nil)
        // templates_dir and config templates, rendered exactly.
        #expect(
            calls[1].json == [
                [
                    "from": .string(Self.from), "to": ["bob@example.com"], "subject": "Hello",
                    "html": "<h1>Receipt A-1</h1><a href=\"https://x.example/?a=1&amp;b=&quot;2&quot;\">view</a>",
                ]
            ]
        )
        #expect(
            calls[2].json == [
                [
                    "from": .string(Self.from), "to": ["di@example.com"], "subject": "Hello",
                    "html": "<p>5 &gt; 3</p><i>a&lt;b</i><i>2</i><i>2.5</i><i>true</i>",
                ]
            ]
        )
        // Every sent email is logged under Resend's id (em_1, em_2 welcome; em_3 receipt; em_4 note).
        #expect(await eventually { (try? await Self.record(s, "em_4")) != nil })
        let record = try #require(try await Self.record(s, "em_1"))
        #expect(record["id"] == "em_1")
        #expect(record["to"] == ["ann@example.com"])
        #expect(record["subject"] == "Hello")
        #expect(record["template"] == "welcome")
        #expect(record["status"] == "sent")
        #expect(record["sent_at"] == .string(ISO8601Millis.format(Date(timeIntervalSince1970: clock.now()))))
        #expect(record["updated_at"] == record["sent_at"])
        #expect(record["message_id"] == .string(ids[0]))
        #expect(try await Self.record(s, "em_3")?["template"] == "receipt")
        #expect(
            await eventually {
                (try? await s.client.get("/q", headers: Self.auth).json.arrayValue?.first { $0["name"] == "emails" }?["in_flight"]) == 0
            }
        )
        #expect(try await Self.deadLetters(s).isEmpty)
        try await s.stopAndClean()
        try await fake.provider.stop()
    }

    @Test func atMostOneHundredEmailsPerCall() async throws {
        let fake = try await FakeResend()
        let clock = ManualClock()
        let s = try await Self.start(fake, clock: clock, batchSize: 100, batchTimeout: 5)
        for round in 0..<2 {
            let messages = (0..<75).map { i in
                JSONValue.object(["body": Self.email("welcome", to: .string("u\(round)-\(i)@example.com"), data: ["name": "U"])])
            }
            let r = try await s.client.request("POST", "/q/emails/messages/batch", headers: Self.auth, json: ["messages": .array(messages)])
            #expect(r.status == 202)
        }
        try #require(await eventually { fake.calls.count == 1 })
        #expect(fake.calls[0].json.arrayValue?.count == 100)
        clock.advance(by: 5)  // the remaining 50 wait for the batch timeout
        try #require(await eventually { fake.calls.count == 2 })
        #expect(fake.calls[1].json.arrayValue?.count == 50)
        #expect(await eventually { (try? await Self.record(s, "em_150")) != nil })
        try await s.stopAndClean()
        try await fake.provider.stop()
    }

    @Test func planSplitsGroupsAtTheCap() {
        let items = (0..<250).map { ("a", $0) } + [("b", 250)] + (251..<260).map { ("a", $0) }
        let calls = ResendBatchPlan.calls(items, groupedBy: \.0)
        #expect(calls.map(\.count) == [100, 100, 59, 1])
        #expect(calls[0].first?.1 == 0 && calls[2].last?.1 == 259 && calls[3].first?.0 == "b")
        #expect(ResendBatchPlan.calls([Int](), groupedBy: { _ in "x" }).isEmpty)
        // The key does not depend on the order of the messages.
        #expect(ResendBatchPlan.idempotencyKey(messageIDs: ["b", "a"]) == ResendBatchPlan.idempotencyKey(messageIDs: ["a", "b"]))
        #expect(ResendBatchPlan.idempotencyKey(messageIDs: ["a"]) != ResendBatchPlan.idempotencyKey(messageIDs: ["a", "b"]))
    }

    @Test func outcomesOfResendAnswers() {
        func outcome(_ status: Int, _ headers: FetchHeaders = [:], _ body: String = "") -> ResendBatchPlan.Outcome {
            ResendBatchPlan.outcome(of: FetchResponse(status: status, headers: headers, body: Array(body.utf8)), retryDelay: 300, now: 1_800_000_000)
        }
        #expect(outcome(200, [:], #"{"data":[{"id":"a"},{"id":"b"}]}"#) == .sent(ids: ["a", "b"]))
        #expect(outcome(503, [:], #"{"message":"down"}"#) == .retry(delaySeconds: 300, reason: "Resend answered 503: down", rateLimited: false))
        #expect(outcome(401) == .retry(delaySeconds: 300, reason: "Resend answered 401: ", rateLimited: false))
        #expect(outcome(429, ["Retry-After": "42"]) == .retry(delaySeconds: 42, reason: "Resend rate limit (429): ", rateLimited: true))
        #expect(outcome(429) == .retry(delaySeconds: 300, reason: "Resend rate limit (429): ", rateLimited: true))
        #expect(
            outcome(429, ["Retry-After": "Fri, 15 Jan 2027 08:00:30 GMT"])
                == .retry(delaySeconds: 30, reason: "Resend rate limit (429): ", rateLimited: true)
        )
        #expect(
            outcome(422, [:], #"{"statusCode":422,"name":"validation_error","message":"Invalid `to` field."}"#)
                == .deadLetter(reason: "Resend refused the batch (422): Invalid `to` field.")
        )
        #expect(outcome(400) == .deadLetter(reason: "Resend refused the batch (400): "))
    }

    @Test func aFailedCallIsRetriedAfterTheConfiguredDelayWithTheSameIdempotencyKey() async throws {
        let fake = try await FakeResend()
        fake.fail { _ in .json(["statusCode": 503, "message": "unavailable"], status: 503) }
        let clock = ManualClock()
        let start = clock.now()
        let s = try await Self.start(fake, clock: clock, retryDelay: 120)
        #expect(try await s.client.request("POST", "/emails", json: Self.email("welcome")).status == 202)
        // fetch retries a keyed call itself (3 attempts), then the message waits 120 s.
        #expect(await eventually { fake.calls.count == 3 })
        #expect(await eventually { clock.sleepingUntil.contains(start + 120) })
        #expect(try await Self.record(s, "em_1") == nil)
        // The retry carries what failed.
        let waiting = try await s.client.get("/q/emails/messages", headers: Self.auth).json["messages"]?.arrayValue?.first
        #expect(waiting?["last_error"] == "Resend answered 503: unavailable")
        fake.fail(nil)
        clock.advance(by: 120)
        #expect(await eventually { fake.calls.count == 4 })
        #expect(Set(fake.calls.map(\.body)).count == 1)
        #expect(Set(fake.calls.compactMap { $0.headers["idempotency-key"] }).count == 1)
        #expect(await eventually { (try? await Self.record(s, "em_1"))?["status"] == "sent" })
        #expect(try await Self.deadLetters(s).isEmpty)
        try await s.stopAndClean()
        try await fake.provider.stop()
    }

    @Test func aRateLimitedCallWaitsForRetryAfterAndHoldsBackTheOtherGroups() async throws {
        let fake = try await FakeResend()
        fake.fail { _ in
            FakeProvider.Reply(
                status: 429,
                headers: ["Retry-After": "90", "Content-Type": "application/json"],
                body: Data(#"{"message":"Too many requests"}"#.utf8)
            )
        }
        let clock = ManualClock()
        let start = clock.now()
        let s = try await Self.start(fake, clock: clock, batchSize: 2)
        _ = try await s.client.request("POST", "/emails", json: Self.email("welcome"))
        _ = try await s.client.request("POST", "/emails", json: Self.email("receipt", data: ["order": 1]))
        #expect(await eventually { clock.sleepingUntil.contains(start + 90) })
        #expect(fake.calls.count == 1)  // the receipt group was not tried while rate-limited
        fake.fail(nil)
        clock.advance(by: 90)
        #expect(await eventually { fake.calls.count == 3 })
        #expect(await eventually { (try? await Self.record(s, "em_2")) != nil })
        try await s.stopAndClean()
        try await fake.provider.stop()
    }

    @Test func validationErrorsAndUnknownTemplatesAreDeadLetteredAtOnce() async throws {
        let fake = try await FakeResend()
        fake.fail { _ in .json(["statusCode": 422, "name": "validation_error", "message": "Invalid `to` field."], status: 422) }
        let clock = ManualClock()
        let start = clock.now()
        let s = try await Self.start(fake, clock: clock)
        _ = try await s.client.request("POST", "/emails", json: Self.email("welcome"))
        #expect(await eventually { (try? await Self.deadLetters(s).count) == 1 })
        var dead = try await Self.deadLetters(s)
        #expect(dead[0]["attempts"] == 1)
        #expect(dead[0]["last_error"]?.stringValue?.contains("Invalid `to` field.") == true)
        #expect(fake.calls.count == 1)
        // A message that bypassed resend.send with an unknown template never reaches Resend.
        let r = try await s.client.request(
            "POST",
            "/q/emails/messages",
            headers: Self.auth,
            json: ["body": Self.email("no-such-template")]
        )
        #expect(r.status == 202)
        #expect(await eventually { (try? await Self.deadLetters(s).count) == 2 })
        dead = try await Self.deadLetters(s)
        #expect(dead[1]["last_error"]?.stringValue?.contains("unknown template \"no-such-template\"") == true)
        #expect(dead[1]["attempts"] == 1)
        #expect(fake.calls.count == 1)
        #expect(!clock.sleepingUntil.contains { $0 >= start + 300 })
        try await s.stopAndClean()
        try await fake.provider.stop()
    }

    @Test func afterAPartialSuccessOnlyTheFailedGroupIsSentAgain() async throws {
        let fake = try await FakeResend()
        fake.fail { call in call.text.contains("Receipt") ? FakeProvider.Reply(status: 500) : nil }
        let clock = ManualClock()
        let start = clock.now()
        let s = try await Self.start(fake, clock: clock, batchSize: 2)
        _ = try await s.client.request("POST", "/emails", json: Self.email("welcome"))
        _ = try await s.client.request("POST", "/emails", json: Self.email("receipt", data: ["order": 7]))
        #expect(await eventually { clock.sleepingUntil.contains(start + 300) })
        let firstReceiptKey = fake.calls.last { $0.text.contains("Receipt") }?.headers["idempotency-key"]
        #expect(await eventually { (try? await Self.record(s, "em_1"))?["template"] == "welcome" })
        fake.fail(nil)
        clock.advance(by: 360)  // due after 300 s, then alone in its batch: the 60 s batch timeout
        #expect(await eventually { (try? await Self.record(s, "em_2"))?["template"] == "receipt" })
        #expect(fake.calls.filter { $0.text.contains("Welcome") }.count == 1)
        #expect(fake.calls.last?.headers["idempotency-key"] == firstReceiptKey)
        try await s.stopAndClean()
        try await fake.provider.stop()
    }

    @Test func batchConfigIsCheckedAtStartUp() throws {
        let registry = BuiltinFunctions.registry()
        func problems(_ batchConfig: JSONValue, vars: JSONValue = ["FROM_EMAIL": "a@example.com"]) -> [String] {
            let manifest: JSONValue = [
                "vars": vars, "secrets": ["RESEND_API_KEY"], "kv_namespaces": [["binding": "KV"]],
                "queues": [["name": "emails", "consumer": ["function": "b"]]],
                "functions": [["name": "b", "handler": "resend.batch", "config": batchConfig]],
            ]
            do {
                _ = try ManifestLoader(registry: registry).validate(
                    manifest,
                    file: "f.json",
                    baseDirectory: "/nonexistent",
                    environment: ["RESEND_API_KEY": "k"],
                    envFile: [:]
                )
                return []
            } catch let error as ManifestError { return error.lines } catch { return ["\(error)"] }
        }
        #expect(problems([:]).isEmpty)
        #expect(
            problems(["templates": ["x": "{{#open}}"]]).first?.contains("functions[0].config.templates: template \"x\" is not valid Mustache") == true
        )
        #expect(problems(["templates_dir": "missing"]).first?.contains("templates_dir: \"missing\" is not a directory") == true)
        #expect(problems(["retry_delay": -1]).first?.contains("retry_delay") == true)
        #expect(problems([:], vars: [:]).first?.contains("FROM_EMAIL") == true)
    }

    // MARK: resend.webhook

    static func signedEvent(
        _ s: RunningServer,
        _ event: JSONValue,
        at time: Int64,
        id: String = "msg_1",
        secret: String = webhookSecret
    ) async throws -> FetchResponse {
        let body = event.serialized()
        let signature = try StandardWebhookSignature.sign(payload: Array(body), id: id, timestamp: time, secret: secret)
        return try await s.client.request(
            "POST",
            "/webhooks/resend",
            headers: [
                "svix-id": id, "svix-timestamp": String(time), "svix-signature": signature, "Content-Type": "application/json",
            ],
            body: body
        )
    }

    static func event(_ type: String, _ emailID: String, at createdAt: String, extra: [String: JSONValue] = [:]) -> JSONValue {
        var data: [String: JSONValue] = [
            "email_id": .string(emailID), "to": ["ann@example.com"], "subject": "Hello",
            "from": .string(from), "created_at": "2026-11-23 18:00:00.000000+00",
        ]
        data.merge(extra) { $1 }
        return ["type": .string(type), "created_at": .string(createdAt), "data": .object(data)]
    }

    @Test func webhookEventsUpdateTheEmailRecord() async throws {
        let fake = try await FakeResend()
        let clock = ManualClock()
        let now = Int64(clock.now())
        let s = try await Self.start(fake, clock: clock)
        _ = try await s.client.request("POST", "/emails", json: Self.email("welcome"))
        #expect(await eventually { (try? await Self.record(s, "em_1"))?["status"] == "sent" })

        let delivered = try await Self.signedEvent(s, Self.event("email.delivered", "em_1", at: "2026-11-23T18:00:05.000Z"), at: now)
        #expect(delivered.status == 200)
        #expect(delivered.json == ["received": true])
        var record = try #require(try await Self.record(s, "em_1"))
        #expect(record["status"] == "delivered")
        #expect(record["template"] == "welcome")  // the batch's fields are kept
        #expect(record["status_at"] == "2026-11-23T18:00:05.000Z")
        #expect(record["updated_at"] == .string(ISO8601Millis.format(Date(timeIntervalSince1970: clock.now()))))

        // A late, older event does not move the status back; a newer bounce does.
        _ = try await Self.signedEvent(s, Self.event("email.sent", "em_1", at: "2026-11-23T18:00:01.000Z"), at: now, id: "msg_2")
        #expect(try await Self.record(s, "em_1")?["status"] == "delivered")
        let bounce: JSONValue = ["type": "Permanent", "message": "mailbox does not exist"]
        _ = try await Self.signedEvent(
            s,
            Self.event("email.bounced", "em_1", at: "2026-11-23T18:01:00.000Z", extra: ["bounce": bounce]),
            at: now,
            id: "msg_3"
        )
        record = try #require(try await Self.record(s, "em_1"))
        #expect(record["status"] == "bounced")
        #expect(record["bounce"] == bounce)

        // An event for an email this server did not log creates the record from the event.
        _ = try await Self.signedEvent(s, Self.event("email.complained", "em_other", at: "2026-11-23T18:02:00.000Z"), at: now, id: "msg_4")
        let other = try #require(try await Self.record(s, "em_other"))
        #expect(other["status"] == "complained")
        #expect(other["to"] == ["ann@example.com"])
        #expect(other["subject"] == "Hello")

        // Other events are acknowledged and not recorded.
        #expect(try await Self.signedEvent(s, ["type": "contact.created", "data": ["id": "c_1"]], at: now, id: "msg_5").status == 200)

        // Bad, stale and missing signatures: 400, nothing changes.
        let wrongSecret = "whsec_" + Data("another-key".utf8).base64EncodedString()
        let forged = try await Self.signedEvent(
            s,
            Self.event("email.delivered", "em_1", at: "2026-11-23T18:09:00.000Z"),
            at: now,
            secret: wrongSecret
        )
        #expect(forged.status == 400)
        let stale = try await Self.signedEvent(s, Self.event("email.delivered", "em_1", at: "2026-11-23T18:09:00.000Z"), at: now - 301)
        #expect(stale.status == 400)
        let unsigned = try await s.client.request(
            "POST",
            "/webhooks/resend",
            json: Self.event("email.delivered", "em_1", at: "2026-11-23T18:09:00.000Z")
        )
        #expect(unsigned.status == 400)
        #expect(try await Self.record(s, "em_1")?["status"] == "bounced")
        try await s.stopAndClean()
        try await fake.provider.stop()
    }
}
