import PacsgateBenchKit
import Testing

@Suite struct StatisticsTests {
    @Test func nearestRankQuantiles() {
        let samples = (1...100).map(Double.init)
        #expect(Statistics.quantile(samples, 0.5) == 50)
        #expect(Statistics.quantile(samples, 0.99) == 99)
        #expect(Statistics.quantile(samples, 0.999) == 100)
        #expect(Statistics.quantile(samples, 0) == 1)
        #expect(Statistics.quantile([], 0.5) == nil)
        #expect(Statistics.quantile([7], 0.999) == 7)
    }

    @Test func spreadOfOddAndEvenCounts() {
        #expect(Statistics.spread([3, 1, 2]) == Spread(median: 2, min: 1, max: 3, count: 3))
        #expect(Statistics.spread([4, 1, 3, 2]) == Spread(median: 2.5, min: 1, max: 4, count: 4))
        #expect(Statistics.spread([]) == nil)
    }
}

@Suite struct FormatTests {
    @Test func groupsThousandsAndPicksDecimals() {
        #expect(MarkdownReport.format(17_562.4) == "17,562")
        #expect(MarkdownReport.format(7.44) == "7.4")
        #expect(MarkdownReport.format(0.456) == "0.46")
        #expect(MarkdownReport.format(1.3, digits: 2) == "1.30")
        #expect(MarkdownReport.format(1_234_567.891, digits: 1) == "1,234,567.9")
        #expect(MarkdownReport.format(.nan) == "–")
    }
}

@Suite struct TargetConfigurationTests {
    let routes = [
        Route(name: "DICOM", front: 24102, back: 24202, pacsgateProtocol: "dicom"),
        Route(name: "IDLE", front: 24106, back: 24206),
    ]

    @Test func haproxyHasOneListenerPerRouteAndTheThreadCount() {
        let text = TargetConfigurations.haproxy(routes: self.routes, threads: 1, splice: false)
        #expect(text.contains("nbthread 1"))
        #expect(text.contains("bind 127.0.0.1:24102"))
        #expect(text.contains("server s1 127.0.0.1:24202"))
        #expect(text.contains("bind 127.0.0.1:24106"))
        #expect(!text.contains("splice-auto"))
        #expect(TargetConfigurations.haproxy(routes: self.routes, threads: 2, splice: true).contains("option splice-auto"))
    }

    @Test func nginxStreamServers() {
        let text = TargetConfigurations.nginx(routes: self.routes, workers: 1, workDirectory: "/w")
        #expect(text.contains("worker_processes 1;"))
        #expect(text.contains("listen 127.0.0.1:24102 backlog=4096 so_keepalive=on;"))
        #expect(text.contains("proxy_pass 127.0.0.1:24202;"))
        #expect(text.contains("pid /w/nginx.pid;"))
    }

    @Test func tlsRoutesTerminateWithTheSameCertificateEverywhere() {
        let routes = self.routes + [
            Route(name: "DICOM-TLS", front: 24107, back: 24202, pacsgateProtocol: "dicom", terminatesTLS: true, directPort: 24207)
        ]
        let tls = TerminationCertificate(certificate: "/w/cert.pem", key: "/w/key.pem", combined: "/w/cert-and-key.pem")
        let haproxy = TargetConfigurations.haproxy(routes: routes, threads: 1, splice: false, tls: tls)
        #expect(haproxy.contains("bind 127.0.0.1:24107 ssl crt /w/cert-and-key.pem ssl-min-ver TLSv1.3 ciphersuites TLS_AES_128_GCM_SHA256 curves X25519\n"))
        #expect(haproxy.contains("bind 127.0.0.1:24102\n"), "plain routes stay plain")
        let nginx = TargetConfigurations.nginx(routes: routes, workers: 1, workDirectory: "/w", tls: tls)
        #expect(nginx.contains("listen 127.0.0.1:24107 ssl backlog=4096 so_keepalive=on;"))
        #expect(nginx.contains("ssl_certificate /w/cert.pem;"))
        #expect(nginx.contains("ssl_protocols TLSv1.3;"))
        #expect(nginx.contains("ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;"))
        let pacsgate = TargetConfigurations.pacsgate(routes: routes, workDirectory: "/w", tls: tls)
        #expect(
            pacsgate.contains(
                "listen: \"127.0.0.1:24107\"\n    protocol: dicom\n    maxconn: 20000\n    tls: { certificate: /w/cert.pem, key: /w/key.pem }\n    servers:"
            ), "\(pacsgate)")
        #expect(pacsgate.ranges(of: "tls:").count == 1, "only the TLS route terminates")
    }

    @Test func pacsgateServicesCarryTheirProtocol() {
        let text = TargetConfigurations.pacsgate(routes: self.routes, workDirectory: "/w")
        #expect(text.contains("listen: \"127.0.0.1:24102\"\n    protocol: dicom"))
        #expect(text.contains("listen: \"127.0.0.1:24106\"\n    protocol: tcp"))
        #expect(text.contains("address: \"127.0.0.1:24202\""))
        #expect(text.contains("level: notice"))
    }
}

@Suite struct ReportTests {
    func report(_ runs: [MeasuredRun]) -> RunReport {
        RunReport(
            settings: RunSettings(
                date: "2026-01-01T00:00:00Z", quick: false, rounds: 3, secondsPerMeasurement: 5, cores: 2, cpuModel: "x",
                kernel: "k", loadAverageAtStart: "0.1", busyProcessesAtStart: [], layout: "split", proxyCPUs: "1",
                loadCPUs: "0", workersPerTarget: 1, protocols: ["dicom": "tcp"], versions: [:], idleConnections: 10,
                concurrency: [:]),
            variants: [Variant(id: "v", scenario: "s", title: "V", unit: "op/s")],
            goals: [
                Goal(variant: "v", figure: .value, reference: .haproxy, ratio: 1.0, text: "v ≥ HAProxy"),
                Goal(variant: "v", figure: .extra(Extra.p99), reference: .haproxy, ratio: 1.0, atMost: true, text: "p99"),
            ],
            measurements: runs, configurations: [:])
    }

    @Test func goalsUseMediansOverRounds() throws {
        let runs = [
            MeasuredRun(variant: "v", target: .haproxy, round: 1, value: 100, extras: [Extra.p99: 2]),
            MeasuredRun(variant: "v", target: .haproxy, round: 2, value: 110, extras: [Extra.p99: 3]),
            MeasuredRun(variant: "v", target: .haproxy, round: 3, value: 90, extras: [Extra.p99: 4]),
            MeasuredRun(variant: "v", target: .pacsgate, round: 1, value: 120, extras: [Extra.p99: 3]),
            MeasuredRun(variant: "v", target: .pacsgate, round: 2, value: 10, extras: [Extra.p99: 1]),
            MeasuredRun(variant: "v", target: .pacsgate, round: 3, value: 105, extras: [Extra.p99: 2]),
        ]
        let report = self.report(runs)
        let throughput = try #require(report.evaluate(report.goals[0]))
        #expect(abs(throughput.ratio - 1.05) < 1e-9)
        #expect(throughput.met)
        let latency = try #require(report.evaluate(report.goals[1]))
        #expect(abs(latency.ratio - 2.0 / 3.0) < 1e-9)
        #expect(latency.met)
    }

    @Test func unmetGoalAndMissingReferenceAreReported() {
        let runs = [
            MeasuredRun(variant: "v", target: .haproxy, round: 1, value: 100, extras: [Extra.p99: 2]),
            MeasuredRun(variant: "v", target: .pacsgate, round: 1, value: 80, extras: [Extra.p99: 3], clientBound: true),
        ]
        let report = self.report(runs)
        #expect(report.evaluate(report.goals[0])?.met == false)
        #expect(report.evaluate(report.goals[1])?.met == false)
        let markdown = MarkdownReport.render(report, chartPath: "bench/results.png")
        #expect(markdown.contains("| v ≥ HAProxy | 0.80 | **no** |"))
        #expect(markdown.contains("client-bound in 1/1"))
        #expect(markdown.contains("| V (op/s) | pacsgate | 80.0 | 80.0–80.0 | 0.80 |"))
        #expect(self.report([]).evaluate(report.goals[0]) == nil)
    }

    @Test func missedGoalsAreExplainedWithCPUPerOperation() {
        let runs = [
            MeasuredRun(
                variant: "v", target: .haproxy, round: 1, value: 100,
                extras: [Extra.p99: 2, Extra.targetCPUPerOp: 50, Extra.targetCPUShare: 0.5]),
            MeasuredRun(
                variant: "v", target: .pacsgate, round: 1, value: 80,
                extras: [Extra.p99: 1, Extra.targetCPUPerOp: 125, Extra.targetCPUShare: 0.99]),
        ]
        let lines = MarkdownReport.behind(self.report(runs))
        #expect(lines.first == "### Where pacsgate is behind in this run")
        // Throughput missed, latency met: one line.
        #expect(lines.filter { $0.hasPrefix("- ") }.count == 1)
        #expect(
            lines.contains(
                "- **v ≥ HAProxy**: 0.80 (pacsgate 80.0 op/s, HAProxy 100 op/s); CPU per operation 125.0 µs against "
                    + "HAProxy's 50.0 µs (2.50 ×); target CPU busy 99 % against 50 %."))
        // Every goal met: no section.
        let met = [
            MeasuredRun(variant: "v", target: .haproxy, round: 1, value: 100, extras: [Extra.p99: 2]),
            MeasuredRun(variant: "v", target: .pacsgate, round: 1, value: 120, extras: [Extra.p99: 1]),
        ]
        #expect(MarkdownReport.behind(self.report(met)).isEmpty)
    }
}
