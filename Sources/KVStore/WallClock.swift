import Foundation
import Synchronization

/// The wall clock TTLs are measured against, injectable so tests move time instead of sleeping.
public protocol WallClock: Sendable {
    /// Seconds since 1970-01-01T00:00:00Z.
    func now() -> Double
}

extension WallClock {
    /// Whole unix seconds now (floored).
    public func nowSeconds() -> Int64 { Int64(now().rounded(.down)) }
}

/// The system's real-time clock.
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Double { Date().timeIntervalSince1970 }
}

/// A clock that moves only when told to (tests).
public final class ManualWallClock: WallClock {
    private let current: Mutex<Double>

    public init(_ start: Double = 1_800_000_000) { current = Mutex(start) }

    public func now() -> Double { current.withLock { $0 } }

    /// Moves the clock forward by `seconds`.
    public func advance(by seconds: Double) { current.withLock { $0 += seconds } }

    /// Sets the clock to `time` (unix seconds).
    public func set(_ time: Double) { current.withLock { $0 = time } }
}
