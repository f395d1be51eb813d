import EdgeCore
import EdgeRuntime
import EdgeTestSupport
import Foundation
import Functions
import Queues
import Testing

@Suite("stripe.events: every event type through the real consumer into KV; retries and DLQ")
struct StripeEventsTests {
    /// Waits until the payments queue has nothing waiting, delayed or in flight.
    static func drained(_ s: RunningServer) async -> Bool {
        await eventually {
            let st = try? await s.stats("payments")
            return st?["pending"] == 0 && st?["in_flight"] == 0 && st?["delayed"] == 0
        }
    }

    @Test func everyEventTypeLandsInKVAndTheFollowOnQueues() async throws {
        let f = try StripeFixtures.load()
        let s = try await RunningServer.start(manifest: StripeManifest.make(), secrets: StripeManifest.secrets(f), clock: ManualClock(f.t0))

        // customer.subscription.created → subscriptions:<id>
        #expect(try await s.deliver(f.delivery("customer.subscription.created")).status == 200)
        #expect(await eventually { (try? await s.kvHas("subscriptions:sub_Fixture1")) == true })
        var sub = try #require(try await s.kvJSON("subscriptions:sub_Fixture1"))
        #expect(sub["id"] == "sub_Fixture1" && sub["customer"] == "cus_Fixture1" && sub["status"] == "active")
        #expect(sub["current_period_end"] == "2027-02-14T08:00:00.000Z")  // 1802592000
        #expect(sub["price_id"] == "price_Pro")

        // .updated → upserted
        #expect(try await s.deliver(f.delivery("customer.subscription.updated")).status == 200)
        #expect(await eventually { (try? await s.kvJSON("subscriptions:sub_Fixture1"))?["status"] == "past_due" })
        sub = try #require(try await s.kvJSON("subscriptions:sub_Fixture1"))
        #expect(sub["current_period_end"] == "2027-03-17T08:00:00.000Z")  // 1805270400
        #expect(sub["price_id"] == "price_Team")
        #expect(sub["cancel_at_period_end"] == true)

        // payment_intent.succeeded → orders:<metadata.order_id> paid + fulfillment message
        #expect(try await s.deliver(f.delivery("payment_intent.succeeded")).status == 200)
        #expect(await eventually { (try? await s.kvJSON("orders:ord_1001"))?["status"] == "paid" })
        let order = try #require(try await s.kvJSON("orders:ord_1001"))
        #expect(order["paid_at"] == "2027-01-15T07:59:55.000Z")  // the event's created
        #expect(order["payment_intent_id"] == "pi_3Pfixture")
        let fulfillment = try await s.messages("fulfillment")
        #expect(fulfillment.map { $0["body"] } == [["order_id": "ord_1001", "customer": "cus_Fixture1", "payment_intent_id": "pi_3Pfixture"]])

        // invoice.payment_failed → invoices:<id> recorded + email in resend.send's shape
        #expect(try await s.deliver(f.delivery("invoice.payment_failed")).status == 200)
        #expect(await eventually { (try? await s.kvHas("invoices:in_Fixture1")) == true })
        let invoice = try #require(try await s.kvJSON("invoices:in_Fixture1"))
        #expect(invoice["status"] == "payment_failed" && invoice["customer"] == "cus_Fixture1" && invoice["amount_due"] == 4900, "\(invoice)")
        let emails = try await s.messages("emails")
        #expect(emails.count == 1)
        let email = try #require(emails.first?["body"])
        #expect(email["to"] == "jenny@example.com")
        #expect(email["subject"] == "Payment failed for invoice F1-0001")
        #expect(email["template"] == "payment_failed")
        #expect(email["data"]?["invoice_id"] == "in_Fixture1" && email["data"]?["amount_due"] == 4900)
        #expect(Set(email.objectValue!.keys) == ["to", "subject", "template", "data"])

        // checkout.session.completed → recorded
        #expect(try await s.deliver(f.delivery("checkout.session.completed")).status == 200)
        #expect(await eventually { (try? await s.kvHas("checkout_sessions:cs_test_Fixture1")) == true })
        let session = try #require(try await s.kvJSON("checkout_sessions:cs_test_Fixture1"))
        #expect(session["status"] == "completed" && session["order_id"] == "ord_1001" && session["payment_status"] == "paid")

        // customer.subscription.deleted → canceled
        #expect(try await s.deliver(f.delivery("customer.subscription.deleted")).status == 200)
        #expect(await eventually { (try? await s.kvJSON("subscriptions:sub_Fixture1"))?["status"] == "canceled" })
        sub = try #require(try await s.kvJSON("subscriptions:sub_Fixture1"))
        #expect(sub["canceled_at"] == "2027-01-15T07:59:50.000Z")

        // An unhandled type is acknowledged: nothing stays in the queue, nothing dead-lettered.
        #expect(try await s.deliver(f.delivery("charge.refunded")).status == 200)
        #expect(await Self.drained(s))
        #expect(try await s.messages("payments-dlq").isEmpty)
        try await s.stopAndClean()
    }

    @Test func anOlderSubscriptionEventNeverOverwritesANewerOne() async throws {
        let f = try StripeFixtures.load()
        let t = Int64(f.t0)
        let s = try await RunningServer.start(manifest: StripeManifest.make(), secrets: StripeManifest.secrets(f), clock: ManualClock(f.t0))
        #expect(try await s.deliver(f.delivery("customer.subscription.deleted")).status == 200)  // created t0-10
        #expect(await eventually { (try? await s.kvJSON("subscriptions:sub_Fixture1"))?["status"] == "canceled" })
        // Stripe does not order deliveries: an update from t0-30 arriving late is skipped.
        let late = signedEvent(
            id: "evt_sub_late",
            type: "customer.subscription.updated",
            object: ["id": "sub_Fixture1", "customer": "cus_Fixture1", "status": "active", "current_period_end": 1_805_270_400],
            created: t - 30,
            secret: f.secret,
            t: t
        )
        #expect(try await s.deliver(body: late.body, signature: late.signature).status == 200)
        #expect(await Self.drained(s))
        #expect(try await s.kvJSON("subscriptions:sub_Fixture1")?["status"] == "canceled")
        try await s.stopAndClean()
    }

    @Test func aRedeliveredPaymentEventSendsNoSecondFulfillment() async throws {
        let f = try StripeFixtures.load()
        let t = Int64(f.t0)
        let s = try await RunningServer.start(manifest: StripeManifest.make(), secrets: StripeManifest.secrets(f), clock: ManualClock(f.t0))
        let d = try f.delivery("payment_intent.succeeded")
        #expect(try await s.deliver(d).status == 200)
        #expect(await eventually { (try? await s.kvJSON("orders:ord_1001"))?["status"] == "paid" })
        // The same event reaching the queue again (a redrive, a redelivery after a crash).
        let again = try await s.client.request(
            "POST",
            "/q/payments/messages",
            headers: StripeManifest.auth,
            json: ["body": try JSONValue.parse(d.body)]
        )
        #expect(again.status == 202)
        #expect(await Self.drained(s))
        #expect(try await s.messages("fulfillment").count == 1)
        // A payment without metadata.order_id is acknowledged with nothing to mark.
        let noOrder = signedEvent(
            id: "evt_no_order",
            type: "payment_intent.succeeded",
            object: ["id": "pi_x", "metadata": [:]],
            created: t,
            secret: f.secret,
            t: t
        )
        #expect(try await s.deliver(body: noOrder.body, signature: noOrder.signature).status == 200)
        #expect(await Self.drained(s))
        #expect(try await s.messages("payments-dlq").isEmpty)
        try await s.stopAndClean()
    }

    @Test func aFailingMessageIsRetriedAfter2ToTheAttemptsTimes60SecondsThenDeadLettered() async throws {
        let f = try StripeFixtures.load()
        let t0 = f.t0
        let clock = ManualClock(t0)
        let s = try await RunningServer.start(manifest: StripeManifest.make(maxRetries: 2), secrets: StripeManifest.secrets(f), clock: clock)
        // A stored order that is not JSON: applying the payment fails until someone repairs it.
        try await s.kvPut("orders:ord_broken", "not json")
        let e = signedEvent(
            id: "evt_broken",
            type: "payment_intent.succeeded",
            object: ["id": "pi_broken", "customer": "cus_1", "metadata": ["order_id": "ord_broken"]],
            created: Int64(t0),
            secret: f.secret,
            t: Int64(t0)
        )
        #expect(try await s.deliver(body: e.body, signature: e.signature).status == 200)

        // Attempt 1 fails → retry in 2^1 × 60 = 120 s: the consumer sleeps until exactly then.
        #expect(await eventually { (try? await s.messages("payments").first?["attempts"]) == 1 && clock.sleepingUntil.contains(t0 + 120) })
        #expect(try await s.messages("payments").first?["last_error"]?.stringValue?.isEmpty == false)
        clock.advance(by: 119)
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await s.messages("payments").first?["attempts"] == 1)
        clock.advance(by: 1)
        // Attempt 2 fails → retry in 2^2 × 60 = 240 s.
        #expect(await eventually { (try? await s.messages("payments").first?["attempts"]) == 2 && clock.sleepingUntil.contains(t0 + 360) })
        clock.advance(by: 239)
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await s.messages("payments").first?["attempts"] == 2)
        clock.advance(by: 1)
        // Attempt 3 is the last (1 + max_retries): dead-lettered with its attempts.
        #expect(await eventually { (try? await s.messages("payments-dlq").count) == 1 })
        let dead = try #require(try await s.messages("payments-dlq").first)
        #expect(dead["attempts"] == 3)
        #expect(dead["body"]?["id"] == "evt_broken")
        #expect(try await s.messages("payments").isEmpty)
        #expect(try await s.messages("fulfillment").isEmpty)
        try await s.stopAndClean()
    }

    @Test func aMessageThatIsNotAStripeEventIsDeadLetteredAtOnce() async throws {
        let f = try StripeFixtures.load()
        let s = try await RunningServer.start(manifest: StripeManifest.make(), secrets: StripeManifest.secrets(f), clock: ManualClock(f.t0))
        let r = try await s.client.request("POST", "/q/payments/messages", headers: StripeManifest.auth, json: ["body": ["hello": "world"]])
        #expect(r.status == 202)
        #expect(await eventually { (try? await s.messages("payments-dlq").count) == 1 })
        #expect(try await s.messages("payments-dlq").first?["attempts"] == 1)
        try await s.stopAndClean()
    }

    @Test func retryDelayDoubles() {
        #expect((1...4).map(StripeEventsFunction.retryDelay(afterAttempt:)) == [120, 240, 480, 960])
    }
}
