import Foundation
import PackagePlugin

/// Records the git commit a build is made from in the `PacsgateVersion` module (`pacsgate --version`, the admin page).
///
/// A prebuild command runs `scripts/build-commit.sh` through `/bin/sh` before every build; the script rewrites the
/// generated file only when the commit changed, so an unchanged tree rebuilds nothing. The build does not depend on
/// git: without git, or outside a git checkout (a source tarball), the commit is `PACSGATE_COMMIT` from the
/// environment when set, else `unknown`.
@main
struct BuildCommitPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let generated = context.pluginWorkDirectoryURL.appending(path: "generated")
        let package = context.package.directoryURL
        var environment: [String: String] = [:]
        if let commit = ProcessInfo.processInfo.environment["PACSGATE_COMMIT"] { environment["PACSGATE_COMMIT"] = commit }
        return [
            .prebuildCommand(
                displayName: "Recording the commit of this build",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [
                    package.appending(path: "scripts/build-commit.sh").path, package.path,
                    generated.appending(path: "BuildCommit.swift").path,
                ],
                environment: environment,
                outputFilesDirectory: generated)
        ]
    }
}
