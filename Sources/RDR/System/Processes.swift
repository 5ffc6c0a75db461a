import Glibc

/// Whether process `pid` exists: signal 0 checks without sending, and EPERM means it exists
/// but belongs to someone else. Used to tell a live writer's files from a killed one's.
func processIsAlive(_ pid: Int32) -> Bool {
    pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
}
