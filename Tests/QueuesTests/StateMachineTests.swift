import KVStore
import Testing

@testable import Queues

@Suite("Consumer state machine and settlement (no I/O)")
struct StateMachineTests {
    let settings = ConsumerStateMachine.Settings(ConsumerConfig(maxBatchSize: 10, maxBatchTimeout: 5, maxConcurrency: 2))
    let id = MessageIDGenerator()

    @Test("full batch, partial batch before and at its timeout, nothing available")
    func plans() {
        let m = ConsumerStateMachine(settings: settings)
        #expect(m.plan(availableCount: 10, firstAvailableDueMillis: 0, nextDueMillis: nil, nowMillis: 0) == .deliver(count: 10))
        #expect(m.plan(availableCount: 3, firstAvailableDueMillis: 1000, nextDueMillis: nil, nowMillis: 5999) == .sleep(untilMillis: 6000))
        #expect(m.plan(availableCount: 3, firstAvailableDueMillis: 1000, nextDueMillis: 2000, nowMillis: 1500) == .sleep(untilMillis: 2000))
        #expect(m.plan(availableCount: 3, firstAvailableDueMillis: 1000, nextDueMillis: nil, nowMillis: 6000) == .deliver(count: 3))
        #expect(m.plan(availableCount: 0, firstAvailableDueMillis: nil, nextDueMillis: 9000, nowMillis: 6000) == .sleep(untilMillis: 9000))
        #expect(m.plan(availableCount: 0, firstAvailableDueMillis: nil, nextDueMillis: nil, nowMillis: 6000) == .sleep(untilMillis: nil))
    }

    @Test("capacity follows running handlers; in-flight ids until settled; stop")
    func capacity() {
        var m = ConsumerStateMachine(settings: settings)
        let a = [id.next(millis: 1)]
        let b = [id.next(millis: 1)]
        m.batchStarted(a)
        m.batchStarted(b)
        #expect(m.plan(availableCount: 10, firstAvailableDueMillis: 0, nextDueMillis: nil, nowMillis: 0) == .waitForCapacity)
        m.handlerFinished()
        #expect(m.hasCapacity)
        #expect(m.inFlight == Set(a + b))
        m.batchSettled(a)
        #expect(m.inFlight == Set(b))
        m.stop()
        #expect(m.plan(availableCount: 10, firstAvailableDueMillis: 0, nextDueMillis: nil, nowMillis: 0) == .stop)
    }

    @Test("settlement: return acks, throw retries, explicit calls win, the last allowed delivery dead-letters")
    func settlement() {
        let c = ConsumerConfig(maxRetries: 2, retryDelay: 30)
        func d(_ decision: MessageDecision?, _ error: String?, _ attempts: Int) -> Disposition {
            Settlement.disposition(decision: decision, handlerError: error, attempts: attempts, config: c, nowMillis: 1000)
        }
        #expect(d(nil, nil, 1) == .ack)
        #expect(d(nil, "e", 1) == .retry(dueMillis: 31_000, lastError: "e"))
        #expect(d(.ack, "e", 1) == .ack)
        #expect(d(.retry(delaySeconds: 5, reason: nil), nil, 1) == .retry(dueMillis: 6000, lastError: "retry requested by the consumer"))
        #expect(d(.retry(delaySeconds: nil, reason: nil), "e", 2) == .retry(dueMillis: 31_000, lastError: "e"))
        #expect(d(nil, "e", 3) == .deadLetter(lastError: "e"))
        #expect(d(.retry(delaySeconds: 1, reason: nil), nil, 3) == .deadLetter(lastError: "retry requested by the consumer"))
        #expect(d(.deadLetter(reason: "bad"), nil, 1) == .deadLetter(lastError: "bad"))
        // A reason given with the retry is the last error, ahead of what the handler threw.
        #expect(
            d(.retry(delaySeconds: nil, reason: "receiver answered 503"), "e", 1) == .retry(dueMillis: 31_000, lastError: "receiver answered 503")
        )
        #expect(d(.retry(delaySeconds: nil, reason: "receiver answered 503"), nil, 3) == .deadLetter(lastError: "receiver answered 503"))
    }

    @Test("ids are 32 hex digits, parse back, and increase within a millisecond")
    func ids() {
        let a = id.next(millis: 1_800_000_000_000)
        let b = id.next(millis: 1_800_000_000_000)
        let c = id.next(millis: 1_799_999_999_999)
        #expect(a < b && b < c)
        #expect(a.description < b.description && b.description < c.description)
        #expect(MessageID(a.description) == a)
        #expect(a.milliseconds == 1_800_000_000_000)
    }

    @Test("each id has random bits of its own, across the refills of the random buffer")
    func idsHaveRandomLowWords() {
        let generator = MessageIDGenerator()
        let ids = (0..<1000).map { _ in generator.next(millis: 1_800_000_000_000) }
        #expect(Set(ids.map(\.low)).count == ids.count)
        // 64 random bits each: about half of them set, not a counter or a constant.
        let ones = ids.reduce(0) { $0 + $1.low.nonzeroBitCount }
        #expect((28_000...36_000).contains(ones))
        // Another generator draws other words.
        let other = MessageIDGenerator()
        #expect(Set((0..<1000).map { _ in other.next(millis: 1_800_000_000_000).low }).isDisjoint(with: ids.map(\.low)))
    }
}
