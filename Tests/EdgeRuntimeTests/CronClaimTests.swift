import EdgeCore
import EdgeRuntime
import EdgeTestSupport
import Foundation
import Logging
import Queues
import Synchronization
import Testing

/// With several nodes on one storage, a cron tick runs only on the node that claims it.
@Suite struct CronClaimTests {
    @Test func aTickIsRunOnlyWhenThisNodeClaimsIt() async throws {
        let clock = ManualClock(1_800_000_000)  // a multiple of 300: the next */5 tick is 300 s on
        let ran = Mutex<[String]>([])
        let claims = Mutex<[String]>([])
        let jobs = ["mine", "theirs"].map { name in
            CronScheduler.Job(schedule: "*/5 * * * *", expression: try! CronExpression("*/5 * * * *"), id: name) { _ in
                ran.withLock { $0.append(name) }
            }
        }
        let scheduler = CronScheduler(jobs: jobs, clock: clock, logger: Logger(label: "test")) { job, tick in
            claims.withLock { $0.append("\(job)@\(tick)") }
            return job == "mine"
        }
        let task = Task { try await scheduler.run() }
        defer { task.cancel() }
        // Generous waits (each ends as soon as it holds): the whole suite shares two cores.
        #expect(await eventually(timeout: 60) { !clock.sleepingUntil.isEmpty })
        clock.advance(by: 300)
        #expect(await eventually(timeout: 60) { claims.withLock({ $0.count }) >= 2 && !ran.withLock({ $0.isEmpty }) })
        #expect(Set(claims.withLock { $0 }) == ["mine@1800000300", "theirs@1800000300"])
        #expect(ran.withLock { $0 } == ["mine"])
    }
}
