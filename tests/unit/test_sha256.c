/* test_sha256.c: the FIPS 180-4 example vectors, and lengths around the block boundaries
 * against sha256sum. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "util/sha256.h"

static void hex(const uint8_t d[CG_SHA256_BYTES], char out[2 * CG_SHA256_BYTES + 1])
{
    for (size_t i = 0; i < CG_SHA256_BYTES; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void check(const char *msg, size_t len, const char *want)
{
    uint8_t d[CG_SHA256_BYTES];
    char got[2 * CG_SHA256_BYTES + 1];
    cg_sha256(msg, len, d);
    hex(d, got);
    cr_assert_str_eq(got, want, "length %zu", len);
}

Test(sha256, fips_examples)
{
    check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* 55, 56, 63, 64 and 65 bytes: one tail block, two, and a full block before the tail. */
Test(sha256, block_boundaries)
{
    static const char a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    check(a, 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    check(a, 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    check(a, 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34");
    check(a, 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
    check(a, 65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0");
}
