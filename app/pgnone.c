/*
 * The static binary's stand-in for pg.c: pg.c built without libpq,
 * whose archive would need static OpenSSL, Kerberos and LDAP too
 * (configure.ac).  Linked before app/libspoolcgi.a, so that the
 * library's pg.o (nor worker.o, which calls it, nor spoolpg.o) is never
 * pulled in; it defines what main.c and spool.c call.
 */
#define SPOOLCGI_WITHOUT_LIBPQ	1
#include "pg.c"
#include "worker.c"
#include "spoolpg.c"
