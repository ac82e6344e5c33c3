/* SPDX-License-Identifier: MIT */
/* Runs a program under a seccomp filter that refuses system calls as a container's does:
 *
 *   seccomp_launch PROFILE PROGRAM [ARGS...]
 *
 * PROFILE names what is refused with EPERM, after Docker's default profile
 * (moby/profiles, seccomp/default_linux.go), which lets mbind, set_mempolicy and
 * get_mempolicy through only with CAP_SYS_NICE and names neither move_pages, migrate_pages
 * nor userfaultfd, so that its default action (EPERM) refuses them whatever the capabilities:
 *   docker           no CAP_SYS_NICE: the NUMA policy calls, page moves and userfaultfd;
 *   docker-sys-nice  --cap-add SYS_NICE: page moves and userfaultfd;
 *   no-moves         page moves only (a profile that allows userfaultfd), so that a tracker
 *                    runs and its migrations are refused;
 *   no-userfaultfd   the userfaultfd system call only (--cap-add SYS_NICE with a profile that
 *                    allows page moves, and /dev/userfaultfd given with --device).
 * The filter is installed with no_new_privs, as an unprivileged process may, then the
 * program is exec'd: it and its children keep it. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define AUDIT_ARCH_HERE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_HERE AUDIT_ARCH_AARCH64
#else
#error "seccomp_launch: add this architecture's AUDIT_ARCH"
#endif

#define REFUSE(nr)                                                                             \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),                                            \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))

static const struct sock_filter prologue[] = {
    /* Another architecture's calls (x32, i386 on x86_64) are not what the table numbers. */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_HERE, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
};
static const struct sock_filter policy_calls[] = {
    REFUSE(__NR_mbind),
    REFUSE(__NR_set_mempolicy),
    REFUSE(__NR_get_mempolicy),
    REFUSE(__NR_set_mempolicy_home_node),
};
static const struct sock_filter moves[] = {
    REFUSE(__NR_move_pages),
    REFUSE(__NR_migrate_pages),
};
static const struct sock_filter uffd[] = {
    REFUSE(__NR_userfaultfd),
};
static const struct sock_filter epilogue[] = {
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

struct part {
    const struct sock_filter *code;
    size_t n;
};
#define PART(array) {array, sizeof array / sizeof array[0]}

static const struct {
    const char *name;
    struct part refused[3];
} profiles[] = {
    {"docker", {PART(policy_calls), PART(moves), PART(uffd)}},
    {"docker-sys-nice", {PART(moves), PART(uffd)}},
    {"no-moves", {PART(moves)}},
    {"no-userfaultfd", {PART(uffd)}},
};

static int install(const struct part *refused)
{
    struct sock_filter code[64];
    size_t n = 0;
    memcpy(code, prologue, sizeof prologue);
    n += sizeof prologue / sizeof prologue[0];
    for (int i = 0; i < 3 && refused[i].code; i++) {
        memcpy(code + n, refused[i].code, refused[i].n * sizeof code[0]);
        n += refused[i].n;
    }
    memcpy(code + n, epilogue, sizeof epilogue);
    n += sizeof epilogue / sizeof epilogue[0];
    struct sock_fprog program = {.len = (unsigned short)n, .filter = code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return errno;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0)
        return errno;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fputs("usage: seccomp_launch docker|docker-sys-nice|no-moves PROGRAM [ARGS...]\n", stderr);
        return 2;
    }
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++) {
        if (strcmp(argv[1], profiles[i].name))
            continue;
        int err = install(profiles[i].refused);
        if (err) {
            fprintf(stderr, "seccomp_launch: cannot install the filter: %s\n", strerror(err));
            return 125;
        }
        execvp(argv[2], argv + 2);
        fprintf(stderr, "seccomp_launch: %s: %s\n", argv[2], strerror(errno));
        return 127;
    }
    fprintf(stderr, "seccomp_launch: no profile %s\n", argv[1]);
    return 2;
}
