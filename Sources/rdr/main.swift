import Glibc
import RDR

// Signals are this process's business, not a command's: the handlers set the environment's
// cancellation flag, which the commands that stop cleanly read.
let environment = CommandEnvironment.process()
// A system with a live owner runs the command there (Forwarding.swift).
if let code = Forwarding.run(environment) { exit(code) }
if CLI.observesInterrupts(environment.arguments) { Interrupts.cancelling(environment.cancellation) }
exit(CLI.run(environment))
