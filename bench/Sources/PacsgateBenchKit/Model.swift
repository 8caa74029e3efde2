/// The things a scenario runs against.
public enum TargetName: String, Codable, Sendable, CaseIterable, Comparable {
    /// The client talks to the backend itself: the ceiling of what the machine, client and backend can do.
    case direct
    case haproxy
    case nginx
    /// pacsgate as configured by default (`engine: auto`: its native engine on Linux).
    case pacsgate
    /// The same pacsgate build with `engine: nio`: SwiftNIO's channels.
    case pacsgateNIO = "pacsgate-nio"

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
        case .pacsgateNIO: return "pacsgate (NIO engine)"
        }
    }
}

/// How targets and load share the CPUs.
public enum Layout: String, Codable, Sendable, CaseIterable {
    /// Targets pinned to the upper half of the CPUs, client and backends to the lower half.
    case split
    /// Nothing pinned: targets (one worker per CPU), client and backends share every CPU.
    case shared
    /// Not a load measurement: system calls counted with `strace -f -c`, one connection at a time.
    case strace
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
    /// `strace` measurements: `epoll_ctl` calls per connection (the value is all system calls per connection).
    public static let epollCtlPerConnection = "epoll_ctl_per_conn"
}

/// One run of one variant against one target in one round.
public struct MeasuredRun: Codable, Sendable {
    public var variant: String
    public var target: TargetName
    public var round: Int
    public var layout: Layout
    /// The headline figure in the variant's unit.
    public var value: Double
    public var extras: [String: Double]
    /// The load side (client and backend) was saturated while the target was not: the figure is a floor.
    public var clientBound: Bool
    public var note: String?

    public init(
        variant: String, target: TargetName, round: Int, layout: Layout = .split, value: Double,
        extras: [String: Double] = [:], clientBound: Bool = false, note: String? = nil
    ) {
        self.variant = variant
        self.target = target
        self.round = round
        self.layout = layout
        self.value = value
        self.extras = extras
        self.clientBound = clientBound
        self.note = note
    }

    private enum CodingKeys: String, CodingKey {
        case variant, target, round, layout, value, extras, clientBound, note
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.variant = try container.decode(String.self, forKey: .variant)
        self.target = try container.decode(TargetName.self, forKey: .target)
        self.round = try container.decode(Int.self, forKey: .round)
        // Runs before layouts were recorded were all split.
        self.layout = try container.decodeIfPresent(Layout.self, forKey: .layout) ?? .split
        self.value = try container.decode(Double.self, forKey: .value)
        self.extras = try container.decode([String: Double].self, forKey: .extras)
        self.clientBound = try container.decode(Bool.self, forKey: .clientBound)
        self.note = try container.decodeIfPresent(String.self, forKey: .note)
    }
}

/// A goal the issues set for pacsgate, relative to HAProxy or direct or as a bound.
public struct Goal: Codable, Sendable {
    public enum Reference: String, Codable, Sendable {
        case haproxy
        case direct
        /// A fixed bound: the figure must be at most (or at least) `ratio` itself.
        case bound
    }

    public enum Figure: Codable, Sendable, Equatable {
        /// The headline value of the variant.
        case value
        /// An extra (latency, memory per connection, CPU per operation).
        case extra(String)
    }

    public var variant: String
    public var figure: Figure
    public var reference: Reference
    /// pacsgate / reference must be ≥ this (or ≤ when `atMost`); with `offset`, pacsgate − reference ≤ `offset`
    /// instead; with `.bound`, the figure itself is compared with this.
    public var ratio: Double
    public var atMost: Bool
    public var text: String
    /// The layout the figures come from.
    public var layout: Layout
    /// "At most the reference plus this" (system calls per connection ≤ HAProxy's + 4).
    public var offset: Double?

    public init(
        variant: String, figure: Figure, reference: Reference, ratio: Double, atMost: Bool = false, text: String,
        layout: Layout = .split, offset: Double? = nil
    ) {
        self.variant = variant
        self.figure = figure
        self.reference = reference
        self.ratio = ratio
        self.atMost = atMost
        self.text = text
        self.layout = layout
        self.offset = offset
    }

    private enum CodingKeys: String, CodingKey {
        case variant, figure, reference, ratio, atMost, text, layout, offset
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.variant = try container.decode(String.self, forKey: .variant)
        self.figure = try container.decode(Figure.self, forKey: .figure)
        self.reference = try container.decode(Reference.self, forKey: .reference)
        self.ratio = try container.decode(Double.self, forKey: .ratio)
        self.atMost = try container.decode(Bool.self, forKey: .atMost)
        self.text = try container.decode(String.self, forKey: .text)
        self.layout = try container.decodeIfPresent(Layout.self, forKey: .layout) ?? .split
        self.offset = try container.decodeIfPresent(Double.self, forKey: .offset)
    }
}

/// How a target fares against a goal.
public struct GoalOutcome: Sendable, Equatable {
    /// The target's median figure.
    public var value: Double
    /// The reference's median (`nil` for a bound).
    public var reference: Double?
    /// value / reference, or value − reference with an offset, or the value against a bound.
    public var comparison: Double
    public var met: Bool
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
    /// Worker threads (HAProxy) or processes (nginx) per target in the split layout.
    public var workersPerTarget: Int
    /// The same in the shared layout (`nil`: not run).
    public var sharedWorkersPerTarget: Int?
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
        proxyCPUs: String, loadCPUs: String, workersPerTarget: Int, sharedWorkersPerTarget: Int? = nil,
        protocols: [String: String],
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
        self.sharedWorkersPerTarget = sharedWorkersPerTarget
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

    /// The measurements of one variant and target in one layout, in round order.
    public func runs(_ variant: String, _ target: TargetName, layout: Layout = .split) -> [MeasuredRun] {
        self.measurements.filter { $0.variant == variant && $0.target == target && $0.layout == layout }
            .sorted { $0.round < $1.round }
    }

    /// Median/min/max of the headline value over the rounds.
    public func spread(_ variant: String, _ target: TargetName, layout: Layout = .split) -> Spread? {
        Statistics.spread(self.runs(variant, target, layout: layout).map(\.value))
    }

    /// Median/min/max of an extra over the rounds.
    public func spread(_ variant: String, _ target: TargetName, extra: String, layout: Layout = .split) -> Spread? {
        Statistics.spread(self.runs(variant, target, layout: layout).compactMap { $0.extras[extra] })
    }

    /// The median of `figure` for `target`.
    public func median(_ variant: String, _ target: TargetName, _ figure: Goal.Figure, layout: Layout = .split) -> Double? {
        switch figure {
        case .value: return self.spread(variant, target, layout: layout)?.median
        case .extra(let name): return self.spread(variant, target, extra: name, layout: layout)?.median
        }
    }

    /// The layouts measured, in order.
    public var layouts: [Layout] {
        Layout.allCases.filter { layout in self.measurements.contains { $0.layout == layout } }
    }

    /// How `target` (pacsgate by default) fares against a goal; `nil` when a median is missing.
    public func evaluate(_ goal: Goal, for target: TargetName = .pacsgate) -> GoalOutcome? {
        guard let mine = self.median(goal.variant, target, goal.figure, layout: goal.layout) else { return nil }
        if goal.reference == .bound {
            return GoalOutcome(
                value: mine, reference: nil, comparison: mine,
                met: goal.atMost ? mine <= goal.ratio + 1e-9 : mine >= goal.ratio - 1e-9)
        }
        let reference: TargetName = goal.reference == .haproxy ? .haproxy : .direct
        guard let theirs = self.median(goal.variant, reference, goal.figure, layout: goal.layout), theirs > 0 else {
            return nil
        }
        if let offset = goal.offset {
            let difference = mine - theirs
            return GoalOutcome(value: mine, reference: theirs, comparison: difference, met: difference <= offset + 1e-9)
        }
        let ratio = mine / theirs
        return GoalOutcome(
            value: mine, reference: theirs, comparison: ratio,
            met: goal.atMost ? ratio <= goal.ratio + 1e-9 : ratio >= goal.ratio - 1e-9)
    }
}
