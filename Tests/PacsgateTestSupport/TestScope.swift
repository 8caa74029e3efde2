import Foundation

/// What one test started (peer processes, gateways, listeners, a scratch directory), all torn down at its end,
/// whether it passed or threw.
///
/// Shared by the DICOM and reliability tests; each names its scratch directories and its advice on missing peers.
package actor TestScope {
    /// A fresh scratch directory of this test.
    package nonisolated let directory: String
    /// What the failure says after "<path> is not installed; " when a peer is missing: which tests need real peers
    /// and how to install them.
    package nonisolated let missingPeerAdvice: String
    private var children: [ChildProcess] = []
    private var cleanups: [@Sendable () async -> Void] = []

    /// A scope whose scratch directory is `<tmp>/<directoryPrefix>-<random>`.
    package init(directoryPrefix: String, missingPeerAdvice: String) {
        let path = NSTemporaryDirectory() + "\(directoryPrefix)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        self.directory = path
        self.missingPeerAdvice = missingPeerAdvice
    }

    /// Registers a started peer, stopped first at cleanup.
    func track(_ child: ChildProcess) {
        self.children.append(child)
    }

    /// Registers a teardown step (run in reverse order of registration, after the children are killed).
    package func onCleanup(_ step: @escaping @Sendable () async -> Void) {
        self.cleanups.append(step)
    }

    /// Stops every child, runs the teardown steps and removes the scratch directory.
    package func cleanup() async {
        for child in self.children { await child.stop() }
        self.children.removeAll()
        for step in self.cleanups.reversed() { await step() }
        self.cleanups.removeAll()
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    /// A subdirectory of the scratch directory.
    package nonisolated func makeDirectory(_ name: String) throws -> String {
        let path = "\(self.directory)/\(name)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// Runs `body` with a fresh ``TestScope`` (see ``TestScope/init(directoryPrefix:missingPeerAdvice:)``) and always
/// tears it down.
package func withTestScope<T: Sendable>(
    directoryPrefix: String,
    missingPeerAdvice: String,
    _ body: (TestScope) async throws -> T
) async throws -> T {
    let scope = TestScope(directoryPrefix: directoryPrefix, missingPeerAdvice: missingPeerAdvice)
    do {
        let result = try await body(scope)
        await scope.cleanup()
        return result
    } catch {
        await scope.cleanup()
        throw error
    }
}

/// Polls `condition` every `poll` until it holds or `timeout` passes; returns whether it held.
package func eventually(
    timeout: Duration = .seconds(30), poll: Duration = .milliseconds(20), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: poll)
    }
    return try await condition()
}
