/// The four things a scenario runs against.
public enum TargetName: String, Codable, Sendable, CaseIterable, Comparable {
    /// The client talks to the backend itself: the ceiling of what the machine, client and backend can do.
    case direct
    case haproxy
    case nginx
    case pacsgate

    public static func < (lhs: TargetName, rhs: TargetName) -> Bool {
        Self.allCases.firstIndex(of: lhs) ?? 0 < Self.allCases.firstIndex(of: rhs) ?? 0
    }

    /// As written in tables.
    public var title: String {
        switch self {
        case .direct: return "direct"
        case .haproxy: return "HAProxy"
        case .nginx: return "nginx"
        case .pacsgate: return "pacsgate"
        }
    }
}

/// One measured variant of a scenario (the `throughput` scenario has two: one and eight streams).
public struct Variant: Codable, Sendable, Hashable {
    /// Stable identifier, e.g. `throughput-1`.
    public var id: String
    /// The scenario it belongs to (`throughput`, `dicom-assoc`, …).
    public var scenario: String
    /// Human title.
    public var title: String
    /// Unit of the headline value.
    public var unit: String
    /// Whether more is better (throughput) or less (memory).
    public var higherIsBetter: Bool

    public init(id: String, scenario: String, title: String, unit: String, higherIsBetter: Bool = true) {
        self.id = id
        self.scenario = scenario
        self.title = title
        self.unit = unit
        self.higherIsBetter = higherIsBetter
    }
}

/// Extra figures a measurement may carry (keys of ``MeasuredRun/extras``).
public enum Extra {
    public static let p50 = "p50_ms"
    public static let p99 = "p99_ms"
    public static let p999 = "p99.9_ms"
    /// CPU time the target's processes used per operation (µs), user + system.
    public static let targetCPUPerOp = "target_cpu_us_per_op"
    /// Share of the load CPUs the load tool and its backend used (0…1).
    public static let loadCPUShare = "load_cpu_share"
    /// Share of the proxy CPUs the target used (0…1).
    public static let targetCPUShare = "target_cpu_share"
    public static let errors = "errors"
    public static let operations = "operations"
    /// Resident memory of the target (MiB).
    public static let rssMiB = "rss_mib"
    /// Resident memory of the target before the connections were opened (MiB).
    public static let baselineRSSMiB = "baseline_rss_mib"
    /// Resident memory after the connections were opened but before any byte was exchanged (MiB).
    public static let rssBeforeExchangeMiB = "rss_before_exchange_mib"
    /// Threads of the target's processes.
    public static let threads = "threads"
}

/// One run of one variant against one target in one round.
public struct MeasuredRun: Codable, Sendable {
    public var variant: String
    public var target: TargetName
    public var round: Int
    /// The headline figure in the variant's unit.
    public var value: Double
    public var extras: [String: Double]
    /// The load side (client and backend) was saturated while the target was not: the figure is a floor.
    public var clientBound: Bool
    public var note: String?

    public init(
        variant: String, target: TargetName, round: Int, value: Double, extras: [String: Double] = [:],
        clientBound: Bool = false, note: String? = nil
    ) {
        self.variant = variant
        self.target = target
        self.round = round
        self.value = value
        self.extras = extras
        self.clientBound = clientBound
        self.note = note
    }
}

/// A goal the issue sets for pacsgate relative to HAProxy or direct.
public struct Goal: Codable, Sendable {
    public enum Reference: String, Codable, Sendable {
        case haproxy
        case direct
    }

    public enum Figure: Codable, Sendable, Equatable {
        /// The headline value of the variant.
        case value
        /// An extra (latency, memory per connection).
        case extra(String)
    }

    public var variant: String
    public var figure: Figure
    public var reference: Reference
    /// pacsgate / reference must be ≥ this (or ≤ when `atMost`).
    public var ratio: Double
    public var atMost: Bool
    public var text: String

    public init(variant: String, figure: Figure, reference: Reference, ratio: Double, atMost: Bool = false, text: String) {
        self.variant = variant
        self.figure = figure
        self.reference = reference
        self.ratio = ratio
        self.atMost = atMost
        self.text = text
    }
}

/// The machine and the settings of a run.
public struct RunSettings: Codable, Sendable {
    /// When the run ended (ISO 8601).
    public var date: String
    /// `--quick`: short measurements, one round.
    public var quick: Bool
    public var rounds: Int
    public var secondsPerMeasurement: Double
    /// Online CPUs.
    public var cores: Int
    public var cpuModel: String
    public var kernel: String
    /// `/proc/loadavg` (1, 5, 15 minutes) before the first measurement.
    public var loadAverageAtStart: String
    /// Compilers and builds found running before the first measurement.
    public var busyProcessesAtStart: [String]
    /// How targets and load were placed on the CPUs.
    public var layout: String
    /// CPUs the targets were pinned to.
    public var proxyCPUs: String
    /// CPUs the client and the backends were pinned to.
    public var loadCPUs: String
    /// Worker threads (HAProxy) or processes (nginx) per target.
    public var workersPerTarget: Int
    /// pacsgate protocol per service kind (`dicom`, `hl7`, `tls`).
    public var protocols: [String: String]
    /// Versions of everything involved, by name.
    public var versions: [String: String]
    /// Connections held by `idle-conns`.
    public var idleConnections: Int
    /// Concurrent clients per variant.
    public var concurrency: [String: Int]
    /// Load average when the last measurement ended.
    public var loadAverageAtEnd: String?
    /// Measurements after which a compiler or build was found running (another user of the machine).
    public var measurementsWithBusyMachine: Int?
    /// What was found running then.
    public var busyProcessesDuringRun: [String]?
    /// The load tool's command line.
    public var command: String?

    public init(
        date: String, quick: Bool, rounds: Int, secondsPerMeasurement: Double, cores: Int, cpuModel: String,
        kernel: String, loadAverageAtStart: String, busyProcessesAtStart: [String], layout: String,
        proxyCPUs: String, loadCPUs: String, workersPerTarget: Int, protocols: [String: String],
        versions: [String: String], idleConnections: Int, concurrency: [String: Int], loadAverageAtEnd: String? = nil,
        measurementsWithBusyMachine: Int? = nil, busyProcessesDuringRun: [String]? = nil, command: String? = nil
    ) {
        self.date = date
        self.quick = quick
        self.rounds = rounds
        self.secondsPerMeasurement = secondsPerMeasurement
        self.cores = cores
        self.cpuModel = cpuModel
        self.kernel = kernel
        self.loadAverageAtStart = loadAverageAtStart
        self.busyProcessesAtStart = busyProcessesAtStart
        self.layout = layout
        self.proxyCPUs = proxyCPUs
        self.loadCPUs = loadCPUs
        self.workersPerTarget = workersPerTarget
        self.protocols = protocols
        self.versions = versions
        self.idleConnections = idleConnections
        self.concurrency = concurrency
        self.loadAverageAtEnd = loadAverageAtEnd
        self.measurementsWithBusyMachine = measurementsWithBusyMachine
        self.busyProcessesDuringRun = busyProcessesDuringRun
        self.command = command
    }
}

/// Everything a run produced: what `report.json` holds and the markdown is rendered from.
public struct RunReport: Codable, Sendable {
    public var settings: RunSettings
    public var variants: [Variant]
    public var goals: [Goal]
    public var measurements: [MeasuredRun]
    /// The configuration each target ran with, as written to disk.
    public var configurations: [String: String]

    public init(
        settings: RunSettings, variants: [Variant], goals: [Goal], measurements: [MeasuredRun],
        configurations: [String: String]
    ) {
        self.settings = settings
        self.variants = variants
        self.goals = goals
        self.measurements = measurements
        self.configurations = configurations
    }

    /// The measurements of one variant and target, in round order.
    public func runs(_ variant: String, _ target: TargetName) -> [MeasuredRun] {
        self.measurements.filter { $0.variant == variant && $0.target == target }.sorted { $0.round < $1.round }
    }

    /// Median/min/max of the headline value over the rounds.
    public func spread(_ variant: String, _ target: TargetName) -> Spread? {
        Statistics.spread(self.runs(variant, target).map(\.value))
    }

    /// Median/min/max of an extra over the rounds.
    public func spread(_ variant: String, _ target: TargetName, extra: String) -> Spread? {
        Statistics.spread(self.runs(variant, target).compactMap { $0.extras[extra] })
    }

    /// The median of `figure` for `target`.
    public func median(_ variant: String, _ target: TargetName, _ figure: Goal.Figure) -> Double? {
        switch figure {
        case .value: return self.spread(variant, target)?.median
        case .extra(let name): return self.spread(variant, target, extra: name)?.median
        }
    }

    /// pacsgate's ratio to the goal's reference, and whether the goal is met; `nil` when a median is missing.
    public func evaluate(_ goal: Goal) -> (ratio: Double, met: Bool)? {
        let reference: TargetName = goal.reference == .haproxy ? .haproxy : .direct
        guard let mine = self.median(goal.variant, .pacsgate, goal.figure),
            let theirs = self.median(goal.variant, reference, goal.figure), theirs > 0
        else { return nil }
        let ratio = mine / theirs
        return (ratio, goal.atMost ? ratio <= goal.ratio + 1e-9 : ratio >= goal.ratio - 1e-9)
    }
}
