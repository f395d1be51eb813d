/// The grammar of one cron field: its range and names, and the parser of its text.
struct CronField: Sendable {
    /// Why a field's text was refused (wrapped into ``CronError`` with the field's name).
    struct Problem: Error {
        let reason: String
    }

    let name: String
    let min: Int
    let max: Int
    /// Lower-cased names (`jan`, `mon`) and their values.
    let names: [String: Int]
    /// Day-of-week: 7 is folded into 0 (both are Sunday).
    let foldSeven: Bool

    static let all: [CronField] = [
        CronField(name: "minute", min: 0, max: 59, names: [:], foldSeven: false),
        CronField(name: "hour", min: 0, max: 23, names: [:], foldSeven: false),
        CronField(name: "day-of-month", min: 1, max: 31, names: [:], foldSeven: false),
        CronField(
            name: "month",
            min: 1,
            max: 12,
            names: Dictionary(
                uniqueKeysWithValues: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"].enumerated().map {
                    ($1, $0 + 1)
                }
            ),
            foldSeven: false
        ),
        CronField(
            name: "day-of-week",
            min: 0,
            max: 7,
            names: Dictionary(uniqueKeysWithValues: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"].enumerated().map { ($1, $0) }),
            foldSeven: true
        ),
    ]

    /// Parses the field's text into a bit set of allowed values, and whether it starts with `*`.
    func parse(_ text: String) throws(Problem) -> (bits: UInt64, isStar: Bool) {
        var bits: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw Problem(reason: "empty item in a list") }
            bits |= try parseItem(item)
        }
        if foldSeven, bits & (1 << 7) != 0 { bits = (bits & ~(1 << 7)) | 1 }
        return (bits, text.hasPrefix("*"))
    }

    private func parseItem(_ item: Substring) throws(Problem) -> UInt64 {
        let pieces = item.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count <= 2 else { throw Problem(reason: "more than one '/' in \"\(item)\"") }
        var step = 1
        if pieces.count == 2 {
            guard let s = Int(pieces[1]), s > 0 else {
                throw Problem(reason: "step \"\(pieces[1])\" must be a positive integer")
            }
            step = s
        }
        let base = pieces[0]
        let low: Int
        let high: Int
        if base == "*" {
            (low, high) = (min, max)
        } else if let dash = base.firstIndex(of: "-") {
            low = try value(base[..<dash])
            high = try value(base[base.index(after: dash)...])
            guard low <= high else { throw Problem(reason: "range \(base) is reversed (\(low) > \(high))") }
        } else {
            low = try value(base)
            high = pieces.count == 2 ? max : low  // "5/15" means 5-max/15
        }
        var bits: UInt64 = 0
        for v in stride(from: low, through: high, by: step) { bits |= 1 << UInt64(v) }
        return bits
    }

    private func value(_ text: Substring) throws(Problem) -> Int {
        guard !text.isEmpty else { throw Problem(reason: "missing value") }
        let v: Int
        if let number = Int(text), text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            v = number
        } else if let named = names[text.lowercased()] {
            v = named
        } else if names.isEmpty {
            throw Problem(reason: "\"\(text)\" is not a number")
        } else {
            let examples = name == "month" ? "JAN-DEC" : "SUN-SAT"
            throw Problem(reason: "\"\(text)\" is not a number or a name (\(examples))")
        }
        guard (min...max).contains(v) else { throw Problem(reason: "\(v) is out of range \(min)-\(max)") }
        return v
    }
}
