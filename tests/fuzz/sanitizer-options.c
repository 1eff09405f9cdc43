/*
 * tests/fuzz/sanitizer-options.c: the sanitizer settings of the
 * "make check-asan" build (tools/sanitize.sh), linked into every program
 * of that build through LIBS.
 *
 * They are compiled in, not passed in ASAN_OPTIONS, because the
 * end-to-end tests run spoolcgi as lighttpd's FastCGI backend, as
 * www-data, in an environment the test does not control.  Every report,
 * from any process (a backend, a detached supervisor, a unit test), goes
 * to SANITIZER_LOG_DIR/sanitizer.PID; tools/sanitize.sh fails the run
 * when it finds one.  The path is the same in both sets: the sanitizers
 * share one runtime, and the options read last set the common flags.  The first
 * error stops the process (halt_on_error; abort_on_error makes it a
 * signal its parent sees).  An ASAN_OPTIONS or UBSAN_OPTIONS in the
 * environment still overrides these.
 *
 * Build with -DSANITIZER_LOG_DIR='"/absolute/dir"' (world-writable).
 */
#ifndef SANITIZER_LOG_DIR
#error "compile with -DSANITIZER_LOG_DIR='\"/absolute/dir\"'"
#endif

#define SANITIZER_EXPORT \
	__attribute__((visibility("default"), used))

const char	*__asan_default_options(void);
const char	*__ubsan_default_options(void);
const char	*__lsan_default_options(void);

SANITIZER_EXPORT const char *
__asan_default_options(void)
{
	return "halt_on_error=1:abort_on_error=1:detect_leaks=1:"
	    "check_initialization_order=1:detect_stack_use_after_return=1:"
	    "strict_init_order=1:print_summary=1:"
	    "log_path=" SANITIZER_LOG_DIR "/sanitizer";
}

SANITIZER_EXPORT const char *
__ubsan_default_options(void)
{
	return "halt_on_error=1:abort_on_error=1:print_stacktrace=1:"
	    "print_summary=1:log_path=" SANITIZER_LOG_DIR "/sanitizer";
}

SANITIZER_EXPORT const char *
__lsan_default_options(void)
{
	return "print_suppressions=0";
}
