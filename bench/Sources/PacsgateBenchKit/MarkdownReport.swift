/// Renders a ``RunReport`` as the results part of `docs/benchmarks.md`.
public enum MarkdownReport {
    /// The results table, the goals and the run's settings. Every number comes from `report`.
    public static func render(_ report: RunReport, chartPath: String?) -> String {
        var out: [String] = []
        let settings = report.settings
        out.append(
            "Run of \(settings.date)\(settings.quick ? " (**quick mode**: short measurements, one round — indicative only)" : ""): "
                + "\(settings.rounds) round\(settings.rounds == 1 ? "" : "s"), targets interleaved in every round, "
                + "\(format(settings.secondsPerMeasurement)) s per measurement; medians with min–max over the rounds. "
                + "*pacsgate* is the default build and configuration (`engine: auto`: the native engine); *pacsgate "
                + "(NIO engine)* the same binary with `engine: nio`.")
        out.append("")
        out.append("### Goals")
        out.append("")
        out.append("| Goal | pacsgate | Met | NIO engine, for comparison |")
        out.append("|---|---:|:---:|---:|")
        for goal in report.goals {
            let native = report.evaluate(goal)
            let nio = report.evaluate(goal, for: .pacsgateNIO)
            out.append(
                "| \(goal.text) | \(native.map { Self.describe($0, goal) } ?? "n/a") | "
                    + "\(native.map { $0.met ? "yes" : "**no**" } ?? "n/a") | \(nio.map { Self.describe($0, goal) } ?? "–") |")
        }
        out.append("")
        out.append(contentsOf: Self.behind(report))
        for layout in report.layouts where layout != .strace {
            out.append(contentsOf: Self.results(report, layout: layout))
        }
        if report.layouts.contains(.strace) {
            out.append(contentsOf: Self.systemCalls(report))
        }
        if let chartPath {
            out.append("")
            out.append("![Benchmark chart: one group of bars per scenario, relative to HAProxy](\(chartPath))")
        }
        out.append("")
        out.append("### Machine and settings")
        out.append("")
        if let command = settings.command {
            out.append("- Command: `\(command)`")
        }
        out.append("- CPU: \(settings.cpuModel), \(settings.cores) cores; kernel \(settings.kernel)")
        out.append("- Load average when the run started: \(settings.loadAverageAtStart)")
        if !settings.busyProcessesAtStart.isEmpty {
            out.append("- Busy processes when the run started: \(settings.busyProcessesAtStart.joined(separator: ", "))")
        }
        if let end = settings.loadAverageAtEnd {
            out.append("- Load average when the run ended: \(end) (the run itself keeps both cores busy)")
        }
        if let busy = settings.measurementsWithBusyMachine {
            let total = report.measurements.count
            if busy == 0 {
                out.append("- No compiler or build was running after any of the \(total) measurements")
            } else {
                let names = (settings.busyProcessesDuringRun ?? []).joined(separator: ", ")
                out.append(
                    "- **Other work on the machine**: a compiler or build was running after \(busy) of the \(total) "
                        + "measurements (\(names)); those figures are low and noisy")
            }
        }
        out.append("- Layouts: \(settings.layout)")
        out.append("- Target CPUs (split): \(settings.proxyCPUs); client and backends: \(settings.loadCPUs)")
        var workers =
            "- Workers: split — HAProxy `nbthread \(settings.workersPerTarget)`, nginx `worker_processes "
            + "\(settings.workersPerTarget)`, pacsgate \(settings.workersPerTarget) reactor"
            + "\(settings.workersPerTarget == 1 ? "" : "s") (and as many NIO event loops)"
        if let shared = settings.sharedWorkersPerTarget {
            workers += "; shared — HAProxy `nbthread \(shared)`, pacsgate \(shared) reactor\(shared == 1 ? "" : "s")"
        }
        out.append(
            workers + ". pacsgate sizes both itself: one per CPU it may run on (the core count capped by its CPU "
                + "affinity mask, `EventLoopSizing`)")
        let protocols = settings.protocols.sorted { $0.key < $1.key }.map { "\($0.key) → `\($0.value)`" }
        out.append("- pacsgate service protocols: \(protocols.joined(separator: ", "))")
        let concurrency = settings.concurrency.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        out.append("- Concurrent clients: \(concurrency.joined(separator: ", ")); idle connections: \(settings.idleConnections)")
        for (name, version) in settings.versions.sorted(by: { $0.key < $1.key }) {
            out.append("- \(name): \(version)")
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// A goal's figure for the goals table: the ratio, or the two figures for an offset or a bound.
    static func describe(_ outcome: GoalOutcome, _ goal: Goal) -> String {
        if goal.reference == .bound { return format(outcome.value, digits: 1) }
        if goal.offset != nil, let reference = outcome.reference {
            return "\(format(outcome.value, digits: 1)) vs \(format(reference, digits: 1))"
        }
        return format(outcome.comparison, digits: 2)
    }

    /// The results table of one layout.
    static func results(_ report: RunReport, layout: Layout) -> [String] {
        var out: [String] = []
        switch layout {
        case .split: out.append("### Results: split layout (targets on their own CPUs)")
        case .shared: out.append("### Results: shared layout (targets, client and backends on every CPU)")
        case .strace: break
        }
        out.append("")
        out.append(
            "| Scenario | Target | Median | Min–max | vs HAProxy | vs direct | Latency p50 / p99 / p99.9 (ms) | Target CPU per op (µs) | Notes |"
        )
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---|")
        for variant in report.variants {
            let haproxy = report.spread(variant.id, .haproxy, layout: layout)?.median
            let direct = report.spread(variant.id, .direct, layout: layout)?.median
            for target in TargetName.allCases {
                let runs = report.runs(variant.id, target, layout: layout)
                // A variant with nothing to measure for a target (memory of "direct", which has no proxy).
                if !runs.isEmpty, runs.allSatisfy({ $0.note?.hasPrefix("no proxy") ?? false }) { continue }
                guard let spread = report.spread(variant.id, target, layout: layout) else { continue }
                let vsHAProxy = haproxy.flatMap { $0 > 0 ? format(spread.median / $0, digits: 2) : nil } ?? "–"
                let vsDirect = direct.flatMap { $0 > 0 && target != .direct ? format(spread.median / $0, digits: 2) : nil } ?? "–"
                var latency = "–"
                if let p50 = report.spread(variant.id, target, extra: Extra.p50, layout: layout)?.median,
                    let p99 = report.spread(variant.id, target, extra: Extra.p99, layout: layout)?.median
                {
                    let p999 = report.spread(variant.id, target, extra: Extra.p999, layout: layout)?.median
                    latency = "\(format(p50, digits: 2)) / \(format(p99, digits: 2))"
                        + (p999.map { " / \(format($0, digits: 2))" } ?? "")
                }
                let cpu =
                    report.spread(variant.id, target, extra: Extra.targetCPUPerOp, layout: layout).map {
                        format($0.median, digits: 1)
                    } ?? "–"
                var notes: [String] = []
                let bound = runs.filter(\.clientBound).count
                if bound > 0 { notes.append("client-bound in \(bound)/\(runs.count)") }
                let errors = runs.compactMap { $0.extras[Extra.errors] }.reduce(0, +)
                if errors > 0 { notes.append("\(Int(errors)) errors") }
                if let baseline = report.spread(variant.id, target, extra: Extra.baselineRSSMiB, layout: layout)?.median,
                    let total = report.spread(variant.id, target, extra: Extra.rssMiB, layout: layout)?.median
                {
                    let before = report.spread(variant.id, target, extra: Extra.rssBeforeExchangeMiB, layout: layout)?
                        .median
                    notes.append(
                        "RSS \(format(baseline, digits: 1)) MiB idle"
                            + (before.map { " → \(format($0, digits: 1)) connected" } ?? "")
                            + " → \(format(total, digits: 1)) MiB after one exchange")
                }
                notes.append(contentsOf: Set(runs.compactMap(\.note)).sorted())
                out.append(
                    "| \(variant.title) (\(variant.unit)) | \(target.title) | \(format(spread.median)) | "
                        + "\(format(spread.min))–\(format(spread.max)) | \(target == .haproxy ? "1.00" : vsHAProxy) | "
                        + "\(vsDirect) | \(latency) | \(cpu) | \(notes.joined(separator: "; ")) |")
            }
        }
        out.append("")
        return out
    }

    /// The `strace -f -c` counts: system calls and `epoll_ctl` per proxied connection.
    static func systemCalls(_ report: RunReport) -> [String] {
        var out = [
            "### System calls per proxied connection",
            "",
            "`strace -f -c` attached to the target (one worker, pinned to one CPU) while the load tool makes 1,000 "
                + "connections one after another; every system call of every thread counted, divided by the "
                + "connections. Deterministic: the same build and scenario give the same counts on any machine.",
            "",
            "| Scenario | Target | System calls per connection | `epoll_ctl` per connection | Most frequent |",
            "|---|---|---:|---:|---|",
        ]
        for variant in report.variants {
            for target in TargetName.allCases {
                guard let run = report.runs(variant.id, target, layout: .strace).first else { continue }
                let epoll = run.extras[Extra.epollCtlPerConnection].map { format($0, digits: 1) } ?? "–"
                out.append(
                    "| \(variant.title) | \(target.title) | \(format(run.value, digits: 1)) | \(epoll) | \(run.note ?? "") |")
            }
        }
        out.append("")
        return out
    }

    /// "Where pacsgate is behind in this run": one line per missed goal with the figures that explain it — the
    /// medians, the target's CPU per operation against HAProxy's, how busy each target's CPU was, and whether the
    /// client was the bottleneck. Empty lines when every goal is met. Every number comes from `report`.
    public static func behind(_ report: RunReport) -> [String] {
        var lines: [String] = []
        for goal in report.goals {
            guard let outcome = report.evaluate(goal), !outcome.met else { continue }
            let layout = goal.layout
            let unit = report.variants.first { $0.id == goal.variant }?.unit ?? ""
            let figureUnit: String
            switch goal.figure {
            case .value: figureUnit = layout == .strace ? "calls" : unit
            case .extra(let name): figureUnit = name.hasSuffix("_ms") ? "ms" : name.hasSuffix("_us_per_op") ? "µs" : name
            }
            var line = "- **\(goal.text)**: \(Self.describe(outcome, goal))"
            if let reference = outcome.reference, goal.offset == nil {
                let name = goal.reference == .haproxy ? "HAProxy" : "direct"
                line += " (pacsgate \(format(outcome.value)) \(figureUnit), \(name) \(format(reference)) \(figureUnit))"
            }
            var causes: [String] = []
            if layout != .strace, goal.figure != .extra(Extra.targetCPUPerOp),
                let mine = report.spread(goal.variant, .pacsgate, extra: Extra.targetCPUPerOp, layout: layout)?.median,
                let theirs = report.spread(goal.variant, .haproxy, extra: Extra.targetCPUPerOp, layout: layout)?.median,
                theirs > 0
            {
                causes.append(
                    "CPU per operation \(format(mine, digits: 1)) µs against HAProxy's \(format(theirs, digits: 1)) µs "
                        + "(\(format(mine / theirs, digits: 2)) ×)")
            }
            if let mine = report.spread(goal.variant, .pacsgate, extra: Extra.targetCPUShare, layout: layout)?.median,
                let theirs = report.spread(goal.variant, .haproxy, extra: Extra.targetCPUShare, layout: layout)?.median
            {
                causes.append("target CPU busy \(Int((mine * 100).rounded())) % against \(Int((theirs * 100).rounded())) %")
            }
            let runs = report.runs(goal.variant, .pacsgate, layout: layout)
            let bound = runs.filter(\.clientBound).count
            if bound > 0 {
                causes.append("client-bound in \(bound) of \(runs.count) rounds: the figure is what the client could drive")
            } else if !runs.isEmpty, report.runs(goal.variant, .haproxy, layout: layout).contains(where: \.clientBound) {
                causes.append("HAProxy was client-bound, pacsgate was not: pacsgate's own CPU is the limit")
            }
            if goal.variant == "idle-conns",
                let connected = report.spread(goal.variant, .pacsgate, extra: Extra.rssBeforeExchangeMiB)?.median,
                let baseline = report.spread(goal.variant, .pacsgate, extra: Extra.baselineRSSMiB)?.median,
                let after = report.spread(goal.variant, .pacsgate, extra: Extra.rssMiB)?.median
            {
                let count = Double(max(1, report.settings.idleConnections))
                causes.append(
                    "\(format((connected - baseline) * 1024 / count, digits: 1)) KiB per connection before any byte, "
                        + "\(format((after - connected) * 1024 / count, digits: 1)) KiB more after the first exchange")
            }
            if !causes.isEmpty { line += "; " + causes.joined(separator: "; ") }
            lines.append(line + ".")
        }
        guard !lines.isEmpty else { return [] }
        return ["### Where pacsgate is behind in this run", ""] + lines + [""]
    }

    /// A number with thousands separators and `digits` decimals (default: none above 100, one below, two below 1).
    public static func format(_ value: Double, digits: Int? = nil) -> String {
        guard value.isFinite else { return "–" }
        let decimals = digits ?? (abs(value) >= 100 ? 0 : abs(value) >= 1 ? 1 : 2)
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (abs(value) * scale).rounded() / scale
        let integer = Int(rounded.rounded(.down))
        var digitsText = String(integer)
        var grouped = ""
        while digitsText.count > 3 {
            grouped = "," + digitsText.suffix(3) + grouped
            digitsText = String(digitsText.dropLast(3))
        }
        grouped = digitsText + grouped
        if decimals > 0 {
            let fraction = Int(((rounded - Double(integer)) * scale).rounded())
            var fractionText = String(fraction)
            while fractionText.count < decimals { fractionText = "0" + fractionText }
            grouped += "." + fractionText
        }
        return (value < 0 ? "-" : "") + grouped
    }
}
