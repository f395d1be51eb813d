import Foundation

/// A 5-field cron schedule (minute hour day-of-month month day-of-week), evaluated in UTC.
///
/// Each field takes numbers, `*`, lists (`1,15`), ranges (`1-5`), steps (`*/5`, `1-10/2`, and
/// `5/15` meaning `5-max/15`); months `JAN`…`DEC` and weekdays `SUN`…`SAT` by name in any case.
/// Day-of-week runs 0–7 where both 0 and 7 are Sunday. As in Vixie cron, when both day fields
/// are restricted a day matching *either* fires; a day field that starts with `*` (including
/// `*/2`) counts as unrestricted, and then both must match. The macros `@yearly`
/// (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` are accepted.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// The expression as written.
    public let source: String
    private let minutes: UInt64  // bits 0…59
    private let hours: UInt64  // bits 0…23
    private let daysOfMonth: UInt64  // bits 1…31
    private let months: UInt64  // bits 1…12
    private let daysOfWeek: UInt64  // bits 0…6 (7 folded into 0)
    private let dayOfMonthIsStar: Bool
    private let dayOfWeekIsStar: Bool

    private static let macros = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    /// Parses an expression.
    /// - Throws: ``CronError`` naming the field and the reason.
    public init(_ expression: String) throws(CronError) {
        source = expression
        let trimmed = expression.trimmingCharacters(in: .whitespaces)
        var text = trimmed
        if trimmed.hasPrefix("@") {
            guard let expanded = Self.macros[trimmed.lowercased()] else {
                throw CronError(
                    .fieldCount,
                    field: nil,
                    "cron \"\(expression)\": unknown macro \(trimmed) (use @yearly, @monthly, @weekly, @daily or @hourly)"
                )
            }
            text = expanded
        }
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw CronError(
                .fieldCount,
                field: nil,
                "cron \"\(expression)\": expected 5 fields (minute hour day-of-month month day-of-week), found \(fields.count)"
            )
        }
        let parsed = try zip(CronField.all, fields).map { spec, text throws(CronError) in
            do throws(CronField.Problem) {
                return try spec.parse(text)
            } catch {
                throw CronError(.invalidField, field: spec.name, "cron \"\(expression)\": \(spec.name) field \"\(text)\": \(error.reason)")
            }
        }
        minutes = parsed[0].bits
        hours = parsed[1].bits
        daysOfMonth = parsed[2].bits
        months = parsed[3].bits
        daysOfWeek = parsed[4].bits
        dayOfMonthIsStar = parsed[2].isStar
        dayOfWeekIsStar = parsed[4].isStar
        if !dayOfMonthIsStar, dayOfWeekIsStar, !canMatchSomeMonth() {
            throw CronError(
                .neverFires,
                field: "day-of-month",
                "cron \"\(expression)\": day-of-month field \"\(fields[2])\": no such day in the months of field \"\(fields[3])\", so it never fires"
            )
        }
    }

    public var description: String { source }

    /// The first fire time strictly after `date` (whole minutes, UTC).
    /// - Returns: `nil` only if nothing fires within the next 10 years (cannot happen for an
    ///   expression that parsed; the bound just guarantees termination).
    public func next(after date: Date) -> Date? {
        next(afterUnixSeconds: Int64(date.timeIntervalSince1970.rounded(.down))).map { Date(timeIntervalSince1970: Double($0)) }
    }

    /// The first fire time strictly after `seconds` (unix), in unix seconds.
    public func next(afterUnixSeconds seconds: Int64) -> Int64? {
        let start = (seconds.floorDiv(60) + 1) * 60
        var day = Int(start.floorDiv(86_400))
        var minuteOfDay = Int((start - Int64(day) * 86_400) / 60)
        let lastDay = day + 3_660
        while day <= lastDay {
            let date = CivilDate(unixDay: day)
            if !has(months, date.month) {
                // Jump to the first day of the next month.
                let nextMonth =
                    date.month == 12 ? CivilDate(year: date.year + 1, month: 1, day: 1) : CivilDate(year: date.year, month: date.month + 1, day: 1)
                day = nextMonth.unixDay
                minuteOfDay = 0
                continue
            }
            if dayMatches(date.day, weekday: CivilDate.weekday(unixDay: day)),
                let minute = firstTime(from: minuteOfDay)
            {
                return Int64(day) * 86_400 + Int64(minute) * 60
            }
            day += 1
            minuteOfDay = 0
        }
        return nil
    }

    /// Whether the expression fires at the minute containing `date`.
    public func matches(_ date: Date) -> Bool {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        return next(afterUnixSeconds: seconds.floorDiv(60) * 60 - 1) == seconds.floorDiv(60) * 60
    }

    private func has(_ bits: UInt64, _ value: Int) -> Bool { bits & (1 << UInt64(value)) != 0 }

    /// Vixie cron's day rule: OR when both day fields are restricted, else AND.
    private func dayMatches(_ dayOfMonth: Int, weekday: Int) -> Bool {
        let domHit = has(daysOfMonth, dayOfMonth)
        let dowHit = has(daysOfWeek, weekday)
        return dayOfMonthIsStar || dayOfWeekIsStar ? domHit && dowHit : domHit || dowHit
    }

    /// The first matching minute of the day at or after `minuteOfDay`.
    private func firstTime(from minuteOfDay: Int) -> Int? {
        let startHour = minuteOfDay / 60
        for hour in startHour..<24 where has(hours, hour) {
            let fromMinute = hour == startHour ? minuteOfDay % 60 : 0
            let candidates = minutes >> UInt64(fromMinute)
            if candidates != 0 { return hour * 60 + fromMinute + candidates.trailingZeroBitCount }
        }
        return nil
    }

    /// Whether some selected month has some selected day (February counted with 29 days).
    private func canMatchSomeMonth() -> Bool {
        (1...12).contains { month in
            has(months, month) && (1...CivilDate.daysInMonth(year: 2000, month: month)).contains { has(daysOfMonth, $0) }
        }
    }
}

extension Int64 {
    /// Division rounding toward negative infinity.
    fileprivate func floorDiv(_ d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
