/// The one checked way to take an integer from outside.
///
/// Every number that arrives in a request, a header, a provider's answer, a stored record
/// another process wrote, or a CLI flag goes through here before any arithmetic: decimal text
/// is read digit by digit with overflow-reporting arithmetic (so no input can trap), then
/// range-checked. Out of range, a ``NumberFieldError`` names the field and the range.
///
/// ```swift
/// let ttl = try CheckedInteger.parse(text, field: "expiration_ttl", in: limits.ttlRange)
/// let pause = CheckedInteger.clamped(header, to: 0...86_400)   // Retry-After: clamp, never refuse
/// ```
public enum CheckedInteger {
    /// Parses decimal text into `range`.
    ///
    /// Accepted: an optional `+` or `-`, then 1 or more ASCII digits (leading zeros allowed),
    /// nothing else — no spaces, no `_`, no exponent, no fraction.
    /// - Parameters:
    ///   - text: the text as received.
    ///   - field: the name the user knows the value by, for the error.
    ///   - range: the accepted values.
    /// - Throws: ``NumberFieldError`` when `text` is not decimal or its value (however many
    ///   digits it has) is outside `range`.
    public static func parse(_ text: some StringProtocol, field: String, in range: ClosedRange<Int64>) throws(NumberFieldError) -> Int64 {
        guard let value = saturating(text), range.contains(value) else { throw NumberFieldError(field: field, range: range) }
        return value
    }

    /// ``parse(_:field:in:)`` for `Int` ranges.
    public static func parse(_ text: some StringProtocol, field: String, in range: ClosedRange<Int>) throws(NumberFieldError) -> Int {
        Int(try parse(text, field: field, in: Int64(range.lowerBound)...Int64(range.upperBound)))
    }

    /// Checks an integer already in hand (a JSON number, an argument of the Swift API).
    /// - Throws: ``NumberFieldError`` when `value` is outside `range`.
    @discardableResult
    public static func check<T: BinaryInteger>(_ value: T, field: String, in range: ClosedRange<Int64>) throws(NumberFieldError) -> Int64 {
        guard let exact = Int64(exactly: value), range.contains(exact) else { throw NumberFieldError(field: field, range: range) }
        return exact
    }

    /// The value of decimal text clamped into `range` (for values that are honoured within
    /// bounds rather than refused, such as a provider's `Retry-After`).
    /// - Returns: `nil` when `text` is not decimal (see ``parse(_:field:in:)``).
    public static func clamped(_ text: some StringProtocol, to range: ClosedRange<Int64>) -> Int64? {
        saturating(text).map { clamp($0, to: range) }
    }

    /// `value` clamped into `range`.
    public static func clamp<T: Comparable>(_ value: T, to range: ClosedRange<T>) -> T {
        min(max(value, range.lowerBound), range.upperBound)
    }

    /// The value of decimal text, saturated at `Int64.min`/`Int64.max` when it has more
    /// digits than fit (so a range check afterwards still refuses it).
    /// - Returns: `nil` when `text` is not decimal.
    public static func saturating(_ text: some StringProtocol) -> Int64? {
        var digits = Substring(text).utf8[...]
        var negative = false
        if let sign = digits.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty else { return nil }
        var value: Int64 = 0
        var saturated = false
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            if saturated { continue }
            let digit = Int64(byte &- UInt8(ascii: "0"))
            // Accumulate toward the sign so Int64.min itself is representable.
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            if o1 || o2 {
                saturated = true
                value = negative ? .min : .max
            } else {
                value = next
            }
        }
        return value
    }

    /// `a + b`, saturated at the bounds of `Int64` instead of trapping.
    public static func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : sum
    }

    /// `a × b`, saturated at the bounds of `Int64` instead of trapping.
    public static func saturatingMultiply(_ a: Int64, _ b: Int64) -> Int64 {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? ((a < 0) == (b < 0) ? .max : .min) : product
    }
}
