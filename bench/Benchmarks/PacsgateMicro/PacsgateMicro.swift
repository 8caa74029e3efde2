// Microbenchmarks of pacsgate's per-connection and per-message work: the protocol parsers the inspectors run,
// the persistence table and the balancer. Each benchmark measures one operation per iteration and reports wall
// clock and the number of allocations (`mallocCountTotal`, counted by package-benchmark's malloc interposer).
//
//   swift package --package-path bench benchmark --target PacsgateMicro
//
// Inputs are built before the measured region; every iteration works on a fresh copy of the same bytes (a copy of a
// `ByteBuffer` shares its storage, so the copy itself does not allocate).

import Benchmark
import Foundation
import NIOCore
import PacsgateCore
import PacsgateDICOM
import PacsgateHL7
import PacsgateTLS

/// `bench/run.sh --quick` sets PACSGATE_MICRO_QUICK: 200 ms per benchmark instead of 1 s.
let quick = ProcessInfo.processInfo.environment["PACSGATE_MICRO_QUICK"] != nil

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        warmupIterations: 10,
        scalingFactor: .one,
        maxDuration: quick ? .milliseconds(200) : .seconds(1),
        maxIterations: quick ? 20_000 : 200_000
    )

    dicomBenchmarks()
    mllpBenchmarks()
    clientHelloBenchmarks()
    stickTableBenchmarks()
    balancerBenchmarks()
}

// MARK: - DICOM A-ASSOCIATE-RQ

func dicomBenchmarks() {
    for contexts in [2, 40] {
        let pdu = MicroInputs.associateRequest(contexts: contexts)
        Benchmark("DICOM A-ASSOCIATE-RQ parse (\(contexts) contexts, \(pdu.readableBytes) B)") { benchmark in
            for _ in benchmark.scaledIterations {
                var bytes = pdu
                blackHole(try? AssociateRequest.parse(&bytes, maxLength: 65_536))
            }
        }
    }
}

// MARK: - MLLP

func mllpBenchmarks() {
    for (label, payload) in [("1 KiB", 1024), ("1 MiB", 1 << 20)] {
        let frame = MicroInputs.mllpFrame(payloadBytes: payload)
        Benchmark("MLLP frame scan (\(label), whole)") { benchmark in
            var scanner = MLLPFrameScanner()
            for _ in benchmark.scaledIterations {
                var chunk = frame
                while let event = scanner.next(from: &chunk) { blackHole(event) }
            }
        }
        // As a socket delivers a message: 1 KiB in 4 reads of 256 B, 1 MiB in 16 reads of 64 KiB.
        let chunkSize = payload == 1024 ? 256 : 64 * 1024
        let chunks = MicroInputs.split(frame, every: chunkSize)
        // One connection's scanner, kept across samples (package-benchmark runs the closure once per sample): a
        // connection receives message after message, and its scanner reuses the buffer it accumulated the last split
        // message in. The first split message of a connection allocates that buffer (5 allocations for 1 KiB).
        var scanner = MLLPFrameScanner()
        Benchmark("MLLP frame scan (\(label), split into \(chunks.count) reads)") { benchmark in
            for _ in benchmark.scaledIterations {
                for piece in chunks {
                    var chunk = piece
                    while let event = scanner.next(from: &chunk) { blackHole(event) }
                }
            }
        }
    }
}

// MARK: - TLS ClientHello

func clientHelloBenchmarks() {
    let parser = ClientHelloParser()
    for size in [512, 8192] {
        for sni in [true, false] {
            let hello = MicroInputs.clientHello(totalBytes: size, serverName: sni ? "pacs.mach7.test" : nil)
            let label = "\(sni ? "with SNI" : "without SNI"), \(hello.readableBytes) B"
            Benchmark("TLS ClientHello parse (\(label))") { benchmark in
                for _ in benchmark.scaledIterations {
                    blackHole(try? parser.parse(hello))
                }
            }
        }
    }
}

// MARK: - Stick table

func stickTableBenchmarks() {
    let entries = 100_000
    let keys = (0..<entries).map { MicroInputs.ipv4Key($0) }
    let missKeys = (0..<1024).map { MicroInputs.ipv4Key(entries + $0) }
    let now = NIODeadline.now()

    func filledTable(capacity: Int) -> StickTable {
        let table = StickTable(timeout: .minutes(30), capacity: capacity)
        for (index, key) in keys.enumerated() { table.stick(key, to: index % 2 == 0 ? "DICOM1" : "DICOM2", now: now) }
        return table
    }
    let roomy = filledTable(capacity: 2 * entries)

    Benchmark("Stick table lookup, hit (100k entries)") { benchmark in
        var index = 0
        for _ in benchmark.scaledIterations {
            blackHole(roomy.lookup(keys[index], now: now))
            index = (index &+ 7919) % entries
        }
    }
    Benchmark("Stick table lookup, miss (100k entries)") { benchmark in
        var index = 0
        for _ in benchmark.scaledIterations {
            blackHole(roomy.lookup(missKeys[index & 1023], now: now))
            index &+= 1
        }
    }
    Benchmark("Stick table refresh of an existing key (100k entries)") { benchmark in
        var index = 0
        for _ in benchmark.scaledIterations {
            roomy.stick(keys[index], to: "DICOM1", now: now)
            index = (index &+ 7919) % entries
        }
    }
    Benchmark("Stick table insert of a new key (100k entries, room left)") { benchmark in
        let table = filledTable(capacity: 4 * entries)
        var next = 2 * entries
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            table.stick(MicroInputs.ipv4Key(next), to: "DICOM2", now: now)
            next &+= 1
        }
        benchmark.stopMeasurement()
    }
    Benchmark(
        "Stick table insert of a new key (100k entries, full: evicts)",
        configuration: .init(maxDuration: quick ? .milliseconds(200) : .seconds(1), maxIterations: quick ? 20 : 200)
    ) { benchmark in
        let table = filledTable(capacity: entries)
        var next = 2 * entries
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            table.stick(MicroInputs.ipv4Key(next), to: "DICOM2", now: now)
            next &+= 1
        }
        benchmark.stopMeasurement()
    }
}

// MARK: - Balancer

func balancerBenchmarks() {
    for (method, count) in [(BalanceMethod.roundrobin, 2), (.roundrobin, 10), (.leastconn, 10), (.source, 10)] {
        let servers = (0..<count).map {
            ServerConfiguration(label: "NODE\($0)", endpoint: Endpoint(host: "127.0.0.\(150 + $0)", port: 11112))
        }
        let pool = ServerPool(servers: servers)
        let clients = (0..<1024).map { MicroInputs.ipv4Key($0) }
        Benchmark("Balancer pick + release (\(method.rawValue), \(count) servers)") { benchmark in
            var index = 0
            for _ in benchmark.scaledIterations {
                let client = clients[index & 1023]
                if let selection = pool.select(
                    method: method, clientKey: client, stickKey: nil, stickTable: nil, allowed: nil)
                {
                    pool.release(selection.label)
                }
                index &+= 1
            }
        }
    }
}
