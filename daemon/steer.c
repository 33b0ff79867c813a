/*
 * Steering for PREFORK (D43).  Left alone, the kernel picks a listening
 * socket of the SO_REUSEPORT group by a hash of the connection's ports and
 * addresses, so most connections land on a front that does not own the
 * client's address and are handed over.  A classic BPF program attached
 * to the group computes OWNER_OF() from the packet's source address
 * instead, so that a direct client lands on its owner at once.  It is an
 * optimisation only: the fronts check ownership themselves, so a proxy's
 * connections (whose address is in X-Forwarded-For), an unusual packet, or
 * a kernel without the option still work, through the handoff.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <linux/filter.h>

#include <stdint.h>
#include <string.h>

#include "devrouletted.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF	51
#endif

#define STEER_NONE	0xffffffffU	/* out of range: the kernel's choice */

/*
 * Socket i of the group is front i's: the parent binds and listens them
 * in order.  A returned index the group does not have means no choice.
 */
void
steer_attach(int fd, uint32_t mul, uint32_t n)
{
	struct sock_filter	 prog[] = {
		/* 0: the IP version, from the network header */
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + 0),
		BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 4, 0, 2),
		/* 3: IPv4, the source address */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 12),
		BPF_JUMP(BPF_JMP | BPF_JA, 5, 0, 0),
		/* 5: IPv6, the two words of the source /64 */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 8),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 8),
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 12),
		BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
		/* 10: OWNER_OF(A, mul, n) */
		BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, mul),
		BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
		BPF_STMT(BPF_RET | BPF_A, 0),
		/* 14: neither */
		BPF_STMT(BPF_RET | BPF_K, STEER_NONE),
	};
	struct sock_fprog	 fprog;

	if (n < 2)
		return;
	memset(&fprog, 0, sizeof(fprog));
	fprog.len = sizeof(prog) / sizeof(prog[0]);
	fprog.filter = prog;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fprog,
	    sizeof(fprog)) == -1)
		log_warn("SO_ATTACH_REUSEPORT_CBPF: connections will be "
		    "handed between fronts");
}
