import FoundationEssentials
import Glibc
import RDR

/// The configuration through a session: chosen at check or split, staged at split, used by the
/// steps, given back to the next session at finish. A session never depends on a file a step
/// removes: finish points it back at the user's own file, and an abort runs without it.
extension UpgradeController {
    /// The session's configuration. One that cannot be read is a data error naming the way out.
    func config(_ s: Session) throws(RDRError) -> Configuration? {
        guard let p = s.configurationPath else { return nil }
        do { return try Configuration.load(p, baseDirectory: s.configurationDirectory, sys: system.sys) } catch {
            guard error.kind == .invalidArgument else { throw error }
            throw RDRError(
                .corrupt,
                "the session's \(error.message); 'rdr abort' still works without it, and at Idle 'rdr check --config FILE' (or --no-config) picks another"
            )
        }
    }

    /// For custom actions: an abort and the finish after it never depend on the configuration;
    /// when it cannot be read, their actions are skipped with a Warning.
    func actionConfig(_ s: Session, _ ctx: StepContext) throws(RDRError) -> Configuration? {
        do { return try config(s) } catch {
            guard [.abort, .finish].contains(s.request) || s.skipFailingActions else { throw error }
            log.add(
                .warning, "Custom actions skipped: the configuration cannot be read", detail: error.message,
                parent: ctx.parent)
            return nil
        }
    }

    /// The configuration a check or split uses: `--config`, else the user's file remembered from
    /// the last session (never a staged copy finish removed); `--no-config` forgets it. Refused
    /// before anything changes when it is gone, invalid, or would write into the system.
    func selectConfiguration(_ s: inout Session, _ o: RequestOptions) throws(RDRError) {
        if o.noConfig {
            (s.configurationPath, s.configurationName, s.configurationDirectory, s.sourceConfigurationPath) = (
                nil, nil, nil, nil
            )
            return
        }
        let path: String
        if let p = o.configPath {
            path = p
        } else if let remembered = s.sourceConfigurationPath ?? s.configurationPath {
            guard Directory.exists(remembered, sys: system.sys) else {
                let staged = remembered.hasPrefix(store.stagingPath + "/")
                let what =
                    staged
                    ? "the staged copy of \(s.configurationName ?? "the configuration") that finish removed (\(remembered))"
                    : "\(remembered), remembered from the last session,"
                throw RDRError(
                    .corrupt,
                    "the configuration is \(what) and no longer exists; give --config FILE, or --no-config to go on without one"
                )
            }
            path = remembered
        } else {
            return
        }
        let c: Configuration
        do { c = try Configuration.load(path, sys: system.sys) } catch {
            throw o.configPath == nil && error.kind == .invalidArgument ? RDRError(.corrupt, error.message) : error
        }
        if let refusal = c.refusal(systemPath: system.path) { throw refusal }
        s.configurationPath = path
        s.sourceConfigurationPath = path
        s.configurationName = PathName.lastComponent(path)
        s.configurationDirectory = PathName.directory(of: path)
    }

    /// Split: the configuration and its includes are copied to `session/staging/`.
    func stageConfiguration(_ s: inout Session, _ ctx: StepContext) throws(RDRError) {
        guard let path = s.configurationPath else {
            log.add(
                .information, "No configuration file: disk roles from the manifest, no services or custom actions",
                parent: ctx.parent)
            return
        }
        if path.hasPrefix(store.stagingPath + "/") { return }  // already staged (retry)
        let c = try Configuration.load(path, baseDirectory: s.configurationDirectory, sys: system.sys)
        if let refusal = c.refusal(systemPath: system.path) { throw refusal }
        do throws(Errno) {
            _ = try Directory.make(store.stagingPath, sys: system.sys)
            for f in c.files { try stage(f) }
        } catch {
            throw RDRError(.io, "cannot copy the configuration to the staging area \(store.stagingPath): \(error)")
        }
        s.configurationPath = store.stagingPath + "/" + PathName.lastComponent(path)
        log.add(
            .information, "Configuration \(s.configurationName ?? "") copied to the staging area",
            detail: c.files.joined(separator: "\n"), parent: ctx.parent)
    }

    /// One file into the staging area, atomically and durably (a retry replaces a torn copy
    /// whole). The user's file is read through a link, as `Configuration.load` reads it.
    private func stage(_ file: String) throws(Errno) {
        let fd = try FileDescriptor.openRaw(file, flags: O_RDONLY | O_CLOEXEC | O_NONBLOCK, mode: 0, sys: system.sys)
        defer { fd.close() }
        let bytes = try fd.readWholeFile(limit: Configuration.maxFileBytes)
        try Directory.writeAtomically(
            bytes, to: store.stagingPath + "/" + PathName.lastComponent(file), sys: system.sys)
    }

    /// The selection belongs to the session: the manifest's roles are saved (durably, before
    /// the manifest changes) so that finish can put them back.
    func applyDiskSelection(_ s: inout Session, _ ctx: StepContext) throws(RDRError) {
        guard let c = try config(s), !c.disks.isEmpty else { return }
        if s.savedRoles.isEmpty {
            for d in system.manifest.disks where c.disks[d.name] != nil && d.role != .mandatory {
                s.savedRoles[d.name] = d.role
            }
            try store.save(&s)
        }
        system = try system.settingRoles(c.disks)
        log.add(
            .information,
            "Disk roles for this session: "
                + c.disks.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "),
            parent: ctx.parent)
    }

    func restoreRoles(_ s: inout Session, _ ctx: StepContext) throws(RDRError) {
        guard !s.savedRoles.isEmpty else { return }
        system = try system.settingRoles(s.savedRoles)
        log.add(
            .information,
            "Disk roles restored: "
                + s.savedRoles.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "),
            parent: ctx.parent)
        s.savedRoles = [:]
    }

    /// Finish: the staging area goes, and the session points at the user's own file again, so
    /// the next upgrade may reuse the same configuration (4-20).
    func cleanUp(_ s: inout Session, _ ctx: StepContext) {
        do { try Directory.removeTree(store.stagingPath, sys: system.sys) } catch {
            // Not fatal: the next split stages its configuration over whatever is left.
            log.add(.warning, "The staging area could not be removed", detail: error.description, parent: ctx.parent)
        }
        if let source = s.sourceConfigurationPath { s.configurationPath = source }
        s.savedStartupTypes = [:]
        s.abortedFrom = nil
        s.crashDumps = 0
        let resyncing = system.manifest.disks.filter {
            (try? system.disk($0.name, access: .readOnly).record.mode) == .resyncing
        }.map(\.name)
        if !resyncing.isEmpty {
            log.add(
                .information,
                "RDR disks continue to resynchronize in the background: \(resyncing.joined(separator: ", "))",
                detail: "wait for 'Status: None' in 'rdr status' before the next upgrade", parent: ctx.parent)
        }
    }
}
