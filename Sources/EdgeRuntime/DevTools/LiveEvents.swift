import Synchronization

/// The runtime's live event bus: the request pipeline, the queue consumers and the cron
/// scheduler publish; `GET /_edge/tail` (and the console) subscribe.
///
/// Publishing costs one relaxed atomic load while nobody listens: ``publish(_:)`` takes the
/// event as a closure and builds it only when there is a subscriber. It never waits for a
/// subscriber: each has a bounded buffer (``defaultBufferSize``); when it is full the oldest
/// event is dropped and counted, and the subscriber's next read is `{"type":"dropped","count":N}`.
///
/// ```swift
/// let subscription = live.subscribe(LiveEventFilter(function: "stripe-webhook"))
/// defer { subscription.cancel() }
/// while let event = await subscription.next() { … event.json … }
/// ```
public final class LiveEvents: Sendable {
    /// Events a subscriber may have waiting before the oldest are dropped.
    public static let defaultBufferSize = 1024

    private struct State {
        var subscribers: [UInt64: LiveSubscription] = [:]
        var nextID: UInt64 = 0
        var closed = false
    }

    private let state = Mutex(State())
    private let subscriberCount = Atomic<Int>(0)

    public init() {}

    /// Whether anyone listens (the cheap check before building an event).
    public var isObserved: Bool { subscriberCount.load(ordering: .relaxed) > 0 }

    /// Subscribers now.
    public var subscribers: Int { subscriberCount.load(ordering: .relaxed) }

    /// Hands the event `make` builds to every subscriber whose filter takes it; builds nothing
    /// when nobody listens. Never blocks on a subscriber.
    public func publish(_ make: () -> LiveEvent) {
        guard isObserved else { return }
        let event = make()
        state.withLock { s in
            for subscriber in s.subscribers.values where subscriber.filter.matches(event) { subscriber.offer(event) }
        }
    }

    /// A new subscription; one already finished (``LiveSubscription/next()`` returns `nil`)
    /// after ``close()``.
    /// - Parameters:
    ///   - filter: the events it wants.
    ///   - bufferSize: events kept for it before the oldest are dropped (at least 1).
    public func subscribe(_ filter: LiveEventFilter = LiveEventFilter(), bufferSize: Int = LiveEvents.defaultBufferSize) -> LiveSubscription {
        state.withLock { s in
            let subscription = LiveSubscription(id: s.nextID, filter: filter, capacity: max(1, bufferSize), bus: self)
            s.nextID += 1
            if s.closed {
                subscription.finish()
            } else {
                s.subscribers[subscription.id] = subscription
                subscriberCount.add(1, ordering: .relaxed)
            }
            return subscription
        }
    }

    /// Ends every subscription and refuses new ones (server shutdown: a tail must not hold it up).
    public func close() {
        let ended = state.withLock { s -> [LiveSubscription] in
            s.closed = true
            defer { s.subscribers = [:] }
            subscriberCount.store(0, ordering: .relaxed)
            return Array(s.subscribers.values)
        }
        for subscription in ended { subscription.finish() }
    }

    func remove(_ id: UInt64) {
        state.withLock { s in
            if s.subscribers.removeValue(forKey: id) != nil { subscriberCount.subtract(1, ordering: .relaxed) }
        }
    }
}

/// One subscriber of ``LiveEvents``: a bounded buffer read with ``next()``.
public final class LiveSubscription: Sendable {
    let id: UInt64
    let filter: LiveEventFilter
    private let capacity: Int
    /// Strong: the bus drops its reference when the subscription ends, so there is no lasting cycle.
    private let bus: LiveEvents

    private struct State {
        /// A ring of `capacity` slots.
        var ring: [LiveEvent?]
        var head = 0
        var count = 0
        /// Dropped since the subscriber last read.
        var dropped = 0
        var totalDropped = 0
        var heartbeatDue = false
        var finished = false
        var waiter: CheckedContinuation<LiveEvent?, Never>?
    }

    private let state: Mutex<State>

    init(id: UInt64, filter: LiveEventFilter, capacity: Int, bus: LiveEvents) {
        self.id = id
        self.filter = filter
        self.capacity = capacity
        self.bus = bus
        state = Mutex(State(ring: Array(repeating: nil, count: capacity)))
    }

    /// Events dropped for this subscriber since it subscribed.
    public var droppedCount: Int { state.withLock { $0.totalDropped } }

    /// The next event: `dropped` first when events were lost, a `heartbeat` after
    /// ``requestHeartbeat()`` when nothing else is waiting; `nil` once finished (cancelled, the
    /// bus closed, or the task cancelled).
    public func next() async -> LiveEvent? {
        if let ready = state.withLock({ s in Self.take(&s) }) { return ready.event }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<LiveEvent?, Never>) in
                let ready = state.withLock { s -> Ready? in
                    if let ready = Self.take(&s) { return ready }
                    s.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready.event) }
            }
        } onCancel: {
            cancel()
        }
    }

    /// Makes a waiting (or the next) ``next()`` return a heartbeat if no event is waiting.
    public func requestHeartbeat() {
        resume { s in s.heartbeatDue = true }
    }

    /// Stops the subscription: it leaves the bus, and ``next()`` returns `nil`.
    public func cancel() {
        bus.remove(id)
        finish()
    }

    func finish() {
        resume { s in s.finished = true }
    }

    /// Buffers `event`, dropping the oldest when full. Called by the bus under its lock: it
    /// only takes this subscription's lock and resumes a waiter.
    func offer(_ event: LiveEvent) {
        resume { s in
            guard !s.finished else { return }
            if s.count == capacity {
                s.ring[s.head] = nil
                s.head = (s.head + 1) % capacity
                s.count -= 1
                s.dropped += 1
                s.totalDropped += 1
            }
            s.ring[(s.head + s.count) % capacity] = event
            s.count += 1
        }
    }

    /// Applies `change`, then hands a waiter what it can now take.
    private func resume(_ change: (inout State) -> Void) {
        let wake = state.withLock { s -> (CheckedContinuation<LiveEvent?, Never>, LiveEvent?)? in
            change(&s)
            guard let waiter = s.waiter, let ready = Self.take(&s) else { return nil }
            s.waiter = nil
            return (waiter, ready.event)
        }
        if let (waiter, event) = wake { waiter.resume(returning: event) }
    }

    /// What a reader can take now.
    private enum Ready {
        case event(LiveEvent)
        case finished

        var event: LiveEvent? {
            if case .event(let event) = self { return event }
            return nil
        }
    }

    /// What a reader gets now; `nil` when it must wait.
    private static func take(_ s: inout State) -> Ready? {
        if s.dropped > 0 {
            defer { s.dropped = 0 }
            return .event(LiveEvent.dropped(s.dropped))
        }
        if s.count > 0, let event = s.ring[s.head] {
            s.ring[s.head] = nil
            s.head = (s.head + 1) % s.ring.count
            s.count -= 1
            return .event(event)
        }
        if s.finished { return .finished }
        if s.heartbeatDue {
            s.heartbeatDue = false
            return .event(LiveEvent.heartbeat)
        }
        return nil
    }
}
