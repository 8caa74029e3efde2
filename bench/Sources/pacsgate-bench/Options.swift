import Foundation

/// Command-line settings of `pacsgate-bench run`.
struct Options {
    var quick = false
    var rounds = 3
    var duration = 5.0
    var warmup = 1.0
    var concurrency = 50
    var persistentConnections = 8
    var idleConnections = 9_900
    var variants: [String]? = nil
    var targets: [String]? = nil
    var pacsgate = ""
    var workDirectory = "/tmp/pacsgate-bench"
    var output = "docs/bench/results.json"
    var markdown = "docs/bench/results.md"
    /// The protocol each pacsgate service runs: the protocol modules by default (they parse, route and audit what
    /// HAProxy and nginx only forward); `--protocol dicom=tcp` measures the bare forwarding core instead.
    var protocols: [String: String] = ["dicom": "dicom", "hl7": "hl7", "tls": "tls"]
    var layout = "split"
    var haproxySplice = false
    var pacsgateVersion: String? = nil

    static let usage = """
        pacsgate-bench run --pacsgate PATH [options]      run the scenarios against direct, HAProxy, nginx, pacsgate
          --quick                    one round, 1 s per measurement, 2,000 idle connections (< 2 minutes)
          --rounds N                 rounds, targets interleaved in each (default 3)
          --duration S --warmup S    seconds measured / discarded per measurement (default 5 / 1)
          --concurrency N            concurrent clients for connection-per-operation scenarios (default 50)
          --idle N                   idle connections (default 9,900: two descriptors each in the proxy, limit 20,000)
          --variants a,b             subset: throughput-1 throughput-8 dicom-assoc dicom-store mllp-persistent
                                     mllp-connect tls-hello dicom-tls-assoc idle-conns
          --targets a,b              subset of direct,haproxy,nginx,pacsgate
          --protocol SVC=P           pacsgate protocol of a service (default dicom=dicom, hl7=hl7, tls=tls; tcp
                                     measures the bare forwarding core, e.g. --protocol dicom=tcp)
          --layout split|shared      split: targets on the upper half of the CPUs, client and backends on the lower
                                     half (default); shared: nothing pinned, targets get one worker per core
          --haproxy-splice           give HAProxy `option splice-auto`
          --pacsgate-version TEXT    how to name the pacsgate build in the report (default: git commit of the cwd)
          --work DIR                 scratch directory (configurations, logs, certificates)
          --json PATH --markdown PATH  outputs (default docs/bench/results.json, docs/bench/results.md)
        pacsgate-bench render --json PATH --markdown PATH  re-render a finished run's markdown from its JSON
        pacsgate-bench serve --work DIR                   the built-in backends (started by `run`)
        """

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var explicitRounds: Int?
        var explicitDuration: Double?
        var explicitWarmup: Double?
        var explicitIdle: Int?
        var iterator = arguments.makeIterator()
        func value(_ flag: String) throws -> String {
            guard let value = iterator.next() else { throw BenchError("\(flag) needs a value") }
            return value
        }
        func number<T: LosslessStringConvertible>(_ flag: String) throws -> T {
            let text = try value(flag)
            guard let number = T(text) else { throw BenchError("\(flag): '\(text)' is not a number") }
            return number
        }
        while let argument = iterator.next() {
            switch argument {
            case "--quick": options.quick = true
            case "--rounds": explicitRounds = try number(argument)
            case "--duration": explicitDuration = try number(argument)
            case "--warmup": explicitWarmup = try number(argument)
            case "--concurrency": options.concurrency = try number(argument)
            case "--idle": explicitIdle = try number(argument)
            case "--variants": options.variants = try value(argument).split(separator: ",").map(String.init)
            case "--targets": options.targets = try value(argument).split(separator: ",").map(String.init)
            case "--pacsgate": options.pacsgate = try value(argument)
            case "--work": options.workDirectory = try value(argument)
            case "--json": options.output = try value(argument)
            case "--markdown": options.markdown = try value(argument)
            case "--layout": options.layout = try value(argument)
            case "--haproxy-splice": options.haproxySplice = true
            case "--pacsgate-version": options.pacsgateVersion = try value(argument)
            case "--protocol":
                let pair = try value(argument).split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2, options.protocols[pair[0]] != nil else {
                    throw BenchError("--protocol takes dicom=…, hl7=… or tls=…")
                }
                options.protocols[pair[0]] = pair[1]
            default:
                throw BenchError("unknown argument '\(argument)'\n\n\(usage)")
            }
        }
        if options.quick {
            options.rounds = 1
            options.duration = 1
            options.warmup = 0.3
            options.idleConnections = 2_000
        }
        options.rounds = explicitRounds ?? options.rounds
        options.duration = explicitDuration ?? options.duration
        options.warmup = explicitWarmup ?? options.warmup
        options.idleConnections = explicitIdle ?? options.idleConnections
        guard ["split", "shared"].contains(options.layout) else { throw BenchError("--layout is split or shared") }
        return options
    }
}
