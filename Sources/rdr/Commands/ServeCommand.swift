import FoundationEssentials
import Glibc
import RDR
import RDRArguments
import RDRServer

/// `rdr serve`: every virtual disk as a live NBD export, in the foreground, holding the lock.
enum ServeCommand {
    static let spec = CommandSpec(
        path: ["serve"],
        overview: "Serve every virtual disk over NBD (qemu, nbdfuse, qemu-img, fio, nbdcopy can use them).",
        options: Common.options + [
            OptionSpec(
                names: ["--socket"], value: "path",
                help: "Unix socket to listen on (default <system>/nbd.sock; mode 0600)."),
            OptionSpec(
                names: ["--listen"], value: "host:port",
                help: "Also (or, without --socket, only) listen on TCP, e.g. 127.0.0.1:10809."),
            OptionSpec(
                names: ["--allow-remote"], value: nil, help: "Allow --listen on an address that is not loopback."),
            OptionSpec(names: ["--read-only"], value: nil, help: "Every export is read-only (writes fail with EPERM)."),
            OptionSpec(names: ["--max-connections"], value: "n", help: "Clients at once, 1 to 65536 (default 128)."),
            OptionSpec(
                names: ["--workers"], value: "n",
                help: "Threads executing requests for all clients, 1 to 256 (default 8)."),
        ],
        discussion: """
            There is no TLS and no authentication: whoever can connect can read and write every
            disk. The Unix socket is created with mode 0600, and --listen refuses addresses that
            are not loopback unless --allow-remote is given.

            Exports, for each disk D: D (the disk as the Production Side sees it), D@production,
            D@upgrade, D@10 and D@11. Access follows the mirror semantics and is checked on every
            request: while split, the Upgrade Side of a data disk is refused (NBD_OPT_GO answers
            NBD_REP_ERR_POLICY), and a mode change that takes access away from a connected client
            makes its requests fail with EPERM. A write is answered once its write-intent bits are
            durable and its bytes are in every member it goes to; FLUSH makes every answered write
            durable on every member; FUA makes its own write durable.

            Runs in the foreground, holds the system's lock and owns the system: any other rdr
            command on it (except status, log, config, init, demo and serve, which run where they
            are typed) is forwarded over <system>/.rdr.control (mode 0600) and runs inside the
            server with the caller's stdin, stdout and stderr, so its output and exit code are
            the same as without a server; Ctrl-C on the caller cancels it. Resyncs started that
            way (and those a killed worker or a stopped server left, resumed at start) run as
            threads of the server while clients keep writing. A second server, or 'rdr init
            --force', is refused with 75, naming this one. With --read-only the server owns
            nothing: other commands are refused with 75 while it runs.

            SIGINT or SIGTERM: stop accepting, cancel forwarded commands (their callers exit 130),
            checkpoint running resyncs (they resume later), finish the requests already received,
            flush every disk, exit 0.
            """,
        run: run)

    static func run(_ p: Parsed) throws -> Int32 {
        try p.noMorePositionals(than: 0)
        var configuration = ServerConfiguration()
        configuration.readOnly = p.has("--read-only")
        configuration.maxConnections = try p.integer("--max-connections", in: 1...65536) ?? configuration.maxConnections
        configuration.workerThreads = try p.integer("--workers", in: 1...256) ?? configuration.workerThreads
        if p.has("--allow-remote") && !p.has("--listen") { throw p.usage("--allow-remote needs --listen") }
        let system = try Common.open(p)
        let lock = try system.lock(command: p.env.commandLine)
        defer { lock.release() }
        let signals = ServeSignals.block()  // before any thread starts, so all inherit the mask
        var listeners: [Listener] = []
        do {
            if p.has("--socket") || !p.has("--listen") {
                listeners.append(
                    try Listener.unix(path: p.value("--socket").map(p.env.path) ?? system.path + "/nbd.sock"))
            }
            if let address = p.value("--listen") {
                listeners.append(try Listener.tcp(address, allowRemote: p.has("--allow-remote")))
            }
        } catch {
            for listener in listeners { listener.close() }
            throw error
        }
        // The owner from here (not read-only: a forwarded command would write): forwarded
        // commands, NBD clients and resyncs share its disks.
        let owner: OwnerRuntime?
        do { owner = configuration.readOnly ? nil : try OwnerRuntime.start(system: system, lock: lock) } catch {
            for listener in listeners { listener.close() }
            throw error
        }
        defer { owner?.stop() }
        let disks = SystemDiskProvider(system: system, access: configuration.readOnly ? .readOnly : .readWrite)
        let err = p.env.err
        let server = NBDServer(disks: disks, configuration: configuration) { err.line("rdr serve: " + $0) }
        for listener in listeners { try server.serve(listener) }
        announce(system: system, disks: disks, listeners: listeners, readOnly: configuration.readOnly, to: p.env.out)
        if let owner { try resumeResyncs(owner, system: system, out: p.env.out) }
        let signal = signals.wait()
        p.env.out.line(
            "rdr serve: \(signal == SIGINT ? "SIGINT" : "SIGTERM"): stopping (\(server.connectionCount) connection(s) open)"
        )
        owner?.stop()  // forwarded commands cancelled, resyncs checkpointed, before the final flush
        let report = server.stop()
        for error in report.errors { p.env.err.line("Error: \(error)") }
        let cut = report.cutOff > 0 ? "; \(report.cutOff) client(s) that did not read their replies were cut off" : ""
        p.env.out.line(
            "rdr serve: stopped; flushed \(report.flushed.isEmpty ? "nothing (no disk was used)" : report.flushed.joined(separator: ", "))\(cut)"
        )
        return report.errors.isEmpty ? ExitCode.success : ExitCode.failure
    }

    /// Resyncs a killed worker or a stopped server left run again, as threads of the server.
    static func resumeResyncs(_ owner: OwnerRuntime, system: RDRSystem, out: OutputStream) throws {
        let jobs = try owner.owned.interruptedResyncs()
        guard !jobs.isEmpty else { return }
        try OwnerRuntime.startBackground(
            owner.owned, jobs: jobs, options: ResyncOptions(), logPath: system.path + "/.all.resync.log")
        out.line(
            "resuming the resync of \(jobs.map { "\($0.0) from \($0.1)" }.joined(separator: ", ")) (follow it with 'rdr status --watch')"
        )
    }

    /// Where to connect and what can be reached now.
    static func announce(
        system: RDRSystem, disks: SystemDiskProvider, listeners: [Listener], readOnly: Bool, to out: OutputStream
    ) {
        out.line(
            "rdr serve: system \(system.path), pid \(getpid())\(readOnly ? ", read-only" : ""); no TLS, no authentication"
        )
        for listener in listeners {
            out.line(
                "listening on \(listener.address)\(listener.address.hasPrefix("unix:") ? " (mode 0600)" : "")  e.g. \(listener.uri(export: "EXPORT"))"
            )
        }
        out.line("exports:")
        for name in disks.diskNames {
            let names = [name, name + "@production", name + "@upgrade", name + "@10", name + "@11"].joined(
                separator: " ")
            do {
                let disk = try disks.disk(named: name)
                out.line("  \(names)  (\(disk.role), \(ByteSize.format(disk.size)), \(disk.record.mode))")
            } catch {
                out.line("  \(names)  (not served: \(error.message))")
            }
        }
        if !readOnly {
            out.line(
                "other rdr commands on this system run in this process (control socket \(system.path)/.rdr.control)")
        }
        out.line("Stop with Ctrl-C or SIGTERM.")
    }
}

/// SIGINT and SIGTERM taken synchronously: blocked in every thread, awaited by `sigwait`.
struct ServeSignals {
    var set = sigset_t()

    static func block() -> ServeSignals {
        var s = ServeSignals()
        sigemptyset(&s.set)
        sigaddset(&s.set, SIGINT)
        sigaddset(&s.set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &s.set, nil)
        signal(SIGPIPE, SIG_IGN)  // a client that hangs up must not kill the server
        return s
    }

    func wait() -> Int32 {
        var set = self.set
        var received: Int32 = 0
        while sigwait(&set, &received) != 0 {}
        return received
    }
}
