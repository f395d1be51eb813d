import Dispatch
import Foundation
import Logging
@_spi(Fuzzing) import WasmKit

/// How one invocation of a guest ended.
enum GuestOutcome: Sendable {
    /// `_start` returned (code 0) or the guest called `proc_exit(code)`.
    case exited(code: UInt32, stdout: [UInt8])
    /// A trap, a bad pointer, a stdout over its limit, or running out of fuel: the reason (for the log).
    case failed(String)
    /// Stopped at the handler timeout (by a host call seeing the deadline, or by its fuel).
    case stopped
}

/// The engine configuration of every guest (each guest thread has its own engine, see
/// ``GuestThread``), and the fuel budget that stands in for an interrupt.
///
/// WasmKit 0.4.2 cannot interrupt a running instance. A guest runs on its own thread
/// (``GuestThreads``) with a fuel budget: enough for several times the handler timeout's worth
/// of the fastest code this machine runs, so no honest guest runs out before its deadline, and a
/// guest spinning in a loop runs out a bounded time after it (the thread is then free again).
/// Host calls check the deadline and stop the guest at once.
enum GuestEngine {
    /// Requests: lazy compilation (a function is translated when first called), fuel metering
    /// on, and WasmKit's default `mprotect` memory: a 4 GiB reservation per instance, so that
    /// `memory.grow` commits pages in place (an `mmap`, `mprotect` and `munmap` per invocation).
    static let configuration = EngineConfiguration(fuelMetering: true)
    /// The same with software-checked memory, for functions whose `memory_limit_mb` is at most
    /// ``softwareMemoryLimit``: no reservation, a zeroed allocation instead, but every
    /// `memory.grow` copies the memory into a larger one, so a guest growing page by page costs
    /// the square of its size (64 MiB that way took seconds; 4 MiB about as long as the
    /// reservation). WasmKit's interpreter checks every access in both modes.
    static let smallMemoryConfiguration = EngineConfiguration(memoryBoundsChecking: .software, fuelMetering: true)
    /// The largest `memory_limit_mb` served with software-checked memory.
    static let softwareMemoryLimit = 4 << 20
    /// Start-up validation: every function body is validated and translated.
    static let validating = Engine(configuration: EngineConfiguration(compilationMode: .eager, memoryBoundsChecking: .software))

    /// How many times the handler timeout's worth of fuel a guest gets.
    static let fuelSafetyFactor: Double = 4

    /// Fuel this machine burns per second in a tight counting loop (the fastest-burning code
    /// we know of), measured once.
    static let fuelPerSecond: Double = measureFuelPerSecond()

    /// ``fuelPerSecond``, read on a guest thread: its first read runs the measuring loop, which
    /// must not hold a thread of the cooperative pool.
    static func measuredOffThePool() async -> Double {
        await withCheckedContinuation { continuation in
            GuestThreads.shared.submit { _ in continuation.resume(returning: fuelPerSecond) }
        }
    }

    /// The fuel budget for an invocation that may run `seconds`.
    static func fuelBudget(seconds: Double) -> UInt64 {
        let fuel = max(seconds, 0.001) * fuelPerSecond * fuelSafetyFactor
        return fuel >= 1e18 ? 1_000_000_000_000_000_000 : UInt64(fuel)
    }

    /// `(module (func (export "run") (param i32) (local i32) (loop … br_if)))`: counts to its argument.
    private static let countingLoop: [UInt8] = [
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x01, 0x7f, 0x00, 0x03, 0x02, 0x01, 0x00,
        0x07, 0x07, 0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x00, 0x0a, 0x17, 0x01, 0x15, 0x01, 0x01, 0x7f, 0x03, 0x40, 0x20,
        0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, 0x20, 0x01, 0x20, 0x00, 0x49, 0x0d, 0x00, 0x0b, 0x0b,
    ]

    /// Runs the counting loop for about 20 ms and derives the rate (the best of three, so a
    /// busy machine does not shrink every budget). Each round counts in slices of 50,000 until
    /// 20 ms passed, so a slow interpreter (a debug build) measures as briefly as a fast one.
    private static func measureFuelPerSecond() -> Double {
        var best = 1e8
        guard let module = try? parseWasm(bytes: countingLoop) else { return best }
        for _ in 0..<3 {
            let store = Store(engine: Engine(configuration: configuration))
            store.fuel = Fuel(remaining: 1 << 62)
            guard let instance = try? module.instantiate(store: store), let run = instance.exports[function: "run"] else { return best }
            let start = DispatchTime.now().uptimeNanoseconds
            var slices = 0
            repeat {
                _ = try? run([.i32(50_000)])
                slices += 1
            } while DispatchTime.now().uptimeNanoseconds - start < 20_000_000 && slices < 40
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let burnt = Double((1 << 62) - (store.fuel?.remaining ?? 0))
            if elapsed > 0 { best = max(best, burnt / elapsed) }
        }
        return best
    }
}

/// Refuses memory growth past the function's `memory_limit_mb` (`memory.grow` answers −1, as
/// when a machine is out of memory) and tables past 100,000 entries.
final class GuestLimiter: ResourceLimiter {
    let maxMemoryBytes: Int
    init(maxMemoryBytes: Int) { self.maxMemoryBytes = maxMemoryBytes }
    func limitMemoryGrowth(to desired: Int) throws -> Bool { desired <= maxMemoryBytes }
    func limitTableGrowth(to desired: Int) throws -> Bool { desired <= 100_000 }
}

extension WasmProgram {
    /// Instantiates the module in a fresh store, runs `_start` with `invocation`, and frees
    /// everything. Runs on a guest thread, with that thread's engine and interpreter stack.
    func run(_ invocation: GuestInvocation, fuel: UInt64, on thread: GuestThread) -> GuestOutcome {
        let store = Store(engine: thread.engine(smallMemory: limiter.maxMemoryBytes <= GuestEngine.softwareMemoryLimit))
        store.resourceLimiter = limiter
        store.fuel = Fuel(remaining: fuel)
        defer {
            invocation.memory = nil  // the memory references the store; the store the host functions
            invocation.finishStderr()
        }
        let linked = imports(in: store, for: invocation)
        do {
            let instance = try module.instantiate(store: store, imports: linked)
            invocation.memory = instance.exports[memory: "memory"].map(GuestMemory.init)
            guard let start = instance.exports[function: "_start"] else { return .failed("the module exports no _start") }
            _ = try start.invoke([], on: &thread.stack)
            return .exited(code: 0, stdout: invocation.stdout)
        } catch let exit as GuestExit {
            return .exited(code: exit.code, stdout: invocation.stdout)
        } catch is GuestStopped {
            return .stopped
        } catch let fault as GuestFault {
            return .failed(fault.description)
        } catch {
            let reason = "\(error)"
            if reason.contains("out of fuel") { return invocation.stop.isStopped ? .stopped : .failed("ran out of fuel") }
            return .failed(reason)
        }
    }
}

/// Measurements for `Benchmarks/wasm-bench` (not API).
@_spi(Benchmarks) public enum WasmBenchmarks {
    /// Microseconds per invocation of the module at `path`: a fresh store, its host functions,
    /// instantiation and `_start` (with no stdin and an empty environment), run `iterations`
    /// times on the calling thread after parsing once.
    public static func invocationMicros(path: String, iterations: Int, runStart: Bool) throws -> [Double] {
        let program = try WasmProgram(path: path, memoryLimitBytes: 64 << 20)
        let thread = GuestThread()
        var samples: [Double] = []
        samples.reserveCapacity(iterations)
        for _ in 0..<iterations {
            let start = DispatchTime.now().uptimeNanoseconds
            let invocation = GuestInvocation(
                functionName: "bench",
                requestID: "bench",
                args: ["bench"],
                environment: [],
                stdin: [],
                stdoutLimit: 1 << 20,
                logger: Logger(label: "bench"),
                stop: StopSignal(seconds: 30),
                host: HostAccess(env: nil, kvBindings: [], queues: [])
            )
            if runStart { _ = program.run(invocation, fuel: 1 << 40, on: thread) } else { try program.instantiateOnly(invocation, on: thread) }
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1000)
        }
        return samples
    }
}

extension WasmProgram {
    /// The host functions of the module's imports, bound to `invocation`, in `store`.
    func imports(in store: Store, for invocation: GuestInvocation) -> Imports {
        var imports = Imports()
        for link in links {
            let body = link.body
            imports.define(
                module: link.module,
                name: link.name,
                Function(store: store, type: link.type) { _, arguments in
                    try body(invocation, arguments)
                }
            )
        }
        return imports
    }

    /// A fresh store, the host functions and the instance, without running `_start`.
    func instantiateOnly(_ invocation: GuestInvocation, on thread: GuestThread) throws {
        let store = Store(engine: thread.engine(smallMemory: limiter.maxMemoryBytes <= GuestEngine.softwareMemoryLimit))
        store.resourceLimiter = limiter
        let linked = imports(in: store, for: invocation)
        _ = try module.instantiate(store: store, imports: linked)
    }
}
