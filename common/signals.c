#include "signals.h"

#include <string.h>
#include <unistd.h>

volatile sig_atomic_t vg_stop_requested;
volatile sig_atomic_t vg_reload_requested;

static void on_stop(int sig)
{
    if (vg_stop_requested)
        _exit(128 + sig);
    vg_stop_requested = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    vg_reload_requested = 1;
}

void vg_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}
