import EdgeRuntime
import Foundation
import Testing

/// Expected fire times below were checked with a brute-force minute scan in Python's datetime
/// (independent of the code under test).
@Suite struct CronTests {
    /// Parses "yyyy-MM-dd HH:mm" as UTC.
    private func utc(_ text: String) -> Date {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = text.count > 16 ? "yyyy-MM-dd HH:mm:ss" : "yyyy-MM-dd HH:mm"
        return formatter.date(from: text)!
    }

    private func next(_ expression: String, after: String) throws -> Date? {
        try CronExpression(expression).next(after: utc(after))
    }

    @Test func everyFiveMinutesIsStrictlyAfter() throws {
        #expect(try next("*/5 * * * *", after: "2026-11-23 12:03") == utc("2026-11-23 12:05"))
        #expect(try next("*/5 * * * *", after: "2026-11-23 12:05") == utc("2026-11-23 12:10"))
        #expect(try next("*/5 * * * *", after: "2026-11-23 12:04:59") == utc("2026-11-23 12:05"))
        #expect(try next("*/5 * * * *", after: "2026-11-23 23:58") == utc("2026-11-24 00:00"))
        #expect(try next("* * * * *", after: "2026-11-23 12:03:30") == utc("2026-11-23 12:04"))
    }

    @Test func listsRangesAndSteps() throws {
        let e = try CronExpression("1-10/2,30 8-9 * * *")
        var t = utc("2026-11-23 07:00")
        var fired: [Date] = []
        for _ in 0..<13 {
            t = try #require(e.next(after: t))
            fired.append(t)
        }
        let minutes = fired.map { Int($0.timeIntervalSince1970) / 60 % 60 }
        #expect(minutes == [1, 3, 5, 7, 9, 30, 1, 3, 5, 7, 9, 30, 1])
        #expect(fired[6] == utc("2026-11-23 09:01"))
        #expect(fired[12] == utc("2026-11-24 08:01"))
        // "5/15" means 5-59/15.
        #expect(try next("5/15 * * * *", after: "2026-11-23 12:36") == utc("2026-11-23 12:50"))
    }

    @Test func namesAreCaseInsensitive() throws {
        #expect(try next("30 9 * jan,JUL Mon-fri", after: "2026-01-30 10:00") == utc("2026-07-01 09:30"))
        #expect(try CronExpression("0 0 * * sun") == CronExpression("0 0 * * sun"))
    }

    @Test func sundayIsZeroAndSeven() throws {
        for expression in ["0 12 * * 0", "0 12 * * 7", "0 12 * * SUN", "0 12 * * 6-7"] {
            let after = expression.hasSuffix("6-7") ? "2026-11-28 12:00" : "2026-11-23 00:00"
            #expect(try next(expression, after: after) == utc("2026-11-29 12:00"), "\(expression)")
        }
    }

    @Test func monthBoundaries() throws {
        #expect(try next("0 0 1 * *", after: "2026-01-31 23:59") == utc("2026-02-01 00:00"))
        #expect(try next("0 0 31 * *", after: "2026-01-31 00:00") == utc("2026-03-31 00:00"))  // skips February
        #expect(try next("0 0 30 * *", after: "2026-01-30 00:00") == utc("2026-03-30 00:00"))
    }

    @Test func yearBoundaries() throws {
        #expect(try next("59 23 31 12 *", after: "2026-12-31 23:59") == utc("2027-12-31 23:59"))
        #expect(try next("0 0 1 1 *", after: "2026-06-01 00:00") == utc("2027-01-01 00:00"))
        #expect(try next("@yearly", after: "2026-12-31 23:59:59") == utc("2027-01-01 00:00"))
        #expect(try next("*/15 * * * *", after: "2026-12-31 23:50") == utc("2027-01-01 00:00"))
    }

    @Test func leapDays() throws {
        #expect(try next("0 0 29 2 *", after: "2025-03-01 00:00") == utc("2028-02-29 00:00"))
        #expect(try next("0 0 29 2 *", after: "2028-02-29 00:00") == utc("2032-02-29 00:00"))
        // 2100 is not a leap year: the next 29 February after 2096 is in 2104.
        #expect(try next("0 0 29 2 *", after: "2096-03-01 00:00") == utc("2104-02-29 00:00"))
    }

    @Test func dayOfMonthOrDayOfWeekWhenBothRestricted() throws {
        // Both restricted: the 13th OR any Friday (Vixie cron).
        #expect(try next("0 0 13 * FRI", after: "2026-04-10 00:00") == utc("2026-04-13 00:00"))
        #expect(try next("0 0 1-7 * MON", after: "2026-01-07 00:00") == utc("2026-01-12 00:00"))
        #expect(try next("0 0 1-7 * MON", after: "2026-01-01 00:00") == utc("2026-01-02 00:00"))
        // One unrestricted: only the other applies.
        #expect(try next("0 0 * * FRI", after: "2026-04-10 00:00") == utc("2026-04-17 00:00"))
        #expect(try next("0 0 13 * *", after: "2026-04-10 00:00") == utc("2026-04-13 00:00"))
        // A field starting with '*' counts as unrestricted (Vixie): odd days AND Monday.
        #expect(try next("0 0 */2 * MON", after: "2026-01-01 00:00") == utc("2026-01-05 00:00"))
    }

    @Test func matches() throws {
        let e = try CronExpression("30 9 * * MON-FRI")
        #expect(e.matches(utc("2026-11-23 09:30:45")))  // a Monday
        #expect(!e.matches(utc("2026-11-22 09:30")))  // a Sunday
        #expect(!e.matches(utc("2026-11-23 09:31")))
    }

    @Test(
        arguments: [
            ("* * * *", "fieldCount", nil),
            ("* * * * * *", "fieldCount", nil),
            ("60 * * * *", "invalidField", "minute"),
            ("* 24 * * *", "invalidField", "hour"),
            ("* * 0 * *", "invalidField", "day-of-month"),
            ("* * * 13 *", "invalidField", "month"),
            ("* * * * 8", "invalidField", "day-of-week"),
            ("*/0 * * * *", "invalidField", "minute"),
            ("10-5 * * * *", "invalidField", "minute"),
            ("1,,2 * * * *", "invalidField", "minute"),
            ("* * * FOO *", "invalidField", "month"),
            ("* * * * MONDAY", "invalidField", "day-of-week"),
            ("* * * JAN *", nil, nil),
            ("a * * * *", "invalidField", "minute"),
            ("1/2/3 * * * *", "invalidField", "minute"),
            ("-1 * * * *", "invalidField", "minute"),
            ("? * * * *", "invalidField", "minute"),
            ("0 0 30 2 *", "neverFires", "day-of-month"),
            ("0 0 31 4,6 *", "neverFires", "day-of-month"),
            ("@reboot", "fieldCount", nil),
        ] as [(String, String?, String?)]
    )
    func errors(_ expression: String, code: String?, field: String?) {
        do {
            _ = try CronExpression(expression)
            #expect(code == nil, "\(expression) should not parse")
        } catch {
            #expect(error.code.description == code, "\(expression): \(error.message)")
            #expect(error.field == field)
            #expect(error.message.contains(expression))
            if let field { #expect(error.message.contains("\(field) field")) }
        }
    }

    @Test func errorMessagesSayWhy() {
        #expect(throws: CronError.self) { try CronExpression("61 * * * *") }
        do {
            _ = try CronExpression("61 * * * *")
        } catch {
            #expect(error.message == #"cron "61 * * * *": minute field "61": 61 is out of range 0-59"#)
        }
        do {
            _ = try CronExpression("0 9 * * WED-MON")
        } catch {
            #expect(error.message.contains("reversed"))
        }
    }

    @Test func bothDayFieldsRestrictedCanFireEvenOnAnImpossibleDate() throws {
        // Feb 30 never occurs, but the Monday alternative does (OR rule), so this is valid.
        #expect(try next("0 0 30 2 MON", after: "2026-02-01 00:00") == utc("2026-02-02 00:00"))
    }
}
