/*
 * libpq, loaded when first used.  Linking libpq would make every exec of
 * the binary map it and the twenty-odd libraries it needs (TLS, Kerberos,
 * LDAP): the file spool execs a supervisor per job, and that mapping
 * alone cut the starts per second of a site with no "database" by more
 * than half.  So the binary links none of them; the first libpq call of
 * a process that uses PostgreSQL opens libpq.so.5 (the soname Debian's
 * libpq5 has had since PostgreSQL 8.x) and looks up the few functions
 * pg.c calls.  The prototypes are libpq-fe.h's own, so the compiler
 * checks each stand-in against the library's declaration.
 */
#include "config.h"

#if defined(HAVE_LIBPQ) && !defined(SPOOLCGI_WITHOUT_LIBPQ)

#include <dlfcn.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "extern.h"

#define PQ_SONAME	"libpq.so.5"

#define PQ_FUNCS(X) \
	X(PQclear) X(PQgetvalue) X(PQntuples) X(PQerrorMessage) \
	X(PQstatus) X(PQexec) X(PQresultStatus) X(PQgetisnull) \
	X(PQexecParams) X(PQresultErrorMessage) X(PQgetlength) \
	X(PQfreemem) X(PQfinish) X(PQconninfoFree) X(PQtransactionStatus) \
	X(PQsocket) X(PQsetNoticeProcessor) X(PQreset) X(PQnotifies) \
	X(PQconsumeInput) X(PQconninfoParse) X(PQconnectdbParams) \
	X(lo_close) X(lo_unlink) X(lo_open) X(lo_write) X(lo_read) \
	X(lo_creat) X(PQsetnonblocking) X(PQsendQueryParams) X(PQflush) \
	X(PQisBusy) X(PQgetResult) X(PQresetStart) X(PQresetPoll) \
	X(PQprepare) X(PQexecPrepared) X(PQresultErrorField)

/* One pointer per function, typed from libpq-fe.h's declaration. */
static struct {
#define PQ_MEMBER(f)	__typeof__(&f) f;
	PQ_FUNCS(PQ_MEMBER)
#undef PQ_MEMBER
} pq;

static int	 pq_state;	/* 0 not tried, 1 loaded, -1 failed */

/*
 * Open libpq and find every function, once per process.  Returns 0, or
 * -1 (logged once, naming the library and what to install).
 */
static int
pq_load(void)
{
	void	*h;

	if (pq_state != 0)
		return pq_state == 1 ? 0 : -1;
	pq_state = -1;
	if ((h = dlopen(PQ_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		log_warnx("%s cannot be loaded (%s): the PostgreSQL store "
		    "needs it; install libpq5", PQ_SONAME, dlerror());
		return -1;
	}
#define PQ_LOOKUP(f) \
	if ((*(void **)&pq.f = dlsym(h, #f)) == NULL) { \
		log_warnx("%s has no %s: install libpq5 from PostgreSQL " \
		    "10 or newer", PQ_SONAME, #f); \
		return -1; \
	}
	PQ_FUNCS(PQ_LOOKUP)
#undef PQ_LOOKUP
	pq_state = 1;
	return 0;
}

/*
 * The stand-ins.  Those that create something (a parsed string, a
 * connection) load libpq and fail as libpq itself would when it cannot
 * be loaded; the others are only ever given what those returned, so
 * libpq is loaded when they run.
 */
PQconninfoOption *
PQconninfoParse(const char *conninfo, char **errmsg)
{
	if (errmsg != NULL)
		*errmsg = NULL;
	if (pq_load() == -1)
		return NULL;
	return pq.PQconninfoParse(conninfo, errmsg);
}

PGconn *
PQconnectdbParams(const char *const *kw, const char *const *val, int expand)
{
	if (pq_load() == -1)
		return NULL;
	return pq.PQconnectdbParams(kw, val, expand);
}

void
PQfreemem(void *p)
{
	if (p != NULL && pq_load() == 0)
		pq.PQfreemem(p);
}

void
PQclear(PGresult *r)
{
	if (r != NULL && pq_load() == 0)
		pq.PQclear(r);
}

void
PQfinish(PGconn *c)
{
	if (c != NULL && pq_load() == 0)
		pq.PQfinish(c);
}

void
PQconninfoFree(PQconninfoOption *o)
{
	if (o != NULL && pq_load() == 0)
		pq.PQconninfoFree(o);
}

ConnStatusType
PQstatus(const PGconn *c)
{
	return c != NULL && pq_load() == 0 ? pq.PQstatus(c) : CONNECTION_BAD;
}

char *
PQerrorMessage(const PGconn *c)
{
	return c != NULL && pq_load() == 0 ? pq.PQerrorMessage(c) :
	    (char *)"libpq is not loaded\n";
}

ExecStatusType
PQresultStatus(const PGresult *r)
{
	return r != NULL && pq_load() == 0 ? pq.PQresultStatus(r) :
	    PGRES_FATAL_ERROR;
}

char *
PQresultErrorMessage(const PGresult *r)
{
	return r != NULL && pq_load() == 0 ? pq.PQresultErrorMessage(r) :
	    (char *)"";
}

PGTransactionStatusType
PQtransactionStatus(const PGconn *c)
{
	return c != NULL && pq_load() == 0 ? pq.PQtransactionStatus(c) :
	    PQTRANS_UNKNOWN;
}

int
PQsocket(const PGconn *c)
{
	return c != NULL && pq_load() == 0 ? pq.PQsocket(c) : -1;
}

/* Given a connection or a result: loaded (see above). */
PGresult *
PQexec(PGconn *c, const char *q)
{
	return pq_load() == 0 ? pq.PQexec(c, q) : NULL;
}

PGresult *
PQexecParams(PGconn *c, const char *q, int n, const Oid *types,
    const char *const *values, const int *lengths, const int *formats,
    int resultformat)
{
	return pq_load() == 0 ? pq.PQexecParams(c, q, n, types, values,
	    lengths, formats, resultformat) : NULL;
}

PGresult *
PQprepare(PGconn *c, const char *name, const char *q, int n,
    const Oid *types)
{
	return pq_load() == 0 ? pq.PQprepare(c, name, q, n, types) : NULL;
}

PGresult *
PQexecPrepared(PGconn *c, const char *name, int n,
    const char *const *values, const int *lengths, const int *formats,
    int resultformat)
{
	return pq_load() == 0 ? pq.PQexecPrepared(c, name, n, values,
	    lengths, formats, resultformat) : NULL;
}

char *
PQresultErrorField(const PGresult *r, int field)
{
	return r != NULL && pq_load() == 0 ? pq.PQresultErrorField(r, field) :
	    NULL;
}

int
PQntuples(const PGresult *r)
{
	return pq_load() == 0 ? pq.PQntuples(r) : 0;
}

char *
PQgetvalue(const PGresult *r, int row, int col)
{
	return pq_load() == 0 ? pq.PQgetvalue(r, row, col) : NULL;
}

int
PQgetisnull(const PGresult *r, int row, int col)
{
	return pq_load() == 0 ? pq.PQgetisnull(r, row, col) : 1;
}

int
PQgetlength(const PGresult *r, int row, int col)
{
	return pq_load() == 0 ? pq.PQgetlength(r, row, col) : 0;
}

PQnoticeProcessor
PQsetNoticeProcessor(PGconn *c, PQnoticeProcessor proc, void *arg)
{
	return pq_load() == 0 ? pq.PQsetNoticeProcessor(c, proc, arg) : NULL;
}

void
PQreset(PGconn *c)
{
	if (pq_load() == 0)
		pq.PQreset(c);
}

PGnotify *
PQnotifies(PGconn *c)
{
	return pq_load() == 0 ? pq.PQnotifies(c) : NULL;
}

int
PQconsumeInput(PGconn *c)
{
	return pq_load() == 0 ? pq.PQconsumeInput(c) : 0;
}

int
PQsetnonblocking(PGconn *c, int arg)
{
	return pq_load() == 0 ? pq.PQsetnonblocking(c, arg) : -1;
}

int
PQsendQueryParams(PGconn *c, const char *q, int n, const Oid *types,
    const char *const *values, const int *lengths, const int *formats,
    int resultformat)
{
	return pq_load() == 0 ? pq.PQsendQueryParams(c, q, n, types, values,
	    lengths, formats, resultformat) : 0;
}

int
PQflush(PGconn *c)
{
	return pq_load() == 0 ? pq.PQflush(c) : -1;
}

int
PQisBusy(PGconn *c)
{
	return pq_load() == 0 ? pq.PQisBusy(c) : 0;
}

PGresult *
PQgetResult(PGconn *c)
{
	return pq_load() == 0 ? pq.PQgetResult(c) : NULL;
}

int
PQresetStart(PGconn *c)
{
	return pq_load() == 0 ? pq.PQresetStart(c) : 0;
}

PostgresPollingStatusType
PQresetPoll(PGconn *c)
{
	return pq_load() == 0 ? pq.PQresetPoll(c) : PGRES_POLLING_FAILED;
}

int
lo_open(PGconn *c, Oid oid, int mode)
{
	return pq_load() == 0 ? pq.lo_open(c, oid, mode) : -1;
}

int
lo_close(PGconn *c, int fd)
{
	return pq_load() == 0 ? pq.lo_close(c, fd) : -1;
}

int
lo_read(PGconn *c, int fd, char *buf, size_t len)
{
	return pq_load() == 0 ? pq.lo_read(c, fd, buf, len) : -1;
}

int
lo_write(PGconn *c, int fd, const char *buf, size_t len)
{
	return pq_load() == 0 ? pq.lo_write(c, fd, buf, len) : -1;
}

Oid
lo_creat(PGconn *c, int mode)
{
	return pq_load() == 0 ? pq.lo_creat(c, mode) : InvalidOid;
}

int
lo_unlink(PGconn *c, Oid oid)
{
	return pq_load() == 0 ? pq.lo_unlink(c, oid) : -1;
}

#endif /* HAVE_LIBPQ */
