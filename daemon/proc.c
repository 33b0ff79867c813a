/*
 * Privilege separation: the unprivileged user is looked up by the parent
 * while /etc is still reachable; each child then chroots to an empty,
 * root-owned directory and drops to that user, every step checked.
 */

#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "devrouletted.h"

static uid_t	 proc_uid;
static gid_t	 proc_gid;
static int	 proc_privileged;
static struct ipc_peer *proc_logpeer;

/* The empty root: created if missing, refused if anyone else could write. */
static void
proc_chroot_check(const char *dir)
{
	struct stat	 sb;

	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		fatal("%s: mkdir %s", __func__, dir);
	if (lstat(dir, &sb) == -1)
		fatal("%s: %s", __func__, dir);
	if (!S_ISDIR(sb.st_mode) || sb.st_uid != 0 ||
	    (sb.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		fatalx("%s: %s must be a directory owned by root and "
		    "writable by nobody else", __func__, dir);
}

void
proc_user_init(const char *user)
{
	struct passwd	*pw;

	if (geteuid() != 0)
		return;
	if ((pw = getpwnam(user)) == NULL)
		fatalx("unprivileged user %s does not exist (see "
		    "devrouletted(8))", user);
	if (pw->pw_uid == 0)
		fatalx("user %s must not be root", user);
	proc_uid = pw->pw_uid;
	proc_gid = pw->pw_gid;
	proc_privileged = 1;
	proc_chroot_check(DR_CHROOT);
}

void
proc_drop(void)
{
	uid_t	 r, e, s;

	if (!proc_privileged) {
		log_info("not started as root: running without chroot as "
		    "uid %u", (unsigned)getuid());
		return;
	}
	if (chroot(DR_CHROOT) == -1)
		fatal("chroot %s", DR_CHROOT);
	if (chdir("/") == -1)
		fatal("chdir /");
	if (setgroups(1, &proc_gid) == -1)
		fatal("setgroups");
	if (setresgid(proc_gid, proc_gid, proc_gid) == -1)
		fatal("setresgid");
	if (setresuid(proc_uid, proc_uid, proc_uid) == -1)
		fatal("setresuid");
	if (getresuid(&r, &e, &s) == -1 || r != proc_uid || e != proc_uid ||
	    s != proc_uid || setuid(0) != -1)
		fatalx("privileges were not dropped");
	log_debug("chrooted to %s as uid %u", DR_CHROOT, (unsigned)proc_uid);
}

/*
 * Children log through the parent: a sandboxed process can neither open
 * syslog's socket nor be trusted to format for the terminal.
 */
static void
proc_log_sink(int pri, const char *msg)
{
	int32_t	 p = pri;
	size_t	 len = strlen(msg);

	if (len > IPC_LOG_MAX)
		len = IPC_LOG_MAX;
	ipc_sendv(proc_logpeer, IMSG_LOG, 0, &p, sizeof(p), msg, len);
	/* A record may be the last words before exit: do not lose it. */
	if (pri <= LOG_CRIT)
		ipc_flush(proc_logpeer);
}

void
proc_log_to(struct ipc_peer *parent)
{
	proc_logpeer = parent;
	log_setsink(proc_log_sink);
}

/* The parent's side: one record from a child, logged as if its own. */
void
proc_log_record(const char *child, const uint8_t *data, size_t len)
{
	char	 text[IPC_LOG_MAX + 1];
	int32_t	 pri;
	size_t	 i;

	if (len < sizeof(pri) || len > sizeof(pri) + IPC_LOG_MAX)
		fatalx("%s: bad log record from %s (%zu bytes)", __func__,
		    child, len);
	memcpy(&pri, data, sizeof(pri));
	if (pri < 0 || pri > 7)
		fatalx("%s: bad log priority from %s", __func__, child);
	len -= sizeof(pri);
	memcpy(text, data + sizeof(pri), len);
	text[len] = '\0';
	/* The text cannot smuggle controls into a terminal or syslog. */
	for (i = 0; i < len; i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			text[i] = '?';
	log_record(pri, text);
}

/* Limits that hold even if the seccomp filter were absent. */
void
proc_limits(int nofiles)
{
	struct rlimit	 rl;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("%s: PR_SET_NO_NEW_PRIVS", __func__);
	rl.rlim_cur = rl.rlim_max = 0;
	if (setrlimit(RLIMIT_NPROC, &rl) == -1)
		fatal("%s: RLIMIT_NPROC", __func__);
	if (nofiles) {
#ifndef DR_SANITIZE
		/* ASan reports go to stderr, which may be a file. */
		if (setrlimit(RLIMIT_FSIZE, &rl) == -1)
			fatal("%s: RLIMIT_FSIZE", __func__);
#endif
	}
}
