public import NIOCore
public import PacsgateCore

/// The `dicom-echo` health check: associate with the Verification SOP Class, send C-ECHO-RQ, expect status 0x0000,
/// release (PS3.7 §9.1.5). A server that rejects, aborts, answers another status or does not answer in time is
/// down, and the result's detail says why (e.g. `association rejected: result 1 source 1 reason 7 (called AE title
/// not recognized)`).
///
/// ```yaml
/// health_check: { type: dicom-echo, calling_ae: PACSGATE, called_ae: MACH7, interval: 5s, timeout: 2s }
/// ```
///
/// Unlike a TCP connect check, a proper association with A-RELEASE does not show up as an error in the PACS log.
/// A server the service re-encrypts to (`reencrypt: true`) is checked over TLS with the same CA, name and client
/// certificate; the result then also names the TLS version and when the server's certificate expires.
public struct DICOMEchoHealthCheck: HealthCheck {
    /// Default calling AE title of the probe (configure the PACS to accept it).
    public static let defaultCallingAE = "PACSGATE"

    /// The probe's settings.
    public let configuration: EchoProbe.Configuration
    /// TLS to the servers the service re-encrypts to (a node that only speaks TLS), plain TCP to the others.
    public let transports: ProbeTransports?

    /// Creates the check.
    public init(configuration: EchoProbe.Configuration, transports: ProbeTransports? = nil) {
        self.configuration = configuration
        self.transports = transports
    }

    public func check(_ server: Endpoint, timeout: Duration, group: any EventLoopGroup) async -> HealthCheckResult {
        await ProbeConnection.run(
            server: server,
            timeout: timeout,
            group: group,
            probe: EchoHealthProbe(EchoProbe(configuration: self.configuration)),
            transport: self.transports?.transport(for: server)
        )
    }

    /// Reads `calling_ae` (default `PACSGATE`) and `called_ae` (required) from `health_check:`.
    public struct Factory: HealthCheckFactory {
        /// Creates the factory.
        public init() {}

        public func makeCheck(_ reader: inout MappingReader, service: ServiceConfiguration) -> (any HealthCheck)? {
            let calling = Self.title(&reader, key: "calling_ae", default: DICOMEchoHealthCheck.defaultCallingAE)
            let called = Self.title(&reader, key: "called_ae", default: nil)
            guard let calling, let called else { return nil }
            return DICOMEchoHealthCheck(
                configuration: EchoProbe.Configuration(callingAETitle: calling, calledAETitle: called),
                transports: ProbeTransports(service)
            )
        }

        private static func title(_ reader: inout MappingReader, key: String, default fallback: String?) -> AETitle? {
            guard let text = reader.string(key, required: fallback == nil) ?? fallback else { return nil }
            do {
                return try AETitle(text)
            } catch {
                reader.problem(
                    reader.entryLine(key) ?? reader.line,
                    "\(reader.context): '\(key)' is not a valid AE title: \(error)"
                )
                return nil
            }
        }
    }
}

/// Runs an ``EchoProbe`` as the core's ``HealthProbe``: the core owns the socket and the deadline.
struct EchoHealthProbe: HealthProbe {
    private var probe: EchoProbe

    init(_ probe: EchoProbe) {
        self.probe = probe
    }

    mutating func start() -> ProbeStep {
        .send(self.probe.start())
    }

    mutating func receive(_ data: inout ByteBuffer) -> ProbeStep {
        let bytes = data
        data.moveReaderIndex(forwardBy: data.readableBytes)  // the probe keeps its own partial PDU
        switch self.probe.receive(bytes) {
        case .wait:
            return .needMore
        case .send(let reply):
            return .send(reply)
        case .finish(let outcome, let reply?):
            return .sendAndFinish(reply, Self.result(outcome))
        case .finish(let outcome, nil):
            return .done(Self.result(outcome))
        }
    }

    mutating func serverClosed() -> HealthCheckResult {
        guard let outcome = self.probe.connectionClosed() else { return .failure("server closed the connection") }
        return Self.result(outcome)
    }

    static func result(_ outcome: EchoProbe.Outcome) -> HealthCheckResult {
        switch outcome {
        case .healthy: .success("C-ECHO status 0x0000")
        case .unhealthy(let failure): .failure(failure.description)
        }
    }
}
