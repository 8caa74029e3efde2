import Logging
import PacsgateTestSupport

/// The ATNA tests' log capture: the tests' one ``LogRecorder``, every level.
typealias LogCapture = LogRecorder

extension LogRecorder {
    /// A logger whose lines land here, from `.trace` up.
    var logger: Logger { self.logger(label: "atna-test", level: .trace) }
}
