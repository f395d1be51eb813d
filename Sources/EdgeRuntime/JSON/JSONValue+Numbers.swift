import EdgeCore
import KVStore

extension JSONValue {
    /// This value as an integer of `range`, for a number a client or provider sent in JSON.
    ///
    /// Accepts an integer, or a number with no fractional part (`5.0`); refuses anything else
    /// (a fraction, a string, `1e300`) with the same error as an out-of-range value.
    /// - Parameters:
    ///   - field: the JSON path the user knows it by (`delay_seconds`, `messages[2].delay_seconds`).
    ///   - range: the accepted values.
    /// - Throws: ``NumberFieldError`` (HTTP 400 naming the field and the range).
    public func integer(field: String, in range: ClosedRange<Int64>) throws(NumberFieldError) -> Int64 {
        guard let value = intValue else { throw NumberFieldError(field: field, range: range) }
        return try CheckedInteger.check(value, field: field, in: range)
    }
}
