#define _GNU_SOURCE
#include "CRDRSys.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int64_t rdr_seek_data(int fd, int64_t offset) { return lseek(fd, offset, SEEK_DATA); }
int64_t rdr_seek_hole(int fd, int64_t offset) { return lseek(fd, offset, SEEK_HOLE); }

int rdr_punch_hole(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}

int64_t rdr_copy_file_range(int fd_in, int64_t off_in, int fd_out, int64_t off_out, uint64_t length) {
    loff_t in = off_in, out = off_out;
    return copy_file_range(fd_in, &in, fd_out, &out, length, 0);
}

/// statx at (`dirfd`, `path`, `flags`), falling back to fstatat where statx is missing.
static int file_status(int dirfd, const char *path, int flags, struct rdr_file_status *out) {
    struct statx sx;
    if (statx(dirfd, path, flags | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS | STATX_BTIME, &sx) == 0) {
        out->size = (int64_t)sx.stx_size;
        out->allocated = (int64_t)sx.stx_blocks * 512;
        out->inode = sx.stx_ino;
        out->mode = sx.stx_mode;
        out->has_birth = (sx.stx_mask & STATX_BTIME) ? 1 : 0;
        out->birth_sec = sx.stx_btime.tv_sec;
        out->birth_nsec = sx.stx_btime.tv_nsec;
        return 0;
    }
    if (errno != ENOSYS) return -1;
    struct stat st;
    if (fstatat(dirfd, path, &st, flags) != 0) return -1;
    out->size = st.st_size;
    out->allocated = (int64_t)st.st_blocks * 512;
    out->inode = st.st_ino;
    out->mode = st.st_mode;
    out->has_birth = 0;
    out->birth_sec = 0;
    out->birth_nsec = 0;
    return 0;
}

int rdr_fstat(int fd, struct rdr_file_status *out) { return file_status(fd, "", AT_EMPTY_PATH, out); }

int rdr_stat_path(const char *path, int follow, struct rdr_file_status *out) {
    return file_status(AT_FDCWD, path, follow ? 0 : AT_SYMLINK_NOFOLLOW, out);
}

int rdr_flock(int fd, int operation) { return flock(fd, operation); }
int rdr_set_thread_name(const char *name) { return pthread_setname_np(pthread_self(), name); }
int rdr_advise_random(int fd, int random) { return posix_fadvise(fd, 0, 0, random ? POSIX_FADV_RANDOM : POSIX_FADV_SEQUENTIAL); }

int rdr_spawn_detached(const char *path, char *const argv[], int log_fd, int keep_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    if (posix_spawn_file_actions_init(&actions) != 0) return -errno;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, log_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
    posix_spawn_file_actions_adddup2(&actions, keep_fd, 3);
    // Nothing else crosses over: an inherited pipe would keep the caller's reader waiting
    // until the whole background resync ends.
    posix_spawn_file_actions_addclosefrom_np(&actions, 4);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, path, &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    return rc == 0 ? (int)pid : -rc;
}

int rdr_run_wait(char *const argv[], int out_fd) {
    posix_spawn_file_actions_t actions;
    if (posix_spawn_file_actions_init(&actions) != 0) return -errno;
    if (out_fd >= 0) {
        posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
        posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
    }
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return -rc;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -errno;
    }
    return status;
}

int rdr_spawn_action(const char *path, char *const argv[], char *const envp[], int out_fd, int err_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t all, none;
    if (posix_spawn_file_actions_init(&actions) != 0) return -errno;
    posix_spawnattr_init(&attr);
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
    // Output goes to files, never to a pipe: a daemon the action leaves behind keeps nothing of ours open.
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, path, &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    return rc == 0 ? (int)pid : -rc;
}

int rdr_spawn_action_in(const char *path, char *const argv[], char *const envp[], int out_fd, int err_fd, int sig,
                        const char *dir, int mask) {
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) return -errno;
    // The child reports a failed exec's errno here; a successful exec closes it (close-on-exec).
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) { int e = errno; close(devnull); return -e; }
    pid_t pid = fork();
    if (pid < 0) { int e = errno; close(devnull); close(report[0]); close(report[1]); return -e; }
    if (pid == 0) {
        // Only async-signal-safe calls between fork and exec.
        setpgid(0, 0);
        struct sigaction dfl;
        dfl.sa_handler = SIG_DFL;
        dfl.sa_flags = 0;
        sigemptyset(&dfl.sa_mask);
        for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        // A directory gone since the caller named it: the action runs where this process is.
        if (dir != NULL && chdir(dir) != 0) { /* keep going */ }
        if (mask >= 0) umask((mode_t)mask);
        dup2(devnull, 0);
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        dup2(report[1], 3);
        fcntl(3, F_SETFD, FD_CLOEXEC);
        close_range(4, ~0U, 0);
        if (sig != 0) raise(SIGSTOP);
        execve(path, argv, envp);
        int e = errno;
        (void)!write(3, &e, sizeof e);
        _exit(127);
    }
    close(devnull);
    close(report[1]);
    setpgid(pid, pid);  // also from this side: no window where the group does not exist yet
    if (sig != 0) {
        int status = 0;
        while (waitpid(pid, &status, WUNTRACED) < 0) {
            if (errno != EINTR) { close(report[0]); return -errno; }
        }
        if (WIFSTOPPED(status)) {
            kill(-pid, sig);
            kill(-pid, SIGCONT);
        }
    }
    int e = 0;
    ssize_t n;
    while ((n = read(report[0], &e, sizeof e)) < 0 && errno == EINTR) {}
    close(report[0]);
    if (n == (ssize_t)sizeof e) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        return -e;
    }
    return pid;
}

int rdr_child_ended(int pid) {
    siginfo_t info;
    for (;;) {
        info.si_pid = 0;
        if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0) return info.si_pid == pid ? 1 : 0;
        if (errno != EINTR) return -errno;
    }
}

int rdr_reap(int pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -errno;
    }
    return status;
}
