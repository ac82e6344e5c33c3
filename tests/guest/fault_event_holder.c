/* SPDX-License-Identifier: MIT */
/* fault_event_holder: started by the guest's /init before the job, it keeps a software page-fault
 * event open on itself until the guest powers off.
 *
 * The first such event in the system turns on a static branch in the kernel's page-fault handler
 * (and, as a per-task event, the scheduler's perf hooks), and the last one closed turns it off:
 * each patches the kernel's code through an int3. Under TCG a CPU faulting at that moment may run
 * the int3 after the patch is done, and the kernel oopses ("Oops: int3" in do_user_addr_fault,
 * mid-job, when the library opened or closed its fault samplers while another thread faulted).
 * With this event held the count never falls to zero, so the library's samplers patch no code.
 * Packed static into the initramfs by initramfs.sh.
 *
 * It returns once the event is open (0) or could not be (1, with the reason on stderr); a child
 * holds the event from then on. */
#include <linux/perf_event.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    int opened[2];
    if (pipe(opened) != 0) {
        perror("fault_event_holder: pipe");
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("fault_event_holder: fork");
        return 1;
    }
    if (child > 0) {
        char byte;
        close(opened[1]);
        return read(opened[0], &byte, 1) == 1 ? 0 : 1;
    }
    close(opened[0]);
    struct perf_event_attr attr = {.type = PERF_TYPE_SOFTWARE,
                                   .size = sizeof attr,
                                   .config = PERF_COUNT_SW_PAGE_FAULTS,
                                   .exclude_kernel = 1,
                                   .exclude_hv = 1};
    if (syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0) < 0) {
        perror("fault_event_holder: perf_event_open");
        return 1;
    }
    if (write(opened[1], "", 1) != 1)
        return 1;
    close(opened[1]);
    for (;;)
        pause();
}
