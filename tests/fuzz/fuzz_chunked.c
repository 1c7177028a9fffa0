/*
 * fuzz_chunked.c — libFuzzer target for the chunked decoder (src/http/chunked.c).
 *
 * Decodes the input in one call, then again one byte per call, then in pieces whose sizes come from a
 * generator seeded by the input, each piece in its own exact-size heap buffer (so ASan sees any read or
 * write past it). Checks: the decoded length never exceeds what was fed; decoded data plus the bytes after
 * the body never exceed the input, and those bytes are the input's tail; every way of splitting gives the
 * same result, the same data and the same rest as the single call.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/h1.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

struct outcome {
	enum sk_chunked_result r;
	uint8_t *data;
	size_t data_len;
	size_t rest; /* bytes of the input after the body (DONE only) */
};

/* Feeds data[0..size) in pieces; next_piece(state) gives each piece's size (>= 1). */
static void feed(const uint8_t *data, size_t size, uint64_t seed, size_t fixed, struct outcome *o)
{
	struct sk_h1_chunked d;
	sk_h1_chunked_init(&d);
	*o = (struct outcome){ .r = SK_CHUNKED_MORE, .data = malloc(size ? size : 1) };
	if (!o->data)
		abort();
	size_t off = 0;
	uint64_t x = seed | 1;
	while (off < size) {
		size_t k = fixed;
		if (k == 0) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* mostly small pieces, sometimes large ones */
			k = (x & 3) ? 1 + (size_t)(x >> 8) % 8 : 1 + (size_t)(x >> 8) % 512;
		}
		if (k > size - off)
			k = size - off;
		uint8_t *b = malloc(k);
		if (!b)
			abort();
		memcpy(b, data + off, k);
		size_t len = k, rest = 0;
		enum sk_chunked_result r = sk_h1_chunked_decode(&d, (char *)b, &len, &rest);
		CHECK(len <= k);
		CHECK(r == SK_CHUNKED_DONE || rest == 0);
		CHECK(o->data_len + len <= size);
		memcpy(o->data + o->data_len, b, len);
		o->data_len += len;
		o->r = r;
		if (r == SK_CHUNKED_DONE) {
			CHECK(len + rest <= k);
			/* the rest bytes were moved to follow the data and are the tail of this piece */
			CHECK(memcmp(b + len, data + off + k - rest, rest) == 0);
			o->rest = rest + (size - off - k);
		}
		free(b);
		if (r != SK_CHUNKED_MORE)
			return;
		off += k;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole, bytes, pieces;
	feed(data, size, 0, size ? size : 1, &whole);
	CHECK(whole.data_len <= size);
	CHECK(whole.r != SK_CHUNKED_DONE || whole.data_len + whole.rest <= size);

	uint64_t seed = 1469598103934665603ULL;
	for (size_t i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 1099511628211ULL;

	feed(data, size, 0, 1, &bytes);
	feed(data, size, seed, 0, &pieces);
	const struct outcome *split[] = { &bytes, &pieces };
	for (size_t i = 0; i < 2; i++) {
		const struct outcome *o = split[i];
		CHECK(o->r == whole.r);
		if (o->r == SK_CHUNKED_BAD)
			continue;
		CHECK(o->data_len == whole.data_len);
		CHECK(memcmp(o->data, whole.data, whole.data_len) == 0);
		if (o->r == SK_CHUNKED_DONE)
			CHECK(o->rest == whole.rest);
	}
	free(whole.data);
	free(bytes.data);
	free(pieces.data);
	return 0;
}
