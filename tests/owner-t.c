/*
 * sha256.c, owner.c and spoolown.c: the digests against published
 * vectors, owner tokens (made, checked, forged), the Cookie header, and an
 * owner's index in a spool of its own: newest first, pages, jobs that are
 * gone, and the clean-up.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"
#include "tap.h"

static void
hex(char *out, const unsigned char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* FIPS 180-4 examples and RFC 4231's test cases 1, 2 and 6. */
static void
test_digests(void)
{
	unsigned char	 md[SHA256_LEN], key[131];
	char		 h[2 * SHA256_LEN + 1], *big;
	size_t		 i;

	sha256("abc", 3, md);
	hex(h, md, sizeof(md));
	is_str(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f"
	    "20015ad", "SHA-256(\"abc\")");
	sha256("", 0, md);
	hex(h, md, sizeof(md));
	is_str(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7"
	    "852b855", "SHA-256(\"\")");
	sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	    md);
	hex(h, md, sizeof(md));
	is_str(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd41"
	    "9db06c1", "SHA-256 of 56 bytes (two blocks of padding)");
	if ((big = malloc(1000000)) == NULL)
		exit(1);
	memset(big, 'a', 1000000);
	sha256(big, 1000000, md);
	free(big);
	hex(h, md, sizeof(md));
	is_str(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc"
	    "7112cd0", "SHA-256 of a million 'a'");

	memset(key, 0x0b, 20);
	hmac_sha256(key, 20, "Hi There", 8, md);
	hex(h, md, sizeof(md));
	is_str(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2"
	    "e32cff7", "HMAC-SHA256, RFC 4231 case 1");
	hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, md);
	hex(h, md, sizeof(md));
	is_str(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b96"
	    "4ec3843", "HMAC-SHA256, RFC 4231 case 2");
	for (i = 0; i < sizeof(key); i++)
		key[i] = 0xaa;
	hmac_sha256(key, sizeof(key), "Test Using Larger Than Block-Size Key "
	    "- Hash Key First", 54, md);
	hex(h, md, sizeof(md));
	is_str(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0"
	    "ee37f54", "HMAC-SHA256, RFC 4231 case 6 (a long key)");
}

static void
test_tokens(void)
{
	unsigned char	 secret[STORE_SECRET_LEN], other[STORE_SECRET_LEN];
	unsigned char	 rnd[16];
	char		 tok[OWNER_TOKEN_LEN + 1], bad[OWNER_TOKEN_LEN + 1];
	char		 h1[SPOOLCGI_OWNER_LEN + 1], h2[SPOOLCGI_OWNER_LEN + 1];
	size_t		 i;

	memset(secret, 7, sizeof(secret));
	memset(other, 8, sizeof(other));
	memset(rnd, 0x5a, sizeof(rnd));
	owner_token_make(secret, rnd, tok);
	is_int(strlen(tok), OWNER_TOKEN_LEN, "a token is 64 characters");
	ok(strspn(tok, "0123456789abcdef") == OWNER_TOKEN_LEN,
	    "a token is lower-case hex");
	ok(owner_token_check(secret, tok, strlen(tok)), "a token checks");
	ok(!owner_token_check(other, tok, strlen(tok)),
	    "under another secret it does not");
	memcpy(bad, tok, sizeof(bad));
	bad[0] = bad[0] == 'a' ? 'b' : 'a';
	ok(!owner_token_check(secret, bad, strlen(bad)),
	    "its random half changed: refused");
	memcpy(bad, tok, sizeof(bad));
	bad[63] = bad[63] == '0' ? '1' : '0';
	ok(!owner_token_check(secret, bad, strlen(bad)),
	    "its MAC half changed: refused");
	memcpy(bad, tok, sizeof(bad));
	for (i = 0; i < OWNER_TOKEN_LEN; i++)
		bad[i] = (char)toupper((unsigned char)bad[i]);
	ok(!owner_token_check(secret, bad, strlen(bad)), "upper case refused");
	ok(!owner_token_check(secret, tok, 63), "short refused");
	ok(!owner_token_check(secret, "../../etc/passwd", 16),
	    "a path refused");
	ok(!owner_token_check(secret, NULL, 0), "NULL refused");

	owner_hash("user", "alice", 5, h1);
	owner_hash("user", "alice", 5, h2);
	is_str(h1, h2, "an owner's hash is stable");
	is_int(strlen(h1), SPOOLCGI_OWNER_LEN, "32 hex digits");
	owner_hash("token", "alice", 5, h2);
	ok(strcmp(h1, h2) != 0, "a token and a user of the same text differ");
	owner_hash("user", "alicf", 5, h2);
	ok(strcmp(h1, h2) != 0, "two users differ");
}

static void
test_cookies(void)
{
	char	 v[65];

	is_int(owner_cookie_find("a=1; spoolcgi_owner=xyz; b=2",
	    "spoolcgi_owner", v, sizeof(v)), 1, "found among others");
	is_str(v, "xyz", "its value");
	is_int(owner_cookie_find("spoolcgi_owner=first;spoolcgi_owner=second",
	    "spoolcgi_owner", v, sizeof(v)), 1, "two of the name");
	is_str(v, "first", "the first counts");
	is_int(owner_cookie_find("xspoolcgi_owner=1; spoolcgi_ownerx=2",
	    "spoolcgi_owner", v, sizeof(v)), 0, "longer names are others");
	is_int(owner_cookie_find(NULL, "spoolcgi_owner", v, sizeof(v)), 0,
	    "no header");
	is_int(owner_cookie_find("spoolcgi_owner=", "spoolcgi_owner", v,
	    sizeof(v)), 1, "an empty value is found");
	is_str(v, "", "and is empty");
	is_int(owner_cookie_find("spoolcgi_owner=0123456789012345678901234567"
	    "89012345678901234567890123456789extra", "spoolcgi_owner", v,
	    sizeof(v)), -1, "too long: -1");
}

/* A job of owner in store s, as store_submit makes it. */
static void
submit(struct store *s, const char *owner, char *id)
{
	struct jobstatus	 st;
	int			 fd;

	memset(&st, 0, sizeof(st));
	job_id_new(st.id);
	snprintf(st.task, sizeof(st.task), "t");
	snprintf(st.owner, sizeof(st.owner), "%s", owner);
	st.state = JOB_QUEUED;
	st.progress = -1;
	st.created_at = time(NULL);
	if ((fd = store_stage(s, st.id)) == -1)
		exit(1);
	close(fd);
	if (store_submit(s, &st, "{}\n", 3, 1000, "", 0, NULL, NULL, NULL) !=
	    STORE_OK)
		exit(1);
	memcpy(id, st.id, SPOOLCGI_ID_LEN + 1);
}

static void
test_index(void)
{
	struct jobstatus	 out[8];
	struct gcstats		 gs;
	struct store		*s;
	unsigned char		 k1[STORE_SECRET_LEN], k2[STORE_SECRET_LEN];
	char			 root[] = "/tmp/owner-t.XXXXXX", path[300];
	char			 a[SPOOLCGI_OWNER_LEN + 1], b[SPOOLCGI_OWNER_LEN + 1];
	char			 ids[5][SPOOLCGI_ID_LEN + 1], next[128];
	char			 next2[128], cmd[400], bid[SPOOLCGI_ID_LEN + 1];
	struct stat		 sb;
	size_t			 n, i;
	int			 lfd;

	if (mkdtemp(root) == NULL)
		exit(1);
	snprintf(path, sizeof(path), "%s/spool", root);
	if ((s = store_open(path)) == NULL)
		exit(1);
	ok(store_secret(s, k1, 0) == -1, "no secret until one is asked to "
	    "be made");
	snprintf(path, sizeof(path), "%s/spool/secret", root);
	ok(stat(path, &sb) == -1, "and none was made");
	ok(store_secret(s, k1, 1) == 0 && store_secret(s, k2, 0) == 0 &&
	    memcmp(k1, k2, sizeof(k1)) == 0, "the secret is made once, kept");
	snprintf(path, sizeof(path), "%s/spool/secret", root);
	ok(stat(path, &sb) == 0 && (sb.st_mode & 077) == 0 &&
	    sb.st_size == STORE_SECRET_LEN, "secret: 32 bytes, 0600");

	owner_hash("user", "a", 1, a);
	owner_hash("user", "b", 1, b);
	for (i = 0; i < 5; i++)
		submit(s, a, ids[i]);
	submit(s, b, bid);	/* b's one job */
	is_int(store_owner_list(s, a, NULL, 8, out, &n, next, sizeof(next)),
	    STORE_OK, "a's list");
	is_int(n, 5, "a has 5 jobs");
	ok(n == 5 && strcmp(out[0].id, ids[4]) == 0 &&
	    strcmp(out[4].id, ids[0]) == 0, "newest first");
	is_str(next, "", "one page: no next");
	is_int(store_owner_list(s, b, NULL, 8, out, &n, next, sizeof(next)),
	    STORE_OK, "b's list");
	ok(n == 1 && strcmp(out[0].owner, b) == 0, "b sees its one job only");

	is_int(store_owner_list(s, a, NULL, 2, out, &n, next, sizeof(next)),
	    STORE_OK, "a page of 2");
	ok(n == 2 && strcmp(out[0].id, ids[4]) == 0 &&
	    strcmp(out[1].id, ids[3]) == 0 && next[0] != '\0',
	    "the two newest, and a cursor");
	is_int(store_owner_list(s, a, next, 2, out, &n, next2, sizeof(next2)),
	    STORE_OK, "the next page");
	ok(n == 2 && strcmp(out[0].id, ids[2]) == 0 &&
	    strcmp(out[1].id, ids[1]) == 0, "the next two");
	is_int(store_owner_list(s, a, next2, 2, out, &n, next, sizeof(next)),
	    STORE_OK, "the last page");
	ok(n == 1 && strcmp(out[0].id, ids[0]) == 0 && next[0] == '\0',
	    "the oldest, and no cursor");
	is_int(store_owner_list(s, a, "../../etc", 2, out, &n, next,
	    sizeof(next)), STORE_NOENT, "a cursor not of this store: NOENT");
	owner_hash("user", "nobody", 6, b);
	is_int(store_owner_list(s, b, NULL, 8, out, &n, next, sizeof(next)),
	    STORE_OK, "an owner with no jobs");
	is_int(n, 0, "has an empty list");
	snprintf(path, sizeof(path), "%s/spool/owners/%s", root, b);
	ok(stat(path, &sb) == -1, "and nothing was made for it");

	/* A start refused (the queue full) leaves no entry, no directory. */
	{
		struct jobstatus	 st;
		char			 c[SPOOLCGI_OWNER_LEN + 1];
		int			 fd;

		memset(&st, 0, sizeof(st));
		job_id_new(st.id);
		snprintf(st.task, sizeof(st.task), "t");
		owner_hash("user", "refused", 7, c);
		memcpy(st.owner, c, sizeof(st.owner));
		st.progress = -1;
		if ((fd = store_stage(s, st.id)) == -1)
			exit(1);
		close(fd);
		is_int(store_submit(s, &st, "{}\n", 3, 0, "", 0, NULL, NULL, NULL),
		    STORE_FULL, "a start into a full queue: STORE_FULL");
		snprintf(path, sizeof(path), "%s/spool/owners/%s", root, c);
		ok(stat(path, &sb) == -1, "its owner's directory is not left");
	}

	/* A removed job leaves the list at once, its entry at the clean-up. */
	is_int(store_remove(s, ids[2], 0), 0, "remove one of a's jobs");
	store_owner_list(s, a, NULL, 8, out, &n, next, sizeof(next));
	is_int(n, 4, "the list skips it");
	if ((lfd = store_gc_begin(s, time(NULL))) == -1)
		exit(1);
	memset(&gs, 0, sizeof(gs));
	store_gc_end(s, lfd, 3600, time(NULL), &gs);
	snprintf(cmd, sizeof(cmd), "test $(ls '%s/spool/owners/%s' | wc -l) "
	    "= 4", root, a);
	is_int(system(cmd), 0, "the clean-up took its entry");
	for (i = 0; i < 5; i++)
		if (i != 2)
			store_remove(s, ids[i], 0);
	if ((lfd = store_gc_begin(s, time(NULL))) == -1)
		exit(1);
	store_gc_end(s, lfd, 3600, time(NULL), &gs);
	snprintf(path, sizeof(path), "%s/spool/owners/%s", root, a);
	ok(stat(path, &sb) == -1, "an owner left with none is removed");

	store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	(void)system(cmd);
}

/* The names keys are kept under: per presented owner, or not. */
static void
test_key_scope(void)
{
	struct owner	 o;
	char		 out[OWNER_KEY_MAX + 1], k[OWNER_KEY_LEN + 1];

	memset(&o, 0, sizeof(o));
	owner_hash("user", "alice", 5, o.hash);
	o.kind = OWNER_USER;
	owner_key_scope(&o, 1, "order-1", out);
	ok(strlen(out) == SPOOLCGI_OWNER_LEN + 8 &&
	    strncmp(out, o.hash, SPOOLCGI_OWNER_LEN) == 0 &&
	    strcmp(out + SPOOLCGI_OWNER_LEN, "~order-1") == 0,
	    "a signed-in user's Idempotency-Key: HASH~KEY");
	o.kind = OWNER_TOKEN;
	owner_key_scope(&o, 1, "order-1", out);
	ok(strncmp(out, o.hash, SPOOLCGI_OWNER_LEN) == 0,
	    "a valid cookie's: scoped to it");
	snprintf(o.token, sizeof(o.token), "%0*d", OWNER_TOKEN_LEN, 0);
	owner_key_scope(&o, 1, "order-1", out);
	is_str(out, "order-1", "a cookie given out with this very start is "
	    "no identity the request presented: unscoped");
	memset(&o, 0, sizeof(o));
	o.kind = OWNER_NONE;
	owner_key_scope(&o, 1, "order-1", out);
	is_str(out, "order-1", "no owner: the scope of every anonymous key");
	o.kind = OWNER_USER;
	owner_hash("user", "alice", 5, o.hash);
	owner_key_scope(&o, 0, "2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11", out);
	is_str(out, "~2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11",
	    "a form's token: a scope of its own, whoever posts it");
	owner_key_scope(&o, 1, "", out);
	is_str(out, "", "no key: none");
	memset(k, 'x', OWNER_KEY_LEN);
	k[OWNER_KEY_LEN] = '\0';
	owner_key_scope(&o, 1, k, out);
	ok(strlen(out) == OWNER_KEY_MAX && strcmp(out + SPOOLCGI_OWNER_LEN +
	    1, k) == 0, "the longest key, scoped, fits whole");
}

int
main(void)
{
	test_digests();
	test_tokens();
	test_cookies();
	test_index();
	test_key_scope();
	return tap_done();
}
