import NIOCore

@testable import PacsgateCore

/// A stand-in for the DICOM module: registered as `dicom`, it claims the service key `calling_ae_allow`, the
/// persistence type `calling-ae`, and a health check `fake-echo` with its own key `called_ae`.
struct FakeProtocolModule: ProtocolModule {
    var name: ProtocolName { "dicom" }
    var persistenceTypes: [PersistenceKind] { ["calling-ae"] }
    var healthChecks: [HealthCheckKind: any HealthCheckFactory] { ["fake-echo": FakeEchoCheck.Factory()] }
    var defaultIdleTimeout: Duration { .seconds(7200) }

    func makeServiceProtocol(_ reader: inout MappingReader, service: ServiceConfiguration) -> (any ServiceProtocol)? {
        FakeServiceProtocol(service: service.label, callingAllow: reader.stringList("calling_ae_allow") ?? [])
    }
}

struct FakeServiceProtocol: ServiceProtocol {
    var service: String
    var callingAllow: [String]

    func makeInspector(_ context: ConnectionContext) -> any ConnectionInspector { FakeInspector() }
}

final class FakeInspector: ConnectionInspector {
    func inspect(_ buffered: ByteBuffer) -> InspectionVerdict { .needMore }
    func peekFailed(_ failure: PeekFailure) -> Rejection { Rejection(reason: "peek failed") }
    func unavailable(_ reason: UnavailableReason) -> Rejection { Rejection(reason: "\(reason)") }
}

struct FakeEchoCheck: HealthCheck {
    var calledAE: String

    func check(_ server: Endpoint, timeout: Duration, group: any EventLoopGroup) async -> HealthCheckResult {
        .success("fake")
    }

    struct Factory: HealthCheckFactory {
        func makeCheck(_ reader: inout MappingReader, service: ServiceConfiguration) -> (any HealthCheck)? {
            FakeEchoCheck(calledAE: reader.string("called_ae") ?? "ANY-SCP")
        }
    }
}
