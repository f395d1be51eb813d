// LD_PRELOADed into a server run under valgrind by scripts/bench-instructions.
//
// Swift's async main parks the main thread in libdispatch's `_dispatch_sigsuspend`, which passes
// a `static const sigset_t` to sigsuspend(2). Valgrind 3.19 rewrites the mask it is given in
// place (to keep its own signals deliverable) and dies with SIGSEGV writing to that read-only
// page. This sigsuspend copies the mask to the stack first; nothing else changes.
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, _NSIG / 8);
}
