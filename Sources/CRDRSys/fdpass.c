// Descriptor passing for the owner's control socket (SCM_RIGHTS, SO_PEERCRED): the CMSG_*
// macros and struct ucred are not visible to Swift.
#define _GNU_SOURCE
#include "CRDRSys.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RDR_MAX_PASSED_FDS 8

int64_t rdr_send_with_fds(int sock, const void *buf, uint64_t len, const int *fds, int nfds) {
    if (nfds < 0 || nfds > RDR_MAX_PASSED_FDS) return -EINVAL;
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    union { char bytes[CMSG_SPACE(sizeof(int) * RDR_MAX_PASSED_FDS)]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds > 0) {
        msg.msg_control = control.bytes;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    for (;;) {
        ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno != EINTR) return -errno;
    }
}

int64_t rdr_recv_with_fds(int sock, void *buf, uint64_t len, int *fds, int maxfds, int *nfds) {
    *nfds = 0;
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    union { char bytes[CMSG_SPACE(sizeof(int) * RDR_MAX_PASSED_FDS)]; struct cmsghdr align; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                          .msg_controllen = sizeof control.bytes };
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    int received = 0, overflow = (msg.msg_flags & MSG_CTRUNC) != 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *passed = (int *)CMSG_DATA(c);
        for (int i = 0; i < count; i++) {
            if (received < maxfds) fds[received++] = passed[i];
            else { close(passed[i]); overflow = 1; }
        }
    }
    *nfds = received;
    if (overflow) {
        for (int i = 0; i < received; i++) close(fds[i]);
        *nfds = 0;
        return -EBADMSG;
    }
    return n;
}

int rdr_peer_credentials(int sock, int *pid, unsigned *uid) {
    struct ucred cred;
    socklen_t size = sizeof cred;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) return -errno;
    *pid = cred.pid;
    *uid = cred.uid;
    return 0;
}
