import KVStore

/// How ``CurlFetcher`` spaces retries: exponential backoff with full jitter, and `Retry-After`.
///
/// Attempt `n` (1-based) that failed waits a uniformly random time in
/// `0 … min(maxDelay, baseDelay × 2^(n-1))` ("full jitter"), unless the response carried a
/// `Retry-After`, which is honoured exactly when it is at most ``maxRetryAfter``. A longer
/// `Retry-After` is not waited for: the response is returned to the caller at once so it can
/// reschedule (for example by retrying a queue message with that delay).
public struct RetryPolicy: Sendable, Equatable {
    /// The backoff before the first retry, before jitter.
    public var baseDelay: Duration
    /// The upper bound of any backoff delay.
    public var maxDelay: Duration
    /// The longest `Retry-After` waited for.
    public var maxRetryAfter: Duration

    public init(baseDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(5), maxRetryAfter: Duration = .seconds(30)) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
    }

    /// The jittered backoff after failed attempt `attempt` (1-based).
    public func backoff(afterAttempt attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let ceiling = min(maxDelay.seconds, baseDelay.seconds * Double(1 << exponent))
        guard ceiling > 0 else { return .zero }
        return .milliseconds(Int64((Double.random(in: 0...ceiling) * 1000).rounded()))
    }

    /// Whether a response status calls for a retry: 429 and every 5xx.
    public static func isRetryableStatus(_ status: Int) -> Bool { status == 429 || (500..<600).contains(status) }
}

/// Parsing of the `Retry-After` header (RFC 9110 §10.2.3).
public enum RetryAfter {
    /// The longest delay a provider's `Retry-After` is taken to ask for: one day (also the
    /// longest queue delay). A longer or overflowing value means "one day", never a trap.
    public static let maxSeconds: Int64 = 86_400

    /// The delay a `Retry-After` value asks for, in seconds, clamped to 0…``maxSeconds``.
    /// - Parameters:
    ///   - value: delay-seconds (`"120"`) or an HTTP-date (`"Sun, 06 Nov 1994 08:49:37 GMT"`,
    ///     IMF-fixdate; a date in the past means 0).
    ///   - now: the current unix time in seconds, for the date form.
    /// - Returns: `nil` when the value is neither form.
    public static func delay(_ value: String, now: Double) -> Double? {
        let trimmed = value.trimmingWhitespace
        if !trimmed.isEmpty, trimmed.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            // delay-seconds is `1*DIGIT`: any number of digits, clamped (never `Double(text)`, never a trap).
            return CheckedInteger.clamped(trimmed, to: 0...maxSeconds).map(Double.init)
        }
        guard let date = parseIMFFixdate(trimmed) else { return nil }
        let delay = date - now
        guard delay.isFinite else { return nil }
        return min(max(0, delay), Double(maxSeconds))
    }

    /// ``delay(_:now:)`` in whole seconds, rounded up.
    public static func seconds(_ value: String, now: Double) -> Int? {
        delay(value, now: now).map { Int($0.rounded(.up)) }
    }

    /// Parses `Sun, 06 Nov 1994 08:49:37 GMT` into unix seconds.
    static func parseIMFFixdate(_ text: String) -> Double? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[0].count == 4, parts[0].hasSuffix(","), parts[5] == "GMT",
            let day = Int(parts[1]), parts[1].count == 2,
            let month = months.firstIndex(of: parts[2].lowercased()).map({ $0 + 1 }),
            let year = Int(parts[3]), parts[3].count == 4
        else { return nil }
        let clock = parts[4].split(separator: ":")
        guard clock.count == 3, clock.allSatisfy({ $0.count == 2 }),
            let hour = Int(clock[0]), let minute = Int(clock[1]), let second = Int(clock[2]),
            hour < 24, minute < 60, second < 61,
            (1...CivilDate.daysInMonth(year: year, month: month)).contains(day)
        else { return nil }
        let days = CivilDate(year: year, month: month, day: day).unixDay
        return Double(days * 86_400 + hour * 3_600 + minute * 60 + second)
    }

    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
}

extension Duration {
    /// The duration in seconds as a Double.
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    var trimmingWhitespace: String {
        String(Substring(self).trimmingSpaces)
    }
}
