import Testing

@testable import PacsgateCore

@Suite struct HealthStateMachineTests {
    /// Feeds results ("+" success, "-" failure) and returns what each one returned ("U" up, "D" down, "." no change).
    private func run(_ machine: inout HealthStateMachine, _ results: String) -> String {
        results.map { result -> String in
            switch machine.record(succeeded: result == "+") {
            case .up: return "U"
            case .down: return "D"
            case nil: return "."
            }
        }.joined()
    }

    @Test func startsUp() {
        let machine = HealthStateMachine(rise: 2, fall: 3)
        #expect(machine.status == .up)
        #expect(machine.rise == 2)
        #expect(machine.fall == 3)
        #expect(HealthStateMachine(rise: 2, fall: 3, initial: .down).status == .down)
    }

    @Test func goesDownAfterFallFailuresAndUpAfterRiseSuccesses() {
        var machine = HealthStateMachine(rise: 2, fall: 3)
        #expect(run(&machine, "--") == "..")
        #expect(machine.status == .up)
        #expect(run(&machine, "-") == "D")
        #expect(machine.status == .down)
        #expect(run(&machine, "---") == "...", "no repeated transitions while down")
        #expect(run(&machine, "+") == ".")
        #expect(machine.status == .down)
        #expect(run(&machine, "+") == "U")
        #expect(machine.status == .up)
        #expect(run(&machine, "+++") == "...")
    }

    @Test func aSuccessResetsTheFailureCount() {
        var machine = HealthStateMachine(rise: 2, fall: 3)
        #expect(run(&machine, "--+--+--") == "........")
        #expect(machine.status == .up)
        #expect(run(&machine, "-") == "D")
        // And a failure resets the success count.
        #expect(run(&machine, "+-+-+") == ".....")
        #expect(machine.status == .down)
        #expect(run(&machine, "+") == "U")
    }

    @Test func alternatingResultsNeverFlap() {
        var up = HealthStateMachine(rise: 2, fall: 2)
        #expect(run(&up, String(repeating: "-+", count: 100)) == String(repeating: ".", count: 200))
        #expect(up.status == .up)
        var down = HealthStateMachine(rise: 2, fall: 2, initial: .down)
        #expect(run(&down, String(repeating: "+-", count: 100)) == String(repeating: ".", count: 200))
        #expect(down.status == .down)
    }

    @Test func riseAndFallOfOne() {
        var machine = HealthStateMachine(rise: 1, fall: 1)
        #expect(run(&machine, "-+-++--") == "DUDU.D.")
    }

    @Test func riseAndFallAreAtLeastOne() {
        var machine = HealthStateMachine(rise: 0, fall: -3)
        #expect(machine.rise == 1)
        #expect(machine.fall == 1)
        #expect(run(&machine, "-+") == "DU")
    }
}
