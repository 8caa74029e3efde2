/// Renders a ``RunReport`` as the results part of `docs/benchmarks.md`.
public enum MarkdownReport {
    /// The results table, the goals and the run's settings. Every number comes from `report`.
    public static func render(_ report: RunReport, chartPath: String?) -> String {
        var out: [String] = []
        let settings = report.settings
        out.append(
            "Run of \(settings.date)\(settings.quick ? " (**quick mode**: short measurements, one round — indicative only)" : ""): "
                + "\(settings.rounds) round\(settings.rounds == 1 ? "" : "s"), targets interleaved in every round, "
                + "\(format(settings.secondsPerMeasurement)) s per measurement; medians with min–max over the rounds.")
        out.append("")
        out.append("### Goals")
        out.append("")
        out.append("| Goal | pacsgate / reference (median) | Met |")
        out.append("|---|---:|:---:|")
        for goal in report.goals {
            if let (ratio, met) = report.evaluate(goal) {
                out.append("| \(goal.text) | \(format(ratio, digits: 2)) | \(met ? "yes" : "**no**") |")
            } else {
                out.append("| \(goal.text) | n/a | n/a |")
            }
        }
        out.append("")
        out.append(contentsOf: Self.behind(report))
        out.append("### Results")
        out.append("")
        out.append(
            "| Scenario | Target | Median | Min–max | vs HAProxy | vs direct | Latency p50 / p99 / p99.9 (ms) | Target CPU per op (µs) | Notes |"
        )
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---|")
        for variant in report.variants {
            let haproxy = report.spread(variant.id, .haproxy)?.median
            let direct = report.spread(variant.id, .direct)?.median
            for target in TargetName.allCases {
                let runs = report.runs(variant.id, target)
                // A variant with nothing to measure for a target (memory of "direct", which has no proxy).
                if !runs.isEmpty, runs.allSatisfy({ $0.note?.hasPrefix("no proxy") ?? false }) { continue }
                guard let spread = report.spread(variant.id, target) else { continue }
                let vsHAProxy = haproxy.flatMap { $0 > 0 ? format(spread.median / $0, digits: 2) : nil } ?? "–"
                let vsDirect = direct.flatMap { $0 > 0 && target != .direct ? format(spread.median / $0, digits: 2) : nil } ?? "–"
                var latency = "–"
                if let p50 = report.spread(variant.id, target, extra: Extra.p50)?.median,
                    let p99 = report.spread(variant.id, target, extra: Extra.p99)?.median
                {
                    let p999 = report.spread(variant.id, target, extra: Extra.p999)?.median
                    latency = "\(format(p50, digits: 2)) / \(format(p99, digits: 2))"
                        + (p999.map { " / \(format($0, digits: 2))" } ?? "")
                }
                let cpu = report.spread(variant.id, target, extra: Extra.targetCPUPerOp).map { format($0.median, digits: 1) } ?? "–"
                var notes: [String] = []
                let bound = runs.filter(\.clientBound).count
                if bound > 0 { notes.append("client-bound in \(bound)/\(runs.count)") }
                let errors = runs.compactMap { $0.extras[Extra.errors] }.reduce(0, +)
                if errors > 0 { notes.append("\(Int(errors)) errors") }
                if let baseline = report.spread(variant.id, target, extra: Extra.baselineRSSMiB)?.median,
                    let total = report.spread(variant.id, target, extra: Extra.rssMiB)?.median
                {
                    let before = report.spread(variant.id, target, extra: Extra.rssBeforeExchangeMiB)?.median
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
        out.append("- Layout: \(settings.layout)")
        out.append("- Target CPUs: \(settings.proxyCPUs); client and backends: \(settings.loadCPUs)")
        out.append(
            "- Workers: HAProxy `nbthread \(settings.workersPerTarget)`, nginx `worker_processes \(settings.workersPerTarget)`; "
                + "pacsgate sizes its event loops itself, one per CPU it may run on (NIO's core count capped by its "
                + "CPU affinity mask, `EventLoopSizing`): \(settings.workersPerTarget) event loop\(settings.workersPerTarget == 1 ? "" : "s")")
        let protocols = settings.protocols.sorted { $0.key < $1.key }.map { "\($0.key) → `\($0.value)`" }
        out.append("- pacsgate service protocols: \(protocols.joined(separator: ", "))")
        let concurrency = settings.concurrency.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        out.append("- Concurrent clients: \(concurrency.joined(separator: ", ")); idle connections: \(settings.idleConnections)")
        for (name, version) in settings.versions.sorted(by: { $0.key < $1.key }) {
            out.append("- \(name): \(version)")
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// "Where pacsgate is behind in this run": one line per missed goal with the figures that explain it — the
    /// medians, the target's CPU per operation against HAProxy's, how busy each target's CPU was, and whether the
    /// client was the bottleneck. Empty lines when every goal is met. Every number comes from `report`.
    public static func behind(_ report: RunReport) -> [String] {
        var lines: [String] = []
        for goal in report.goals {
            guard let (ratio, met) = report.evaluate(goal), !met else { continue }
            let reference: TargetName = goal.reference == .haproxy ? .haproxy : .direct
            let unit = report.variants.first { $0.id == goal.variant }?.unit ?? ""
            let figureUnit: String
            switch goal.figure {
            case .value: figureUnit = unit
            case .extra(let name): figureUnit = name.hasSuffix("_ms") ? "ms" : name
            }
            var line = "- **\(goal.text)**: \(format(ratio, digits: 2))"
            if let mine = report.median(goal.variant, .pacsgate, goal.figure),
                let theirs = report.median(goal.variant, reference, goal.figure)
            {
                line += " (pacsgate \(format(mine)) \(figureUnit), \(reference.title) \(format(theirs)) \(figureUnit))"
            }
            var causes: [String] = []
            if let mine = report.spread(goal.variant, .pacsgate, extra: Extra.targetCPUPerOp)?.median,
                let theirs = report.spread(goal.variant, .haproxy, extra: Extra.targetCPUPerOp)?.median, theirs > 0
            {
                causes.append(
                    "CPU per operation \(format(mine, digits: 1)) µs against HAProxy's \(format(theirs, digits: 1)) µs "
                        + "(\(format(mine / theirs, digits: 2)) ×)")
            }
            if let mine = report.spread(goal.variant, .pacsgate, extra: Extra.targetCPUShare)?.median,
                let theirs = report.spread(goal.variant, .haproxy, extra: Extra.targetCPUShare)?.median
            {
                causes.append("target CPU busy \(Int((mine * 100).rounded())) % against \(Int((theirs * 100).rounded())) %")
            }
            let runs = report.runs(goal.variant, .pacsgate)
            let bound = runs.filter(\.clientBound).count
            if bound > 0 {
                causes.append("client-bound in \(bound) of \(runs.count) rounds: the figure is what the client could drive")
            } else if !runs.isEmpty, report.runs(goal.variant, .haproxy).contains(where: \.clientBound) {
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
