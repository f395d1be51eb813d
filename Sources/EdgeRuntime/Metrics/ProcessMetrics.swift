import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The standard process metrics (as Prometheus's client libraries name them), read from `/proc`
/// when `/_edge/metrics` is scraped. Linux only; elsewhere every field is `nil` and the series
/// are left out.
struct ProcessMetrics {
    var residentMemoryBytes: Double?
    var virtualMemoryBytes: Double?
    var cpuSeconds: Double?
    var openFDs: Double?
    var maxFDs: Double?
    var startTimeSeconds: Double?

    /// Reads `/proc/self/stat`, `/proc/stat` (boot time), `/proc/self/fd` and `RLIMIT_NOFILE`.
    static func read() -> ProcessMetrics {
        var metrics = ProcessMetrics()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let fields = statFields(stat), ticks > 0 {
            // After "pid (comm)": field 3 is index 0, so utime (14) is 11, stime 12, starttime (22) 19, vsize 20, rss 21.
            if let utime = Double(fields[11]), let stime = Double(fields[12]) { metrics.cpuSeconds = (utime + stime) / ticks }
            metrics.virtualMemoryBytes = Double(fields[20])
            if let rss = Double(fields[21]) { metrics.residentMemoryBytes = rss * pageSize }
            if let start = Double(fields[19]), let boot = bootTime() { metrics.startTimeSeconds = boot + start / ticks }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            metrics.openFDs = Double(max(entries.count - 1, 0))  // less the directory handle listing it
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { metrics.maxFDs = Double(limit.rlim_cur) }
        return metrics
    }

    /// The fields of `/proc/self/stat` after `pid (comm)` (the name may hold spaces and parentheses).
    static func statFields(_ text: String) -> [Substring]? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 21 ? fields : nil
    }

    /// `btime` of `/proc/stat`: the boot time, unix seconds.
    static func bootTime() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") { return Double(line.dropFirst(6)) }
        return nil
    }

    /// Appends the `process_*` families.
    func write(to out: inout PrometheusText) {
        out.family("process_cpu_seconds_total", .counter, help: "Total user and system CPU time spent in seconds.", cpuSeconds)
        out.family("process_resident_memory_bytes", .gauge, help: "Resident memory size in bytes.", residentMemoryBytes)
        out.family("process_virtual_memory_bytes", .gauge, help: "Virtual memory size in bytes.", virtualMemoryBytes)
        out.family("process_open_fds", .gauge, help: "Number of open file descriptors.", openFDs)
        out.family("process_max_fds", .gauge, help: "Maximum number of open file descriptors.", maxFDs)
        out.family("process_start_time_seconds", .gauge, help: "Start time of the process since unix epoch in seconds.", startTimeSeconds)
    }
}
