/// Writes metric families in the Prometheus text exposition format (0.0.4), for the series read
/// at scrape time (queue counts, process, LMDB) rather than kept in the registry.
struct PrometheusText {
    private(set) var text = ""

    enum Kind: String { case counter, gauge }

    /// One family: `# HELP`, `# TYPE`, then a sample per label set. A family with no samples is
    /// left out, as the registry leaves out a series never recorded.
    mutating func family(_ name: String, _ kind: Kind, help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
        guard !samples.isEmpty else { return }
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(kind.rawValue)\n"
        for sample in samples {
            text += name
            if !sample.labels.isEmpty {
                text += "{" + sample.labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
            }
            text += " " + Self.format(sample.value) + "\n"
        }
    }

    /// One unlabelled sample.
    mutating func family(_ name: String, _ kind: Kind, help: String, _ value: Double?) {
        guard let value else { return }
        family(name, kind, help: help, [(labels: [], value: value)])
    }

    /// A label value with `\`, `"` and newlines escaped.
    static func escape(_ value: String) -> String {
        var out = ""
        for c in value.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Integers without a fraction; others as Swift prints a `Double` (shortest round-trip).
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
