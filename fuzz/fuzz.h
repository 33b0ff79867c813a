/*
 * Shared by the libFuzzer harnesses (fuzz/README.md).  Every harness is
 * linked with -Wl,--wrap=fatalx and -Wl,--wrap=mono_ms: a fatalx() the
 * harness expects (a matcher fed a broken contract) unwinds to it, any
 * other is a finding, and the clock is the harness's, so a run depends on
 * its input alone.
 */

#ifndef DR_FUZZ_H
#define DR_FUZZ_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* util.c */
extern uint64_t	 fuzz_now;		/* what mono_ms() answers */
extern jmp_buf	*fuzz_fatal_jmp;	/* set: fatalx() longjmps there */
extern char	 fuzz_fatal_msg[256];	/* what that fatalx() said */

uint64_t __wrap_mono_ms(void);
__attribute__((__noreturn__))
void	 __wrap_fatalx(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
/* An invariant broke: say which and abort, so libFuzzer keeps the input. */
__attribute__((__noreturn__))
void	 fuzz_fail(const char *, int, const char *, ...)
	    __attribute__((__format__ (printf, 3, 4)));

#define FUZZ_CHECK(cond, ...) do {					\
	if (!(cond))							\
		fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);		\
} while (0)

#endif /* DR_FUZZ_H */
