/// Rise/fall hysteresis for one server's health, as the appliance does it: a server goes down after `fall`
/// consecutive failed checks and comes back after `rise` consecutive good ones.
public struct HealthStateMachine: Sendable {
    /// Health as the balancer sees it.
    public enum Status: String, Sendable {
        case up
        case down
    }

    public let rise: Int
    public let fall: Int
    public private(set) var status: Status
    private var consecutiveSuccesses = 0
    private var consecutiveFailures = 0

    /// Servers start `up`, so traffic flows at once; a dead server is found within `fall` checks and skipped on
    /// connect failure meanwhile.
    public init(rise: Int, fall: Int, initial: Status = .up) {
        self.rise = max(1, rise)
        self.fall = max(1, fall)
        self.status = initial
    }

    /// Records one check result; returns the new status when it changed.
    public mutating func record(succeeded: Bool) -> Status? {
        if succeeded {
            self.consecutiveSuccesses += 1
            self.consecutiveFailures = 0
            if self.status == .down, self.consecutiveSuccesses >= self.rise {
                self.status = .up
                return .up
            }
        } else {
            self.consecutiveFailures += 1
            self.consecutiveSuccesses = 0
            if self.status == .up, self.consecutiveFailures >= self.fall {
                self.status = .down
                return .down
            }
        }
        return nil
    }
}
