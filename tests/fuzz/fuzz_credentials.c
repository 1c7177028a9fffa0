/*
 * fuzz_credentials.c — Basic / Bearer / X-Api-Key reading on hostile request heads. The input is parsed
 * as a request head first (so headers look like real ones); then credentials are read with every
 * combination of accepted kinds. Invariants: the result's slices stay inside their buffers, a Basic
 * user is never empty, and decoding never exceeds SK_CRED_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "access/credentials.h"
#include "http/h1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	struct sk_http_field headers[100];
	struct sk_http_request req;
	if (sk_h1_parse_request(buf, size, NULL, &req, headers, 100) == SK_H1_DONE) {
		for (int mode = 1; mode < 4; mode++) {
			struct sk_cred c;
			sk_cred_read(&req, mode & 1, mode & 2, &c);
			if (c.kind == SK_CRED_BASIC) {
				if (c.user.len == 0 || c.user.ptr < c.buf ||
				    c.password.ptr + c.password.len > c.buf + sizeof(c.buf))
					abort();
			}
			if (c.kind == SK_CRED_TOKEN && (c.token.ptr < buf || c.token.ptr + c.token.len > buf + size))
				abort();
		}
	}
	/* The decoder alone, on the raw input. */
	char out[SK_CRED_MAX];
	ssize_t n = sk_base64_decode((const char *)data, size, out, sizeof(out));
	if (n > (ssize_t)sizeof(out))
		abort();
	free(buf);
	return 0;
}
