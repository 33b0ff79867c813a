/*
 * The hook points where each child gives up what it no longer needs.  Both
 * run after the child's event loop and IPC are set up, so lazy library
 * start-up is behind them.  The seccomp allowlists (libseccomp) belong here
 * too; until they land, each child has no new privileges and may not
 * create processes, and the matcher may not create files.
 */

#include "devrouletted.h"

void
sandbox_matcher(void)
{
	proc_limits(1);
}

void
sandbox_front(void)
{
	proc_limits(0);
}
