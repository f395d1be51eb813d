/// How long a connection may wait for each thing (nginx's `client_header_timeout`,
/// `client_body_timeout`, `keepalive_timeout`, `lingering_timeout`).
public struct ConnectionTimeouts: Sendable, Equatable {
    /// From the first byte of a request (or from accepting the connection) to its complete head.
    public var header: Duration
    /// From a request's head to the end of its body.
    public var body: Duration
    /// A keep-alive connection with no request in progress.
    public var idle: Duration
    /// After answering a request whose body was not (fully) read: how long the rest may still
    /// arrive (and is discarded) after our side closed, before the connection is closed.
    public var linger: Duration

    public init(
        header: Duration = .seconds(10),
        body: Duration = .seconds(30),
        idle: Duration = .seconds(60),
        linger: Duration = .seconds(2)
    ) {
        self.header = header
        self.body = body
        self.idle = idle
        self.linger = linger
    }
}

/// The deadlines of one HTTP/1 connection as a plain state machine: the channel handler
/// (``ConnectionGuard``) feeds it events and performs the actions it returns. At most one
/// timer runs at a time: header, body, idle or linger.
struct ConnectionStateMachine {
    enum Timer: Equatable, Sendable { case header, body, idle, linger }

    enum Action: Equatable {
        case none
        /// Starts `timer`, replacing whichever one was running.
        case schedule(Timer, Duration)
        case cancelTimer
        /// Closes the connection at once.
        case close
        /// Fails the request body being read (the pipeline answers 408) and starts `linger` as a
        /// backstop in case no answer is written.
        case failBodyRead(linger: Duration)
        /// The answer is out: half-closes our side and starts `linger`.
        case closeOutputAndLinger(Duration)
    }

    let timeouts: ConnectionTimeouts
    /// Requests whose head was read and whose answer is not complete yet.
    private(set) var requestsOpen = 0
    /// Whether the latest request's body has been read to its end.
    private(set) var bodyComplete = true
    /// Bytes of a request head have arrived (or the connection is new) and no head was parsed yet.
    private(set) var headerStarted = false
    /// The answer in progress ends the connection (its request body was not read to the end).
    private(set) var closeAfterResponse = false
    private(set) var timer: Timer?
    private var started = false
    private var closing = false

    init(timeouts: ConnectionTimeouts) { self.timeouts = timeouts }

    /// The connection is open: its first head must come within the header timeout.
    mutating func opened() -> Action {
        guard !started else { return .none }
        started = true
        headerStarted = true
        return schedule(.header, timeouts.header)
    }

    /// Raw bytes arrived (before HTTP decoding).
    mutating func bytesReceived() -> Action {
        guard !closing, bodyComplete, !headerStarted else { return .none }
        headerStarted = true
        return schedule(.header, timeouts.header)
    }

    mutating func headReceived() -> Action {
        headerStarted = false
        requestsOpen += 1
        bodyComplete = false
        return cancel(.header, .idle)
    }

    /// The decoder's batch of reads is done: a body still open now gets its deadline.
    mutating func readComplete() -> Action {
        guard !closing, !bodyComplete, requestsOpen > 0, timer == nil else { return .none }
        return schedule(.body, timeouts.body)
    }

    mutating func endReceived() -> Action {
        bodyComplete = true
        return cancel(.body)
    }

    /// The answer's head is about to be written. - Returns: whether it must say `Connection: close`.
    mutating func responseHeadWritten() -> Bool {
        if requestsOpen == 1 && !bodyComplete { closeAfterResponse = true }
        return closeAfterResponse
    }

    mutating func responseEndWritten() -> Action {
        requestsOpen = max(0, requestsOpen - 1)
        if closeAfterResponse {
            closing = true
            timer = .linger
            return .closeOutputAndLinger(timeouts.linger)
        }
        if requestsOpen == 0 && !headerStarted && !closing { return schedule(.idle, timeouts.idle) }
        return .none
    }

    mutating func timerFired(_ fired: Timer) -> Action {
        guard fired == timer else { return .none }
        timer = nil
        switch fired {
        case .header, .idle, .linger:
            closing = true
            return .close
        case .body:
            closeAfterResponse = true
            timer = .linger
            return .failBodyRead(linger: timeouts.linger)
        }
    }

    private mutating func schedule(_ next: Timer, _ after: Duration) -> Action {
        timer = next
        return .schedule(next, after)
    }

    private mutating func cancel(_ kinds: Timer...) -> Action {
        guard let timer, kinds.contains(timer) else { return .none }
        self.timer = nil
        return .cancelTimer
    }
}
