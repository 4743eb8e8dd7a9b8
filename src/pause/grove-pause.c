/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * grove-pause: the process of a pod's infra container. It holds the pod's namespaces,
 * reaps the orphans that the pod's PID namespace hands to it as PID 1, and ends with
 * status 0 on SIGTERM or SIGINT. Plain C without GLib, so it links statically into a
 * tiny rootfs.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

/* signals that would end or stop an ordinary process; the pod's holder must ignore them */
static const int ignored_signals[]
    = { SIGHUP,  SIGQUIT,   SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGTSTP, SIGTTIN,
        SIGTTOU, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGIO,   SIGPWR };

static void
reap_children (void)
{
  for (;;)
    {
      pid_t pid = waitpid (-1, NULL, WNOHANG);

      if (pid > 0)
        continue;
      if (pid < 0 && errno == EINTR)
        continue;
      /* 0: children remain, none has ended; ECHILD: no children at all */
      return;
    }
}

static int
usage (const char *argv0)
{
  fprintf (stderr, "usage: %s [-v]\n", argv0);
  return 2;
}

/*
 * The signals we act on stay blocked and are taken with sigwaitinfo(): no handler runs,
 * so there is no race between checking and sleeping. Blocked signals are also queued
 * for a PID namespace's init even when they come from outside it.
 */
static int
wait_for_signals (const sigset_t *set)
{
  /* children that ended before SIGCHLD was blocked */
  reap_children ();
  for (;;)
    {
      int sig = sigwaitinfo (set, NULL);

      if (sig == SIGTERM || sig == SIGINT)
        return 0;
      if (sig == SIGCHLD)
        reap_children ();
    }
}

int
main (int argc, char **argv)
{
  struct sigaction ignore;
  sigset_t set;

  if (argc == 2 && strcmp (argv[1], "-v") == 0)
    {
      printf ("grove-pause %s\n", PACKAGE_VERSION);
      return 0;
    }
  if (argc != 1)
    return usage (argv[0]);

  sigemptyset (&set);
  sigaddset (&set, SIGCHLD);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  if (sigprocmask (SIG_BLOCK, &set, NULL) < 0)
    {
      perror ("grove-pause: sigprocmask");
      return 1;
    }
  /* after the block, so a caller that sees SIGHUP ignored knows SIGTERM is handled */
  memset (&ignore, 0, sizeof ignore);
  ignore.sa_handler = SIG_IGN;
  for (size_t i = 0; i < sizeof ignored_signals / sizeof ignored_signals[0]; i++)
    sigaction (ignored_signals[i], &ignore, NULL);
  return wait_for_signals (&set);
}
