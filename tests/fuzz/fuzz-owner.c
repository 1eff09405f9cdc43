/*
 * tests/fuzz/fuzz-owner.c: owner_cookie_find() and owner_token_check()
 * (app/owner.c) on any Cookie header.
 *
 * The input is the header's value (NUL bytes end it, as they would a
 * request variable).  A cookie that is found fits its buffer, is
 * terminated, holds no ';' and stands in the header after "NAME=".  A
 * value that passes the token check is 64 lower-case hex digits and is
 * exactly the token made from its own random half: nothing else is ever
 * taken for a token this server issued.  Its owner hash is 32 hex digits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char	 secret[STORE_SECRET_LEN] = { 1, 2, 3 };
	unsigned char			 rnd[16];
	char				*h, *val, made[OWNER_TOKEN_LEN + 1];
	char				 hash[SPOOLCGI_OWNER_LEN + 1];
	size_t				 sz = 1 + size % (OWNER_TOKEN_LEN + 8), i;
	int				 rc;

	h = fuzz_strndup(data, size);
	if ((val = malloc(sz)) == NULL)
		abort();
	rc = owner_cookie_find(h, OWNER_COOKIE, val, sz);
	FUZZ_CHECK(rc >= -1 && rc <= 1);
	if (rc == 1) {
		FUZZ_CHECK(memchr(val, '\0', sz) != NULL);
		FUZZ_CHECK(strchr(val, ';') == NULL);
		FUZZ_CHECK(strstr(h, OWNER_COOKIE "=") != NULL);
		if (owner_token_check(secret, val, strlen(val))) {
			FUZZ_CHECK(strlen(val) == OWNER_TOKEN_LEN);
			FUZZ_CHECK(strspn(val, "0123456789abcdef") ==
			    OWNER_TOKEN_LEN);
			for (i = 0; i < sizeof(rnd); i++)
				rnd[i] = (unsigned char)strtoul((char []){
				    val[2 * i], val[2 * i + 1], '\0' }, NULL,
				    16);
			owner_token_make(secret, rnd, made);
			FUZZ_CHECK(strcmp(made, val) == 0);
		}
	}
	/* The whole input as a token, and as a user's name. */
	(void)owner_token_check(secret, h, strlen(h));
	owner_hash("user", h, strlen(h), hash);
	FUZZ_CHECK(strlen(hash) == SPOOLCGI_OWNER_LEN &&
	    strspn(hash, "0123456789abcdef") == SPOOLCGI_OWNER_LEN);
	free(val);
	free(h);
	return 0;
}
